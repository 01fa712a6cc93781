"""Explain feedback in a real browser: a wrong claim named and explained, the model answer, and
a missed concept's link to the cheat-sheet section that teaches it."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_every_page import SCHEMES, SIZES, layout_problems
from tests.factories import make_learner

pytestmark = pytest.mark.browser

EXPLAIN = "/topics/task-results-in-django/explain/"


def test_a_wrong_claim_is_explained_and_a_missed_concept_links_to_its_section(page, curriculum):
    make_learner("grace")
    log_in(page, "grace")

    page.goto(EXPLAIN)
    page.get_by_role("textbox").first.fill(
        "The view sends the task and the broker writes the result. Later the page reads "
        "app.AsyncResult(task_id).state. PENDING means the task is waiting in the queue."
    )
    page.get_by_role("button", name="Check my explanation").click()

    result = page.locator("#explain-result")
    expect(result.locator(".score-line")).to_contain_text("You got 1/6 concepts")
    wrong_claims = result.locator(".wrong-claim")
    expect(wrong_claims).to_have_count(2)
    expect(wrong_claims.first).to_contain_text("The broker writes the result")
    expect(wrong_claims.first).to_contain_text("You may be thinking: “The broker stores a task's state")
    expect(result.locator("li.contradicted")).to_have_text(
        [re.compile("Worker writes the states"), re.compile("PENDING means nothing stored")]
    )
    expect(result.get_by_role("heading", name="Model answer")).to_be_visible()
    screenshot(page, "explain-feedback")
    problems = []
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            problems.extend(layout_problems(page, f"explain feedback at {size}, {scheme}"))
    assert not problems, "\n".join(problems)
    page.set_viewport_size({"width": 1100, "height": 900})

    result.locator("li.missed", has_text="STARTED needs tracking").get_by_role("link").click()
    expect(page).to_have_url(
        "/topics/task-results-in-django/#sheet-states-and-what-result-holds-in-each", ignore_case=True
    )
    expect(page.locator("#sheet-states-and-what-result-holds-in-each")).to_be_in_viewport()
