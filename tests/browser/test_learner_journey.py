"""A learner's first session, in a real browser: sign up, cards by keyboard, practice, a test
with a reload in the middle, and the score on the dashboard."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

TOPIC = "/topics/task-results-in-django/"


def sign_up(page, username="ada"):
    page.goto("/accounts/signup/")
    page.get_by_label("Username:").fill(username)
    page.get_by_label("Password:", exact=True).fill("celery-results-42")
    page.get_by_label("Password confirmation:").fill("celery-results-42")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("navigation", name="Main")).to_contain_text(username)


def review_cards_with_the_keyboard(page, count):
    page.goto(TOPIC + "cards/")
    panel = page.locator("#card-panel")
    for _ in range(count):
        front = panel.locator(".card-front").inner_text()
        page.keyboard.press("Space")
        expect(panel.get_by_role("button", name="Good")).to_be_visible()
        page.keyboard.press("3")
        expect(panel.locator(".card-front")).not_to_have_text(front)


def answer_test_question(page, number):
    """Choose the first option of question `number` at medium certainty (key M), wait until it
    is saved, then go on."""
    expect(page.get_by_text(f"Question {number} of 10")).to_be_visible()
    page.locator("#question-card input[name=options]").first.check()
    page.keyboard.press("M")
    expect(page.get_by_text(f"{number} of 10 answered")).to_be_visible()
    page.get_by_role("button", name="Save and next").click()


def test_a_learner_signs_up_studies_every_mode_and_sees_the_score_on_the_dashboard(page, curriculum):
    sign_up(page)

    review_cards_with_the_keyboard(page, 5)
    expect(page.locator("#card-panel")).to_contain_text("Undo")
    screenshot(page, "journey-1-cards")

    page.goto(TOPIC + "practice/")
    page.locator(".question input[name=options]").first.check()
    page.locator("input[name=certainty][value=medium]").check()
    page.get_by_role("button", name="Check answer").click()
    expect(page.locator(".feedback")).to_contain_text(re.compile(r"Correct\.|Not quite\."))
    screenshot(page, "journey-2-practice")

    page.goto(TOPIC + "explain/")
    page.get_by_role("textbox").first.fill(
        "The worker writes the state to the result backend, and ready() is true after a failure too."
    )
    page.get_by_role("button", name="Check my explanation").click()
    expect(page.locator(".score-line")).to_contain_text(re.compile(r"You got \d+/\d+ concepts"))
    screenshot(page, "journey-3-explain")

    page.goto(TOPIC + "test/")
    page.get_by_role("button", name="Start the test").click()
    answer_test_question(page, 1)
    answer_test_question(page, 2)
    expect(page.get_by_text("Question 3 of 10")).to_be_visible()
    page.reload()
    expect(page.get_by_text("2 of 10 answered")).to_be_visible()
    expect(page.get_by_text("Question 3 of 10")).to_be_visible()
    screenshot(page, "journey-4-test-after-reload")
    for number in range(3, 11):
        answer_test_question(page, number)
    expect(page.get_by_text("10 of 10 answered")).to_be_visible()
    page.get_by_role("button", name="Submit test").click()
    page.get_by_role("button", name="Submit now").click()  # the confirmation step
    score = page.locator("section.score h2")
    expect(score).to_contain_text("of 10 correct")
    correct = re.search(r"(\d+) of 10", score.inner_text()).group(1)
    screenshot(page, "journey-5-result")

    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator(".score-list")).to_contain_text(f"{correct}/10")
    expect(page.locator(".chart-point")).to_have_count(1)
    screenshot(page, "journey-6-dashboard")
