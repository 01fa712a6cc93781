"""Item analysis checked against figures worked out by hand on tiny cohorts."""

import datetime as dt

import pytest
from django.utils import timezone

from instructor.item_analysis import ItemStats, item_analysis
from quizzes.models import Attempt, AttemptQuestion
from tests.factories import make_learner, make_question
from tests.instructor.factories import answer_test, make_abc_topic, make_cohort, query_counts

pytestmark = pytest.mark.django_db

# Six learners, five questions (A is the right option of each), one test each.
#
#            Q1  Q2  Q3  Q4  Q5   score
#   L1       A   A   A   A   A    5
#   L2       A   A   A   B   A    4
#   L3       A   A   B   C   A    3
#   L4       A   B   C   A   A    3
#   L5       B   C   B   A   A    2
#   L6       B   B   B   B   A    1
#
# n = 6 learners took the topic's test, g = max(1, round(0.27 × 6)) = round(1.62) = 2.
# Upper group: L1 (5), L2 (4). Lower group: L6 (1), L5 (2). (L3 and L4 are in neither.)
ANSWERS = {
    "L1": "AAAAA",
    "L2": "AAABA",
    "L3": "AABCA",
    "L4": "ABCAA",
    "L5": "BCBAA",
    "L6": "BBBBA",
}


@pytest.fixture
def six_learners():
    topic, questions = make_abc_topic(5)
    learners = {name: make_learner(name) for name in ANSWERS}
    for name, keys in ANSWERS.items():
        answer_test(topic, learners[name], dict(zip(questions, keys, strict=True)))
    cohort = make_cohort(learners=learners.values())
    stats = {item.question.slug: item for item in item_analysis(cohort)}
    return cohort, [stats[question.slug] for question in questions]


def option_counts(item: ItemStats) -> dict[str, int]:
    return {option.key: option.chosen_count for option in item.options}


def test_the_facility_index_is_the_share_of_correct_responses(six_learners):
    _, (q1, q2, q3, q4, q5) = six_learners

    assert (q1.correct, q1.responses) == (4, 6)  # L1-L4 chose A
    assert q1.facility == pytest.approx(4 / 6)  # 0.667
    assert q2.facility == pytest.approx(3 / 6)  # L1, L2, L3
    assert q3.facility == pytest.approx(2 / 6)  # L1, L2
    assert q4.facility == pytest.approx(3 / 6)  # L1, L4, L5
    assert q5.facility == pytest.approx(6 / 6)  # everybody


def test_the_discrimination_index_is_upper_minus_lower_27_percent(six_learners):
    _, (q1, q2, q3, q4, q5) = six_learners

    # Q1: upper L1 A ✓, L2 A ✓ → 2/2 = 1; lower L6 B ✗, L5 B ✗ → 0/2 = 0; D = 1 − 0 = 1.
    assert (q1.upper_correct, q1.upper_responses, q1.lower_correct, q1.lower_responses) == (2, 2, 0, 2)
    assert q1.discrimination == pytest.approx(1.0)
    # Q2: upper 2/2; lower L6 B ✗, L5 C ✗ → 0/2; D = 1.
    assert q2.discrimination == pytest.approx(1.0)
    # Q3: upper 2/2; lower 0/2; D = 1.
    assert q3.discrimination == pytest.approx(1.0)
    # Q4: upper L1 ✓, L2 B ✗ → 1/2; lower L6 B ✗, L5 A ✓ → 1/2; D = 0.5 − 0.5 = 0.
    assert (q4.upper_correct, q4.lower_correct) == (1, 1)
    assert q4.discrimination == pytest.approx(0.0)
    # Q5: everyone right: D = 1 − 1 = 0.
    assert q5.discrimination == pytest.approx(0.0)


def test_each_options_choices_are_counted(six_learners):
    _, (q1, q2, q3, q4, q5) = six_learners

    assert option_counts(q1) == {"A": 4, "B": 2, "C": 0}  # L1-L4 A; L5, L6 B
    assert option_counts(q2) == {"A": 3, "B": 2, "C": 1}  # L1-L3 A; L4, L6 B; L5 C
    assert option_counts(q3) == {"A": 2, "B": 3, "C": 1}  # L1, L2 A; L3, L5, L6 B; L4 C
    assert option_counts(q4) == {"A": 3, "B": 2, "C": 1}  # L1, L4, L5 A; L2, L6 B; L3 C
    assert option_counts(q5) == {"A": 6, "B": 0, "C": 0}


def test_questions_are_flagged_by_the_stated_thresholds(six_learners):
    _, (q1, q2, q3, q4, q5) = six_learners

    assert q1.flags == q2.flags == q3.flags == []  # F 0.67, 0.5, 0.33; D = 1
    assert q4.flags == ["discrimination below 0.2: strong learners do no better"]  # D = 0
    assert q5.flags == [
        "facility above 0.95: too easy to tell anyone apart",  # F = 1
        "discrimination below 0.2: strong learners do no better",  # D = 0
    ]


def test_a_facility_below_0_3_is_flagged():
    # One right out of five: F = 0.2 < 0.3.
    topic, (question,) = make_abc_topic(1)
    learners = [make_learner() for _ in range(5)]
    for learner, key in zip(learners, "ABBCB", strict=True):
        answer_test(topic, learner, {question: key})

    (item,) = item_analysis(make_cohort(learners=learners))

    assert item.facility == pytest.approx(0.2)
    assert "facility below 0.3: too hard, or a wrong key?" in item.flags


