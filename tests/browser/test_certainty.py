"""Certainty in a real browser: a learner answers practice and test questions with the keys L, M
and H, sees what is missing before a test answer counts, then the certainty-based score and the
calibration on the result page and the dashboard.

`answer_with_certainty` is the step other journeys reuse (issue 15's misconception journey)."""

import pytest
from playwright.sync_api import expect

from quizzes.models import AttemptQuestion, PracticeAnswer
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_learner
from tests.quizzes.factories import make_topic_with_questions

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEY_OF = {"low": "L", "medium": "M", "high": "H"}


def answer_with_certainty(page, card: str, *, option: str, certainty: str) -> None:
    """In `card` (a CSS selector: "#question-card" on the test, ".question" in practice), choose
    the option with key `option`, then press the certainty's key (L, M or H)."""
    page.locator(f'{card} input[name=options][value="{option}"]').check()
    page.keyboard.press(KEY_OF[certainty])
    expect(page.locator(f'{card} input[name=certainty][value="{certainty}"]')).to_be_checked()


def test_a_learner_answers_with_certainty_by_keyboard_and_sees_the_score_and_calibration(page):
    topic = make_topic_with_questions(easy=3, medium=4, hard=3, slug="sure", title="Being sure")
    learner = make_learner("ada")
    log_in(page, "ada")

    # Practice: "Check answer" without a certainty is refused, then H answers at high certainty.
    page.goto(f"/topics/{topic.slug}/practice/")
    expect(page.get_by_role("group", name="How sure are you?")).to_be_visible()
    expect(page.locator(".certainty-scheme")).to_contain_text("A confident wrong answer costs most")
    page.locator(".question input[name=options][value=B]").check()
    page.get_by_role("button", name="Check answer").click()
    expect(page.locator("fieldset.certainty .errorlist")).to_contain_text("Say how sure you are")
    answer_with_certainty(page, ".question", option="B", certainty="high")
    page.get_by_role("button", name="Check answer").click()
    expect(page.locator(".feedback")).to_contain_text("At high certainty: -6 marks")
    screenshot(page, "certainty-1-practice-confident-wrong")
    assert PracticeAnswer.objects.get(learner=learner).certainty == "high"

    # The test: an option alone is not saved yet; the key saves it with the certainty.
    page.goto(f"/topics/{topic.slug}/test/")
    page.get_by_role("button", name="Start the test").click()
    card = "#question-card"
    page.locator(f"{card} input[name=options][value=A]").check()
    expect(page.locator(".save-status")).to_have_text(
        "Not saved yet: say how sure you are (L low, M medium, H high)."
    )
    expect(page.get_by_text("0 of 10 answered")).to_be_visible()
    page.keyboard.press("L")
    expect(page.get_by_text("1 of 10 answered")).to_be_visible()
    expect(page.locator(".save-status")).to_have_text("Answer saved.")
    # The reply changed only the progress, the status and the count: the question stays as
    # the learner left it, focus included.
    expect(page.locator("#test-progress a.answered")).to_have_text(["1, answered"])
    expect(page.locator("#unanswered-note")).to_contain_text("9 questions not answered yet")
    expect(page.locator("#q1-certainty-low")).to_be_focused()
    expect(page.locator(f"{card} input[name=options][value=A]")).to_be_checked()
    screenshot(page, "certainty-2-test-saved-with-key")
    page.get_by_role("button", name="Save and next").click()
    plan = {2: ("A", "medium"), 3: ("A", "high"), 4: ("B", "high")}  # question 5 on: unanswered
    for number, (option, certainty) in plan.items():
        expect(page.get_by_text(f"Question {number} of 10")).to_be_visible()
        answer_with_certainty(page, card, option=option, certainty=certainty)
        expect(page.get_by_text(f"{number} of 10 answered")).to_be_visible()
        page.get_by_role("button", name="Save and next").click()
    expect(page.get_by_text("Question 5 of 10")).to_be_visible()
    stored = dict(
        AttemptQuestion.objects.filter(answered_at__isnull=False).values_list("position", "certainty")
    )
    assert stored == {1: "low", 2: "medium", 3: "high", 4: "high"}
    page.get_by_role("button", name="Submit test").click()
    page.get_by_role("button", name="Submit now").click()  # the confirmation step

    # 1 + 2 + 3 − 6 = 0 marks over 10 questions (6 unanswered at 0), 3 of 10 right.
    summary = page.locator(".certainty-summary")
    expect(page.locator("section.score h2")).to_contain_text("3 of 10 correct")
    expect(summary).to_contain_text("0 of 30 marks over 10 questions")
    expect(summary).to_contain_text("CBM average 0.00 per question")
    expect(summary.locator("tr", has_text="High")).to_contain_text("1 (50 %)")
    expect(summary.locator("tr", has_text="High")).to_contain_text("over-confident")
    screenshot(page, "certainty-3-result")

    # The dashboard adds the practice answer (high, wrong: −6) to the test's four.
    page.get_by_role("link", name="Dashboard").click()
    summary = page.locator(".certainty-summary")
    expect(summary).to_contain_text("-6 of 15 marks over 5 questions")
    expect(summary.locator("tr", has_text="High")).to_contain_text("1 (33 %)")
    expect(page.locator(".score-list")).to_contain_text("certainty-based 0/30")
    screenshot(page, "certainty-4-dashboard")
