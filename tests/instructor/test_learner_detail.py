"""One learner's report: timeline, every test with the answers given, card retention, lab runs."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from learn.services import rate_card
from live_lab.models import LabRun
from quizzes.services import start_attempt
from tests.factories import make_learner
from tests.instructor.factories import answer_test, make_abc_topic, make_cohort
from tests.learn.card_factories import make_flashcard

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada_in_cohort(instructor):
    topic, questions = make_abc_topic(2, title="Result backends")
    ada = make_learner("ada")
    answer_test(topic, ada, {questions[0]: "A", questions[1]: "C"})
    start_attempt(topic, learner=ada)  # a second test, still open
    card = make_flashcard(topic, front="What stores task states?")
    week_ago = timezone.now() - dt.timedelta(days=7)
    rate_card(ada, flashcard=card, rating=3, reviews_seen=0, now=week_ago)
    rate_card(ada, flashcard=card, rating=1, reviews_seen=1, now=week_ago + dt.timedelta(days=2))
    LabRun.objects.create(
        owner=ada,
        experiment="failure",
        task_id=str(uuid.uuid4()),
        prediction=["PENDING", "FAILURE"],
        is_prediction_right=True,
        status=LabRun.Status.FINISHED,
    )
    cohort = make_cohort(instructor, learners=[ada])
    return cohort, ada


def test_every_test_is_listed_with_the_answers_given(client, ada_in_cohort):
    cohort, ada = ada_in_cohort

    page = client.get(f"/instructor/cohorts/{cohort.pk}/learners/{ada.pk}/").content.decode()

    assert 'Tests <span class="count">(2)</span>' in page
    assert "<strong>1/2</strong> (50 %)" in page
    assert "in progress, started" in page
    assert "<strong>C</strong> Also wrong" in page  # the wrong answer ada gave
    assert '<span class="tag tag-missed">wrong</span>' in page
    assert '<span class="tag tag-correct">right</span>' in page


def test_flashcard_retention_shows_ratings_lapses_and_recall(client, ada_in_cohort):
    cohort, ada = ada_in_cohort

    page = client.get(f"/instructor/cohorts/{cohort.pk}/learners/{ada.pk}/").content.decode()

    assert "Result backends: 1 card rated" in page
    # Two ratings: Good, then Again. The second is a lapse: recalled on 0 % of later reviews.
    assert "recalled on 0 % of later reviews" in page
    assert "<td>What stores task states?</td>\n          <td>2</td>\n          <td>1</td>" in page


def test_the_timeline_and_lab_runs_show_what_the_learner_did(client, ada_in_cohort):
    cohort, ada = ada_in_cohort

    page = client.get(f"/instructor/cohorts/{cohort.pk}/learners/{ada.pk}/").content.decode()

    assert "Submitted a test: 1/2, needs work: Result backends" in page
    assert "Started a test: Result backends" in page
    assert "Rated 1 card: Result backends" in page
    assert "Lab run failure: prediction right" in page
    assert "PENDING → FAILURE" in page
    assert page.index("Started a test") < page.index("Rated 1 card"), "newest first"


def test_the_drill_down_runs_a_fixed_number_of_queries(client, ada_in_cohort, django_assert_num_queries):
    cohort, ada = ada_in_cohort
    url = f"/instructor/cohorts/{cohort.pk}/learners/{ada.pk}/"
    client.get(url)

    # session, user, role, cohort, membership, mastery, attempts + items + options + chosen,
    # card states, lab runs, timeline ratings, practice, explain, the navigation's due count,
    # the misconceptions' evidence (tagged options chosen, explain answers with wrong claims)
    with django_assert_num_queries(19):
        client.get(url)
