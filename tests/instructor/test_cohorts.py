"""Creating cohorts and joining them with a link or a code."""

import pytest

from instructor.models import Cohort, Membership
from tests.factories import make_learner
from tests.instructor.factories import make_cohort, make_instructor

pytestmark = pytest.mark.django_db


def test_an_instructor_creates_a_cohort_and_sees_its_join_link(client, instructor):
    response = client.post("/instructor/", {"name": "Autumn 2026"})

    cohort = Cohort.objects.get(owner=instructor)
    assert response.status_code == 302
    assert response["Location"] == f"/instructor/cohorts/{cohort.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert f"http://testserver/join/{cohort.join_code}/" in page
    assert len(cohort.join_code) == 8


def test_a_cohort_needs_a_name(client, instructor):
    response = client.post("/instructor/", {"name": "  "})

    assert "Give the cohort a name." in response.content.decode()
    assert not Cohort.objects.exists()


def test_an_instructor_cannot_reuse_one_of_their_cohort_names(client, instructor):
    make_cohort(instructor, name="Autumn 2026")

    response = client.post("/instructor/", {"name": "autumn 2026"})

    assert "You already have a cohort called “autumn 2026”" in response.content.decode()
    assert Cohort.objects.count() == 1


def test_two_instructors_may_use_the_same_name(client, instructor):
    make_cohort(make_instructor(), name="Autumn 2026")

    client.post("/instructor/", {"name": "Autumn 2026"})

    assert Cohort.objects.filter(name="Autumn 2026").count() == 2


def test_my_cohorts_lists_only_mine_with_their_learner_counts(client, instructor):
    make_cohort(instructor, name="Mine", learners=[make_learner(), make_learner()])
    make_cohort(make_instructor(), name="Theirs")

    page = client.get("/instructor/").content.decode()

    assert "Mine" in page
    assert "2 learners" in page
    assert "Theirs" not in page


def test_a_learner_joins_with_the_link_once_even_when_posting_twice(client):
    cohort = make_cohort(name="Autumn 2026")
    learner = make_learner()
    client.force_login(learner)

    page = client.get(f"/join/{cohort.join_code}/").content.decode()
    assert "Join “Autumn 2026”?" in page
    client.post(f"/join/{cohort.join_code}/")
    response = client.post(f"/join/{cohort.join_code}/")

    assert Membership.objects.filter(cohort=cohort, learner=learner).count() == 1
    assert "You are in “Autumn 2026”" in client.get(response["Location"]).content.decode()


def test_a_learner_may_belong_to_several_cohorts(client):
    first, second = make_cohort(name="First"), make_cohort(name="Second")
    learner = make_learner()
    client.force_login(learner)

    client.post(f"/join/{first.join_code}/")
    client.post(f"/join/{second.join_code.lower()}/")

    assert set(learner.joined_cohorts.values_list("name", flat=True)) == {"First", "Second"}


def test_an_unknown_join_code_is_404(client):
    client.force_login(make_learner())

    assert client.get("/join/NOPE2345/").status_code == 404


def test_joining_needs_an_account_and_comes_back_after_logging_in(client):
    cohort = make_cohort()

    response = client.get(f"/join/{cohort.join_code}/")

    assert response["Location"] == f"/accounts/login/?next=/join/{cohort.join_code}/"


def test_the_join_form_takes_a_typed_code_and_explains_a_wrong_one(client):
    cohort = make_cohort()
    client.force_login(make_learner())

    wrong = client.post("/join/", {"code": "ZZZZ2222"})
    right = client.post("/join/", {"code": f" {cohort.join_code.lower()} "})

    assert "No cohort has the code “ZZZZ2222”" in wrong.content.decode()
    assert right["Location"] == f"/join/{cohort.join_code}/"
