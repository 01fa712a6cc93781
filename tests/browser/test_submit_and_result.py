"""Submitting a test as Moodle users expect (issue 16, item 4), in a real browser: a summary
before submitting, the result's right/wrong navigator and time taken, Back after submitting
showing the result rather than an answerable page, and practising what was missed."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_certainty import answer_with_certainty
from tests.browser.test_every_page import SCHEMES, SIZES, layout_problems
from tests.factories import make_learner
from tests.quizzes.factories import make_topic_with_questions

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_learner_confirms_submits_reads_the_navigator_goes_back_and_practises_what_they_missed(page):
    topic = make_topic_with_questions(easy=3, medium=4, hard=3, slug="moodle", title="Like Moodle")
    make_learner("ada")
    log_in(page, "ada")
    page.goto(f"/topics/{topic.slug}/test/")
    page.get_by_role("button", name="Start the test").click()
    expect(page.locator(".elapsed")).to_contain_text("Started")

    answer_with_certainty(page, "#question-card", option="A", certainty="high")
    expect(page.get_by_text("1 of 10 answered")).to_be_visible()  # saved on change
    # Wait for the next question itself: the count was already shown by the save on change.
    page.get_by_role("button", name="Save and next").click()
    expect(page.get_by_text("Question 2 of 10")).to_be_visible()
    answer_with_certainty(page, "#question-card", option="B", certainty="low")
    expect(page.get_by_text("2 of 10 answered")).to_be_visible()
    page.get_by_role("button", name="Save and next").click()
    expect(page.get_by_text("Question 3 of 10")).to_be_visible()

    # "Submit test" asks first; "Back to the test" submits nothing.
    page.get_by_role("button", name="Submit test").click()
    summary = page.locator("#confirm-submit")
    expect(summary).to_contain_text("Submit your test?")
    expect(summary).to_contain_text("Not answered (8):")
    screenshot(page, "test-confirm-submit")
    assert_fits_and_passes_axe(page, "the confirmation")
    page.get_by_role("link", name="Back to the test").click()
    expect(page.get_by_role("button", name="Save and next")).to_be_visible()
    page.get_by_role("button", name="Submit test").click()
    page.get_by_role("button", name="Submit now").click()

    # The result: time taken, and a navigator that says right, wrong or not answered in words.
    expect(page.locator("section.score h2")).to_contain_text("1 of 10 correct")
    expect(page.locator(".time-taken")).to_have_text(re.compile(r"^\d+ (s|min \d+ s)$"))
    navigator = page.get_by_role("navigation", name="Questions, right or wrong")
    expect(navigator.get_by_role("link", name="1 right")).to_be_visible()
    expect(navigator.get_by_role("link", name="2 wrong")).to_be_visible()
    navigator.get_by_role("link", name="2 wrong").click()
    expect(page).to_have_url(re.compile(r"#item-2$"))
    expect(page.locator("#item-2")).to_be_in_viewport()
    screenshot(page, "test-result-navigator")

    # Back from the result shows the result again, never the answerable test screen.
    result_url = re.sub(r"#.*$", "", page.url)
    page.go_back()  # the #item-2 jump
    page.go_back()  # the confirmation page the test was submitted from
    expect(page).to_have_url(result_url)
    expect(page.get_by_role("button", name="Save and next")).to_have_count(0)

    # Practise what you missed: the 9 missed questions, the first of them now.
    page.get_by_role("link", name="Practise what you missed (9 questions)").click()
    banner = page.locator(".missed-banner")
    expect(banner).to_have_text("Practising what you missed in your test: question 1 of 9.")
    answer_with_certainty(page, ".question", option="A", certainty="medium")
    page.get_by_role("button", name="Check answer").click()
    page.get_by_role("link", name="Next question you missed").click()
    expect(banner).to_have_text("Practising what you missed in your test: question 2 of 9.")
    screenshot(page, "test-practise-missed")
    assert_fits_and_passes_axe(page, "practising what was missed")


def assert_fits_and_passes_axe(page, where: str) -> None:
    """No overflow at 390 px and no axe WCAG violation, light and dark (as test_every_page)."""
    problems = []
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            problems.extend(layout_problems(page, f"{where} at {size}, {scheme}"))
    page.set_viewport_size({"width": 1100, "height": 900})
    page.emulate_media(color_scheme="light")
    assert not problems, "\n".join(problems)
