"""Certainty-based marking: the marks, a learner's CBM score and calibration worked out by hand,
the certainty asked with every practice and test answer, and older answers left as they were."""

import re
from fractions import Fraction

import pytest

from quizzes.certainty import (
    CalibrationRow,
    calibration,
    certainty_mark,
    score_answers,
    score_from_counts,
    tally,
)
from quizzes.models import Attempt, AttemptQuestion, AttemptScore, Certainty, PracticeAnswer
from quizzes.services import record_answer, record_practice_answer, start_attempt, submit_attempt
from tests.factories import make_learner, make_question, make_topic
from tests.quizzes.factories import make_topic_with_questions

pytestmark = pytest.mark.django_db

LOW, MEDIUM, HIGH = Certainty.LOW, Certainty.MEDIUM, Certainty.HIGH

# Nine answers, worked by hand (right, certainty):
#   high:   3 right, 1 wrong  → 3×3 − 6 = 3   right 3/4 = 75 %  (needs > 80 %: over-confident)
#   medium: 2 right, 1 wrong  → 2×2 − 2 = 2   right 2/3 = 67 %  (67–80 %: well calibrated)
#   low:    2 right, 0 wrong  → 2×1     = 2   right 2/2 = 100 % (needs < 67 %: under-confident)
# CBM total 3 + 2 + 2 = 7 over 9 answers: maximum 27, average 7/9 = 0.78, accuracy 7/9 = 78 %.
HAND_WORKED = [
    (True, HIGH),
    (True, HIGH),
    (True, HIGH),
    (False, HIGH),
    (True, MEDIUM),
    (True, MEDIUM),
    (False, MEDIUM),
    (True, LOW),
    (True, LOW),
]


def cells(page: str, label: str, table_class: str = "calibration") -> list[str]:
    """The text of each cell of the row headed `label` in the table of class `table_class`."""
    table = re.search(rf'<table class="[^"]*{table_class}[^"]*"[^>]*>(.*?)</table>', page, re.S).group(1)
    row = re.search(rf'<tr><th scope="row">{label}</th>(.*?)</tr>', table, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]


