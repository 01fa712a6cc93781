"""seed_demo: a realistic cohort for demos and the benchmark."""

import itertools
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from instructor.misconception_map import misconception_map
from instructor.models import Cohort
from learn.models import CardReviewLog
from learn.queries import is_instructor
from live_lab.models import LabRun
from quizzes.models import Attempt, AttemptQuestion, Option
from tests.learn.card_factories import make_flashcard
from tests.quizzes.factories import make_misconception, make_topic_with_questions

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_a_cohort_with_tests_reviews_and_lab_runs():
    topic = make_topic_with_questions()
    for _ in range(3):
        make_flashcard(topic)
    out = StringIO()

    call_command("seed_demo", "--learners", "3", "--seed", "1", stdout=out)

    cohort = Cohort.objects.get()
    assert cohort.name == "Demo cohort 1"
    assert is_instructor(cohort.owner)
    assert cohort.memberships.count() == 3
    attempts = Attempt.objects.filter(learner__cohort_memberships__cohort=cohort)
    assert attempts.filter(status="submitted", score__isnull=False).count() == 30
    assert AttemptQuestion.objects.filter(attempt__in=attempts).count() == 300
    assert attempts.filter(started_at__lt=timezone.now() - timezone.timedelta(hours=1)).count() == 30, (
        "the simulated times, not the time of seeding"
    )
    assert CardReviewLog.objects.exists()
    assert LabRun.objects.filter(status="finished").count() == LabRun.objects.count()
    assert f"/instructor/cohorts/{cohort.pk}/" in out.getvalue()
    assert "3 learners, 30 tests" in out.getvalue()


def test_seed_demo_twice_makes_a_second_cohort():
    make_topic_with_questions()

    call_command("seed_demo", "--learners", "1", stdout=StringIO())
    call_command("seed_demo", "--learners", "1", stdout=StringIO())

    assert sorted(Cohort.objects.values_list("name", flat=True)) == ["Demo cohort 1", "Demo cohort 2"]


def test_seed_demo_without_content_says_to_sync_it_first():
    with pytest.raises(CommandError, match="run `python manage.py content sync` first"):
        call_command("seed_demo", "--learners", "2")


def test_seed_demo_refuses_zero_learners():
    with pytest.raises(CommandError, match="--learners"):
        call_command("seed_demo", "--learners", "0")


def test_seed_demo_states_a_certainty_with_every_answer_and_plants_beliefs_that_top_the_map(client):
    # Two topics whose wrong options (B and C of every question) are tagged round-robin with ten
    # misconceptions: each is tagged on five or six questions, so none has more chances to show.
    beliefs = [make_misconception(f"belief-{n:02d}") for n in range(10)]
    tags = itertools.cycle(beliefs)
    for _ in range(2):
        topic = make_topic_with_questions()
        for question in topic.questions.all():
            Option.objects.create(question=question, key="C", text="Also wrong", is_correct=False, position=2)
            for key in "BC":
                question.options.filter(key=key).update(misconception=next(tags))
    out = StringIO()

    call_command("seed_demo", "--learners", "120", "--seed", "3", stdout=out)

    cohort = Cohort.objects.get()
    answered = AttemptQuestion.objects.filter(attempt__learner__cohort_memberships__cohort=cohort).exclude(
        answered_at=None
    )
    assert not answered.filter(certainty="").exists()
    assert answered.filter(certainty="high", is_correct=False).exists(), "some are confidently wrong"
    # belief-00 and -01 are tagged on six questions, the others on five: ties go by id.
    planted = ["belief-00", "belief-01", "belief-02"]
    assert f"Planted misconceptions, for the misconception map: {planted[0]} (" in out.getvalue()

    found = misconception_map(cohort)

    assert {row.misconception.slug for row in found.rows[:3]} == set(planted)
    background = found.rows[3:]
    assert found.rows[2].weighted > background[0].weighted
    confident_share = [row.confident / row.learners for row in found.rows]
    assert min(confident_share[:3]) > 0.5 > max(confident_share[3:]), "believers are sure of themselves"
    client.force_login(cohort.owner)
    page = client.get(f"/instructor/cohorts/{cohort.pk}/misconceptions/").content.decode()
    shown = [part.split('"', 1)[0] for part in page.split('<tr id="misconception-')[1:]]
    assert shown == [row.misconception.slug for row in found.rows]
