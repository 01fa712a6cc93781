"""Which misconceptions a learner holds (quizzes/misconceptions.py), and how the learner is told."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from quizzes.misconceptions import (
    Evidence,
    belief_markdown,
    beliefs,
    beliefs_of,
    open_misconceptions_for,
)
from quizzes.models import Certainty, PracticeAnswer
from quizzes.services import (
    record_answer,
    record_explanation,
    record_practice_answer,
    start_attempt,
    submit_attempt,
)
from tests.factories import make_learner, make_topic
from tests.quizzes.factories import make_misconception, make_prompt, make_tagged_question, make_wrong_claim

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
LEARNER, BELIEF, OTHER_BELIEF, QUESTION = 1, 10, 11, 100


def at(minutes: int) -> str:
    """A moment as the reads give it: the database's text, which sorts as time."""
    return (T0 + dt.timedelta(minutes=minutes)).isoformat(sep=" ")


def wrong(minutes: int, certainty: str = Certainty.HIGH, *, belief: int = BELIEF) -> Evidence:
    return Evidence(LEARNER, belief, at(minutes), certainty, question_id=QUESTION)


def cleared_at(minutes: int, *, belief: int = BELIEF, learner: int = LEARNER) -> dict:
    """The latest high-certainty right answer on a question testing `belief`."""
    return {(learner, belief): at(minutes)}


# --- The rule on plain rows -------------------------------------------------------------------


def test_a_tagged_wrong_answer_opens_the_misconception_weighted_by_its_certainty():
    for certainty, weight in [(Certainty.HIGH, 3), (Certainty.MEDIUM, 2), (Certainty.LOW, 1), ("", 2)]:
        found = beliefs([wrong(0, certainty)], {}).open

        assert list(found) == [(LEARNER, BELIEF)]
        assert found[(LEARNER, BELIEF)].weight == weight, certainty


def test_the_most_confident_evidence_sets_the_weight():
    found = beliefs([wrong(0, Certainty.LOW), wrong(5, Certainty.HIGH), wrong(9, Certainty.LOW)], {})

    holding = found.open[(LEARNER, BELIEF)]
    assert holding.weight == 3
    assert len(holding.evidence) == 3
    assert holding.last_seen_at == T0 + dt.timedelta(minutes=9)


def test_a_high_certainty_right_answer_after_the_evidence_clears_it():
    found = beliefs([wrong(0)], cleared_at(10))

    assert found.open == {}
    holding, when = found.cleared[(LEARNER, BELIEF)]
    assert when == at(10)
    assert holding.weight == 3


def test_a_right_answer_before_the_last_evidence_or_at_the_same_moment_does_not_clear_it():
    assert (LEARNER, BELIEF) in beliefs([wrong(0), wrong(20)], cleared_at(10)).open
    assert (LEARNER, BELIEF) in beliefs([wrong(10)], cleared_at(10)).open


def test_evidence_after_a_clearing_opens_it_again_with_only_the_new_evidence():
    found = beliefs([wrong(0, Certainty.HIGH), wrong(30, Certainty.LOW)], cleared_at(10))

    holding = found.open[(LEARNER, BELIEF)]
    assert holding.weight == 1, "the confident answer before the clearing no longer counts"
    assert found.cleared == {}


def test_a_clearing_clears_only_its_own_learner_and_misconception():
    evidence = [wrong(0), wrong(0, belief=OTHER_BELIEF)]

    assert set(beliefs(evidence, cleared_at(10, belief=OTHER_BELIEF)).open) == {(LEARNER, BELIEF)}
    assert len(beliefs(evidence, cleared_at(10, learner=2)).open) == 2


def test_the_belief_reads_as_a_sentence_whatever_its_first_word():
    assert (
        belief_markdown("The broker stores results.") == "You may be thinking that the broker stores results."
    )
    assert belief_markdown("PENDING means the task is queued.") == (
        "You may be thinking that PENDING means the task is queued."
    )
    assert belief_markdown("`get()` returns None.") == "You may be thinking that `get()` returns None."
    assert belief_markdown("Celery keeps results for ever.").endswith("that Celery keeps results for ever.")


# --- Read from the learner's answers ----------------------------------------------------------


@pytest.fixture
def tagged(db):
    """A topic with two questions testing one misconception (option B of each)."""
    topic = make_topic()
    misconception = make_misconception(
        "pending-means-queued", statement="PENDING means the task is queued.", lab_slug="success"
    )
    first = make_tagged_question(topic, misconception, slug="first-q")
    second = make_tagged_question(topic, misconception, slug="second-q")
    return misconception, first, second


def practise(question, learner, key: str, certainty: str) -> PracticeAnswer:
    return record_practice_answer(
        question, learner=learner, options=[question.options.get(key=key)], certainty=certainty
    )


def test_a_practice_answer_choosing_a_tagged_option_opens_it_and_a_confident_right_answer_clears_it(tagged):
    misconception, first, second = tagged
    learner = make_learner()
    practise(first, learner, "B", Certainty.HIGH)

    [row] = open_misconceptions_for(learner)
    assert row.named.misconception == misconception
    assert row.holding.weight == 3
    assert row.practice_url == f"/topics/{first.topic.slug}/practice/?q=first-q"

    practise(second, learner, "A", Certainty.MEDIUM)
    assert len(open_misconceptions_for(learner)) == 1, "a right answer at medium certainty is not enough"

    practise(second, learner, "A", Certainty.HIGH)
    assert open_misconceptions_for(learner) == []