def test_no_question_is_flagged_before_it_has_five_responses():
    # Four of four right: F = 1 > 0.95, but four responses are too few to judge the question.
    topic, (question,) = make_abc_topic(1)
    learners = [make_learner() for _ in range(4)]
    for learner in learners:
        answer_test(topic, learner, {question: "A"})

    (item,) = item_analysis(make_cohort(learners=learners))

    assert item.facility == 1.0
    assert item.flags == []


def test_an_unanswered_question_is_a_wrong_response_and_chooses_no_option():
    topic, (q1, q2) = make_abc_topic(2)
    first, second = make_learner(), make_learner()
    answer_test(topic, first, {q1: "A", q2: "A"})  # 2/2
    answer_test(topic, second, {q1: "A", q2: None})  # 1/2, Q2 left blank

    items = item_analysis(make_cohort(learners=[first, second]))

    # Q2: 2 responses, 1 correct, 1 unanswered. n = 2, g = max(1, round(0.54)) = 1:
    # upper = first (1/1), lower = second (0/1): D = 1.
    assert (items[1].responses, items[1].correct, items[1].unanswered) == (2, 1, 1)
    assert items[1].discrimination == pytest.approx(1.0)
    assert option_counts(items[1]) == {"A": 1, "B": 0, "C": 0}


def test_discrimination_needs_two_learners():
    topic, (question,) = make_abc_topic(1)
    learner = make_learner()
    answer_test(topic, learner, {question: "A"})

    (item,) = item_analysis(make_cohort(learners=[learner]))

    assert item.facility == 1.0
    assert item.discrimination is None


def test_only_the_cohorts_submitted_tests_count():
    topic, (question,) = make_abc_topic(1)
    member, outsider = make_learner(), make_learner()
    answer_test(topic, member, {question: "A"})
    answer_test(topic, outsider, {question: "B"})
    Attempt.objects.create(learner=member, topic=topic)  # started, never submitted

    (item,) = item_analysis(make_cohort(learners=[member]))

    assert (item.responses, item.correct) == (1, 1)
    assert option_counts(item) == {"A": 1, "B": 0, "C": 0}


def test_the_median_time_to_answer_is_measured_from_the_previous_saved_answer():
    topic, questions = make_abc_topic(3)
    start = timezone.now() - dt.timedelta(hours=1)
    # Seconds after the start at which each learner's answers to Q1, Q2, Q3 were saved.
    saved_at = [(10, 40, 100), (20, 30, 50), (5, 45, 15)]
    # Time to answer = gap since the previous saved answer in that test (or since the start):
    #   learner 1: Q1 10, Q2 40−10 = 30, Q3 100−40 = 60
    #   learner 2: Q1 20, Q2 30−20 = 10, Q3 50−30 = 20
    #   learner 3: Q1 5, Q3 15−5 = 10 (answered before Q2), Q2 45−15 = 30
    # Medians: Q1 of (10, 20, 5) = 10; Q2 of (30, 10, 30) = 30; Q3 of (60, 20, 10) = 20.
    learners = []
    for seconds in saved_at:
        learner = make_learner()
        learners.append(learner)
        attempt = answer_test(topic, learner, dict.fromkeys(questions, "A"))
        Attempt.objects.filter(pk=attempt.pk).update(started_at=start)
        for question, after in zip(questions, seconds, strict=True):
            AttemptQuestion.objects.filter(attempt=attempt, question=question).update(
                answered_at=start + dt.timedelta(seconds=after)
            )

    items = item_analysis(make_cohort(learners=learners))

    assert [round(item.median_seconds, 3) for item in items] == [10, 30, 20]


def test_the_page_states_the_formulas_and_links_a_flagged_question_to_its_source(
    client, instructor, six_learners
):
    cohort, (_, _, _, q4, _) = six_learners
    cohort.owner = instructor
    cohort.save()

    page = client.get(f"/instructor/cohorts/{cohort.pk}/items/").content.decode()

    assert "upper and lower 27 %" in page
    assert "g = max(1, round(0.27 × n))" in page
    assert "F = correct responses ÷ responses" in page
    assert '<details class="card formulas">' in page  # collapsed: the questions come first
    assert f"<code>{q4.question.source_path}:40</code>" in page
    assert f"/topics/{q4.question.topic.slug}/practice/?q={q4.question.slug}" in page
    assert 'Flagged questions <span class="count">(2)</span>' in page


def test_question_stems_are_rendered_from_markdown(client, instructor, six_learners):
    cohort, (item, *_) = six_learners
    cohort.owner = instructor
    cohort.save()
    item.question.stem = "What does `result.state` hold?\n\n```python\nresult = app.AsyncResult(task_id)\n```"
    item.question.save()

    page = client.get(f"/instructor/cohorts/{cohort.pk}/items/").content.decode()

    assert "<p>What does <code>result.state</code> hold?</p>" in page
    assert '<span class="n">AsyncResult</span>' in page  # highlighted by Pygments
    assert "`" not in page


def test_the_item_analysis_runs_the_same_queries_for_2_and_6_learners(
    client, instructor, django_assert_num_queries
):
    topic, questions = make_abc_topic(3)
    make_question(topic)

    def cohort_of(size: int):
        learners = [make_learner() for _ in range(size)]
        for learner in learners:
            answer_test(topic, learner, dict.fromkeys(questions, "A"))
        return make_cohort(instructor, name=f"{size} learners", learners=learners)

    small, large = cohort_of(2), cohort_of(6)
    counts = query_counts(client, lambda cohort: f"/instructor/cohorts/{cohort.pk}/items/", (small, large))

    assert counts[0] == counts[1]
    # session, user, role, cohort, responses, median times, option counts, questions, options,
    # the navigation's due count
    with django_assert_num_queries(10):
        client.get(f"/instructor/cohorts/{large.pk}/items/")
