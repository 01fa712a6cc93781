"""Who may open instructor pages: instructors their own cohorts, nobody else."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from learn.models import INSTRUCTORS_GROUP
from learn.queries import is_instructor
from tests.factories import make_learner
from tests.instructor.factories import make_cohort, make_instructor

pytestmark = pytest.mark.django_db


def cohort_urls(cohort, learner) -> list[str]:
    base = f"/instructor/cohorts/{cohort.pk}/"
    return [
        base,
        f"{base}learners/{learner.pk}/",
        f"{base}items/",
        f"{base}grades.csv",
        f"{base}items.csv",
        f"{base}misconceptions/",
        f"{base}misconceptions.csv",
    ]


def test_the_instructors_group_exists_after_migrating_so_the_admin_can_offer_it():
    assert Group.objects.filter(name=INSTRUCTORS_GROUP).exists()


def test_grant_instructor_gives_the_role_and_says_so():
    user = make_learner("ada")
    out = StringIO()

    call_command("grant_instructor", "ada", stdout=out)

    assert is_instructor(user)
    assert "ada is now an instructor" in out.getvalue()


def test_grant_instructor_twice_says_nothing_changed():
    make_instructor("ada")
    out = StringIO()

    call_command("grant_instructor", "ada", stdout=out)

    assert "already an instructor" in out.getvalue()


def test_grant_instructor_names_an_unknown_user_and_what_to_do():
    with pytest.raises(CommandError, match=r"No account is called 'nobody'.*create the account first"):
        call_command("grant_instructor", "nobody")


def test_staff_are_instructors_without_the_group():
    staff = make_learner()
    staff.is_staff = True
    staff.save()

    assert is_instructor(staff)
    assert not is_instructor(make_learner())


def test_an_anonymous_visitor_is_sent_to_log_in_from_every_instructor_page(client):
    learner = make_learner()
    cohort = make_cohort(learners=[learner])

    for url in ["/instructor/", *cohort_urls(cohort, learner)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next=/instructor/"), url


def test_a_learner_gets_403_with_an_explanation_on_every_instructor_page(client):
    learner = make_learner("ada")
    cohort = make_cohort(learners=[learner])
    client.force_login(learner)

    for url in ["/instructor/", *cohort_urls(cohort, learner)]:
        response = client.get(url)
        assert response.status_code == 403, url
        assert "grant_instructor ada" in response.content.decode(), url


def test_another_instructor_gets_404_for_a_cohort_and_its_reports(client):
    learner = make_learner()
    cohort = make_cohort(make_instructor("owner"), name="The owner's cohort", learners=[learner])
    client.force_login(make_instructor("other"))

    for url in cohort_urls(cohort, learner):
        assert client.get(url).status_code == 404, url
    assert "owner&#x27;s cohort" not in client.get("/instructor/").content.decode()


def test_a_learner_outside_the_cohort_gets_404_on_the_drill_down(client, instructor):
    cohort = make_cohort(instructor, learners=[make_learner()])
    outsider = make_learner()

    assert client.get(f"/instructor/cohorts/{cohort.pk}/learners/{outsider.pk}/").status_code == 404


def test_the_navigation_links_the_instructor_pages_for_instructors_only(client, instructor):
    client.get("/instructor/")

    assert 'href="/instructor/">Instructor</a>' in client.get("/dashboard/").content.decode()
    client.force_login(make_learner())
    assert 'href="/instructor/">Instructor</a>' not in client.get("/dashboard/").content.decode()


def test_an_instructor_sees_the_instructor_link_right_after_logging_in(client):
    make_instructor("teacher")
    from django.contrib.auth.models import User

    teacher = User.objects.get(username="teacher")
    teacher.set_password("a-long-password-1")
    teacher.save()

    client.post("/accounts/login/", {"username": "teacher", "password": "a-long-password-1"})

    assert 'href="/instructor/">Instructor</a>' in client.get("/dashboard/").content.decode()