def test_only_submitted_tests_count(tagged):
    misconception, first, second = tagged
    learner = make_learner()
    attempt = start_attempt(first.topic, learner=learner)
    for item in attempt.items.select_related("question"):
        record_answer(item, options=[item.question.options.get(key="B")])

    assert beliefs_of([learner.pk]).open == {}

    submit_attempt(attempt)
    holding = beliefs_of([learner.pk]).open[(learner.pk, misconception.pk)]
    assert {each.question_id for each in holding.evidence} == {first.pk, second.pk}
    assert holding.weight == 2, "answers without a stated certainty weigh as medium"


def test_an_explain_answer_making_a_tagged_wrong_claim_is_evidence(tagged):
    misconception, first, _ = tagged
    learner = make_learner()
    prompt = make_prompt(first.topic)
    make_wrong_claim(prompt, misconception=misconception)
    record_explanation(
        prompt,
        learner=learner,
        text="The worker runs the task. Then the broker stores the result in Redis.",
        concepts=list(prompt.concepts.all()),
        wrong_claims=list(prompt.wrong_claims.all()),
    )
    record_explanation(
        prompt,
        learner=make_learner(),
        text="The worker writes the result to the result backend.",
        concepts=list(prompt.concepts.all()),
        wrong_claims=list(prompt.wrong_claims.all()),
    )

    [holding] = beliefs_of([learner.pk]).open.values()
    assert holding.misconception_id == misconception.pk
    assert holding.evidence[0].prompt_id == prompt.pk
    assert holding.weight == 2, "an explain answer states no certainty"
    assert len(beliefs_of(get_user_model().objects.values("pk")).open) == 1, (
        "the right explanation shows nothing"
    )


def test_the_learners_rows_are_read_in_a_fixed_number_of_queries(tagged, django_assert_num_queries):
    misconception, first, second = tagged
    learner = make_learner()
    with django_assert_num_queries(3):
        assert open_misconceptions_for(learner) == []

    for _ in range(3):
        practise(first, learner, "B", Certainty.LOW)
        practise(second, learner, "B", Certainty.HIGH)

    # tagged options chosen (practice, tests), explain answers, latest clearings (practice,
    # tests), misconceptions, options to practise
    with django_assert_num_queries(7):
        rows = open_misconceptions_for(learner)
    assert len(rows) == 1
    assert timezone.now() - rows[0].holding.last_seen_at < dt.timedelta(minutes=1)


# --- What the learner is told -----------------------------------------------------------------


def test_a_wrong_practice_answer_names_the_belief_refutes_it_and_links_the_lab(client, learner, tagged):
    misconception, first, _ = tagged

    response = client.post(
        f"/topics/{first.topic.slug}/practice/",
        {"question": "first-q", "options": ["B"], "certainty": "high"},
        follow=True,
    )

    page = response.content.decode()
    assert "You may be thinking that PENDING means the task is queued." in page
    assert "The result backend stores results." in page, "the refuting claim"
    assert 'href="/lab/success/"' in page


def test_a_right_practice_answer_names_no_belief(client, learner, tagged):
    _, first, _ = tagged

    response = client.post(
        f"/topics/{first.topic.slug}/practice/",
        {"question": "first-q", "options": ["A"], "certainty": "high"},
        follow=True,
    )

    assert "You may be thinking" not in response.content.decode()


def test_the_result_page_names_the_belief_under_each_wrong_answer_that_showed_it(client, learner, tagged):
    misconception, first, second = tagged
    attempt = start_attempt(first.topic, learner=learner)
    for item in attempt.items.select_related("question"):
        key = "B" if item.question == first else "A"
        record_answer(item, options=[item.question.options.get(key=key)])
    submit_attempt(attempt)

    page = client.get(f"/attempts/{attempt.pk}/").content.decode()

    assert page.count("You may be thinking that PENDING means the task is queued.") == 1


def test_the_dashboard_lists_an_open_misconception_until_a_confident_right_answer_clears_it(
    client, learner, tagged
):
    misconception, first, second = tagged
    practise(first, learner, "B", Certainty.HIGH)

    page = client.get("/dashboard/").content.decode()
    assert 'Beliefs to check <span class="count">(1)</span>' in page
    assert "You may be thinking that PENDING means the task is queued." in page
    assert f'href="/topics/{first.topic.slug}/practice/?q=first-q"' in page

    practise(second, learner, "A", Certainty.HIGH)

    page = client.get("/dashboard/").content.decode()
    assert "You may be thinking" not in page
    assert 'Beliefs to check <span class="count">(0)</span>' in page


def test_another_learners_misconceptions_are_not_on_my_dashboard(client, learner, tagged):
    _, first, _ = tagged
    practise(first, make_learner(), "B", Certainty.HIGH)

    assert "You may be thinking" not in client.get("/dashboard/").content.decode()