def text_of(page: str) -> str:
    """The page's text with tags removed and white space collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


# --- the marks and the figures, on plain values --------------------------------------------------


@pytest.mark.parametrize(
    ("is_correct", "certainty", "mark"),
    [
        (True, LOW, 1),
        (True, MEDIUM, 2),
        (True, HIGH, 3),
        (False, LOW, 0),
        (False, MEDIUM, -2),
        (False, HIGH, -6),
    ],
)
def test_each_certainty_earns_moodles_mark_when_right_and_when_wrong(is_correct, certainty, mark):
    assert certainty_mark(is_correct=is_correct, certainty=certainty) == mark


def test_an_answer_without_a_certainty_has_no_certainty_mark():
    with pytest.raises(ValueError, match="no certainty-based mark without a certainty level"):
        certainty_mark(is_correct=True, certainty="")


def test_the_hand_worked_answers_give_their_total_maximum_average_and_accuracy():
    score = score_answers(HAND_WORKED + [(True, ""), (False, "")])  # the last two predate CBM

    assert (score.total, score.maximum, score.counted, score.correct) == (7, 27, 9, 7)
    assert round(score.average, 2) == 0.78
    assert score.accuracy == 78
    assert score_from_counts(tally(HAND_WORKED)) == score


def test_the_hand_worked_answers_calibrate_as_over_well_and_under_confident():
    rows = {row.certainty: row for row in calibration(tally(HAND_WORKED))}

    assert (rows[HIGH].answers, rows[HIGH].correct, rows[HIGH].percent) == (4, 3, 75)
    assert rows[HIGH].verdict == "over-confident"
    assert (rows[MEDIUM].answers, rows[MEDIUM].correct, rows[MEDIUM].percent) == (3, 2, 67)
    assert rows[MEDIUM].verdict == "well calibrated"
    assert (rows[LOW].answers, rows[LOW].correct, rows[LOW].percent) == (2, 2, 100)
    assert rows[LOW].verdict == "under-confident"


@pytest.mark.parametrize(
    ("certainty", "correct", "answers", "verdict"),
    [
        (LOW, 0, 3, "well calibrated"),
        (LOW, 1, 2, "well calibrated"),
        (LOW, 2, 3, "under-confident"),  # at exactly 2/3 medium pays as much: low undersold it
        (MEDIUM, 3, 5, "over-confident"),
        (MEDIUM, 4, 5, "under-confident"),  # at exactly 4/5 high pays as much
        (HIGH, 4, 5, "well calibrated"),
        (HIGH, 7, 9, "over-confident"),
        (HIGH, 1, 1, "well calibrated"),
        (HIGH, 0, 0, ""),
    ],
)
def test_calibration_ranges_end_at_two_thirds_and_four_fifths(certainty, correct, answers, verdict):
    assert CalibrationRow(certainty, answers, correct).verdict == verdict


def test_the_ranges_are_where_the_next_level_starts_to_pay_more():
    def expected_mark(level, right):
        return right * certainty_mark(is_correct=True, certainty=level) + (1 - right) * certainty_mark(
            is_correct=False, certainty=level
        )

    assert expected_mark(LOW, Fraction(2, 3)) == expected_mark(MEDIUM, Fraction(2, 3))
    assert expected_mark(MEDIUM, Fraction(4, 5)) == expected_mark(HIGH, Fraction(4, 5))


def test_no_answer_with_a_certainty_gives_no_score():
    assert score_answers([(True, ""), (False, "")]) is None
    assert score_from_counts({}) is None


# --- the test: asked with every answer, stored, and on the result page ---------------------------


def answer_url(attempt, position):
    return f"/attempts/{attempt.pk}/questions/{position}/"


def started(client, topic) -> Attempt:
    client.post(f"/topics/{topic.slug}/test/")
    return Attempt.objects.get(topic=topic, status=Attempt.Status.IN_PROGRESS)


def test_a_test_answer_is_stored_with_its_certainty_and_shown_again(client, learner):
    topic = make_topic_with_questions(easy=3, medium=4, hard=3)
    attempt = started(client, topic)

    response = client.post(
        answer_url(attempt, 1), {"options": ["A"], "certainty": "high"}, headers={"HX-Request": "true"}
    )

    assert "Answer saved." in response.content.decode()
    assert AttemptQuestion.objects.get(attempt=attempt, position=1).certainty == HIGH
    page = client.get(f"/topics/{topic.slug}/test/?q=1").content.decode()
    assert 'value="high" id="q1-certainty-high" aria-keyshortcuts="H" checked' in page


def test_the_test_page_asks_for_certainty_states_its_keys_and_the_scheme(client, learner):
    topic = make_topic_with_questions(easy=3, medium=4, hard=3)
    started(client, topic)

    page = client.get(f"/topics/{topic.slug}/test/").content.decode()
    text = text_of(page)

    assert "<legend>How sure are you?</legend>" in page
    for key in "LMH":
        assert f'aria-keyshortcuts="{key}"' in page
    assert "Keys: L low, M medium, H high." in text
    assert cells(page, "Low", "breakdown") == ["L", "+1", "0", "under 67 %"]
    assert cells(page, "Medium", "breakdown") == ["M", "+2", "-2", "67–80 %"]
    assert cells(page, "High", "breakdown") == ["H", "+3", "-6", "over 80 %"]
    assert "A confident wrong answer costs most" in text


@pytest.mark.parametrize(
    ("certainty", "message"),
    [
        ("sure", "sure is not a certainty level. Choose low, medium or high."),
        ("", "Say how sure you are: low, medium or high (keys L low, M medium, H high)."),
    ],
)
def test_a_test_answer_without_a_valid_certainty_is_a_form_error_and_saves_nothing(
    client, learner, certainty, message
):
    topic = make_topic_with_questions(easy=3, medium=4, hard=3)
    attempt = started(client, topic)

    response = client.post(
        answer_url(attempt, 1),
        {"options": ["A"], "certainty": certainty, "next": "1"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert "Your saved answer is unchanged." in response.content.decode()
    assert 'value="A" id="q1-A" checked' in response.content.decode(), "the choice is kept to fix the form"
    item = AttemptQuestion.objects.get(attempt=attempt, position=1)
    assert not item.is_answered
    assert item.certainty == ""


def take_hand_worked_test(learner) -> Attempt:
    """A 10-question test: the nine HAND_WORKED answers in order, question 10 left unanswered."""
    topic = make_topic_with_questions(easy=3, medium=4, hard=3)
    attempt = start_attempt(topic, learner=learner)
    items = attempt.items.select_related("question").order_by("position")
    for item, (is_correct, certainty) in zip(items, HAND_WORKED, strict=False):
        option = item.question.options.get(key="A" if is_correct else "B")
        record_answer(item, options=[option], certainty=certainty)
    submit_attempt(attempt)
    return attempt


def test_the_result_page_shows_the_plain_and_the_certainty_based_score_and_the_calibration(client, learner):
    attempt = take_hand_worked_test(learner)

    page = client.get(f"/attempts/{attempt.pk}/").content.decode()
    text = text_of(page)

    # The hand-worked nine (7 marks) and question 10 unanswered: 0 marks, counted.
    assert "Plain score 7 of 10 right (70 %)" in text
    assert "Certainty-based score 7 of 30 marks over 10 questions" in text
    assert "CBM average 0.70 per question" in text
    assert cells(page, "High") == ["4", "3 (75 %)", "over 80 %", "over-confident (few answers yet)"]
    assert cells(page, "Medium") == ["3", "2 (67 %)", "67–80 %", "well calibrated (few answers yet)"]
    assert cells(page, "Low") == ["2", "2 (100 %)", "under 67 %", "under-confident (few answers yet)"]
    assert "high certainty: -6" in text  # question 4, wrong at high certainty
    assert text.count("no answer: 0") == 1  # question 10


def test_an_attempt_answered_before_certainty_keeps_its_score_and_gets_no_certainty_figures(client, learner):
    topic = make_topic_with_questions(easy=3, medium=4, hard=3)
    attempt = start_attempt(topic, learner=learner)
    for item in attempt.items.select_related("question"):
        record_answer(item, options=[item.question.options.get(key="A")])  # as before: no certainty
    score = submit_attempt(attempt)

    assert (score.correct, score.total) == (10, 10)
    assert set(AttemptQuestion.objects.filter(attempt=attempt).values_list("certainty", flat=True)) == {""}
    page = text_of(client.get(f"/attempts/{attempt.pk}/").content.decode())
    assert "10 of 10 correct (100 %)" in page
    assert "No certainty-based score: this test was taken before certainty was asked" in page
    assert AttemptScore.objects.get(attempt=attempt).verdict == "strong"


# --- practice ------------------------------------------------------------------------------------


@pytest.fixture
def practice_topic():
    topic = make_topic()
    make_question(topic, slug="only-question", stem="Which one?")
    return topic


def practice(client, topic, **data):
    return client.post(f"/topics/{topic.slug}/practice/", {"question": "only-question", **data})


def test_a_practice_answer_is_stored_with_its_certainty_and_the_feedback_gives_its_mark(
    client, learner, practice_topic
):
    response = practice(client, practice_topic, options=["B"], certainty="high")
    text = text_of(client.get(response["Location"]).content.decode())

    assert PracticeAnswer.objects.get().certainty == HIGH
    assert "At high certainty: -6 marks : a confident wrong answer costs most." in text


def test_the_practice_page_asks_for_certainty_and_states_the_scheme(client, learner, practice_topic):
    page = client.get(f"/topics/{practice_topic.slug}/practice/").content.decode()

    assert 'name="certainty" value="medium" id="p-certainty-medium" aria-keyshortcuts="M"' in page
    assert "How certainty is marked" in page


@pytest.mark.parametrize(
    ("certainty", "message"),
    [
        ("very", "very is not a certainty level. Choose low, medium or high."),
        ("", "Say how sure you are: low, medium or high"),
    ],
)
def test_a_practice_answer_without_a_valid_certainty_is_a_form_error_and_records_nothing(
    client, learner, practice_topic, certainty, message
):
    response = client.post(
        f"/topics/{practice_topic.slug}/practice/",
        {"question": "only-question", "options": ["A"], "certainty": certainty},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not PracticeAnswer.objects.exists()


# --- the dashboard: practice and tests together --------------------------------------------------


def test_the_dashboard_scores_and_calibrates_practice_and_tests_together(client, learner):
    take_hand_worked_test(learner)
    question = make_question(make_topic())
    right, wrong = question.options.get(key="A"), question.options.get(key="B")
    record_practice_answer(question, learner=learner, options=[wrong], certainty=LOW)  # 0
    record_practice_answer(question, learner=learner, options=[right], certainty=HIGH)  # +3
    record_practice_answer(question, learner=learner, options=[right])  # before CBM: left out
    other = make_learner()
    record_practice_answer(question, learner=other, options=[wrong], certainty=HIGH)  # not theirs

    page = client.get("/dashboard/").content.decode()
    text = text_of(page)

    # The test's nine answers (7 marks) and the two practice answers (0 + 3): 10 marks over 11
    # answers, maximum 33, average 0.91, 8 of them right (73 %). The unanswered test question
    # states no certainty: it counts in that test's score, not in calibration.
    assert "Plain score 8 of 11 right (73 %)" in text
    assert "Certainty-based score 10 of 33 marks over 11 questions" in text
    assert "CBM average 0.91 per question" in text
    assert cells(page, "High") == ["5", "4 (80 %)", "over 80 %", "well calibrated"]
    assert cells(page, "Medium") == ["3", "2 (67 %)", "67–80 %", "well calibrated (few answers yet)"]
    assert cells(page, "Low") == ["3", "2 (67 %)", "under 67 %", "under-confident (few answers yet)"]
    assert "certainty-based 7/30 (CBM average 0.70)" in text


def test_a_dashboard_without_certainty_says_how_to_get_it(client, learner):
    page = text_of(client.get("/dashboard/").content.decode())

    assert "No certainty-based score: no practice or test answer with a certainty yet." in page
