"""Test data for the instructor pages: instructors, cohorts, and tests answered option by option."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from instructor.services import create_cohort, grant_instructor, join_cohort
from learn.models import Topic
from quizzes.models import Attempt, Option, Question
from quizzes.services import record_answer, start_attempt, submit_attempt
from tests.factories import make_learner, make_question, make_topic


def make_instructor(username: str | None = None):
    user = make_learner(username)
    grant_instructor(user)
    return user


def make_cohort(owner=None, *, name: str = "Tuesday group", learners=()):
    cohort = create_cohort(owner=owner or make_instructor(), name=name)
    for learner in learners:
        join_cohort(cohort, learner=learner)
    return cohort


def make_abc_topic(count: int, **topic_fields) -> tuple[Topic, list[Question]]:
    """A topic with `count` easy questions, each with A (right), B and C (wrong)."""
    topic = make_topic(**topic_fields)
    questions = []
    for number in range(1, count + 1):
        question = make_question(
            topic, slug=f"{topic.slug}-q{number}", stem=f"Question {number}?", source_line=10 * number
        )
        Option.objects.create(question=question, key="C", text="Also wrong", is_correct=False, position=2)
        questions.append(question)
    return topic, questions


def answer_test(
    topic: Topic,
    learner,
    answers: dict[Question, str | None],
    certainties: dict[Question, str] | None = None,
    *,
    certainty: str = "",
) -> Attempt:
    """Start a test on `topic` (which must have at most 10 questions, so all are drawn), answer
    each question with the option key given (None leaves it unanswered) and the certainty given
    in `certainties`, else `certainty` ("": as before certainty-based marking), and submit it."""
    attempt = start_attempt(topic, learner=learner)
    certainties = certainties or {}
    for item in attempt.items.select_related("question"):
        key = answers.get(item.question)
        if key is not None:
            option = item.question.options.get(key=key)
            record_answer(item, options=[option], certainty=certainties.get(item.question, certainty))
    submit_attempt(attempt)
    attempt.refresh_from_db()
    return attempt


def query_counts(client, url_of, cohorts) -> list[int]:
    """How many queries the page `url_of(cohort)` runs, for each cohort (the page must be 200)."""
    client.get("/instructor/")  # the first instructor page also notes the role in the session
    counts = []
    for cohort in cohorts:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url_of(cohort)).status_code == 200
        counts.append(len(queries.captured_queries))
    return counts
