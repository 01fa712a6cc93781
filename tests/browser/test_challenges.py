"""A learner takes the worker-death challenge in a real browser, served by uvicorn, against real
sandbox workers the web process starts: fails with the defaults, takes a hint, passes; the
instructor's cohort dashboard shows it."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_every_page import layout_problems
from tests.factories import make_learner
from tests.instructor.factories import make_cohort, make_instructor

# embedded_only: CI is at its time budget, and the journey is the same in Redis mode (passed there
# too when written); tests/live_lab/test_challenges.py checks the challenge itself in both modes.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.embedded_only,
    pytest.mark.django_db(transaction=True),
]

CHECK_TIMEOUT = 90_000  # ms: a sandbox's start (10 s on a loaded machine), four tasks, two kills


def fire_the_batch(page, *, size: int = 4):
    """The attempt's verdict heading, once the check is in (it says what went wrong if anything)."""
    page.get_by_label("Tasks in the batch").fill(str(size))
    page.get_by_role("button", name="Fire the batch").click()
    expect(page).to_have_url(re.compile(r"/lab/attempts/\d+/$"))
    verdict = page.locator("#verdict")
    expect(verdict).to_have_text("Running…")
    expect(verdict).not_to_have_text("Running…", timeout=CHECK_TIMEOUT)
    return verdict


def test_a_learner_fails_with_the_defaults_takes_a_hint_passes_and_the_instructor_sees_it(
    browser, asgi_server
):
    learner = make_learner("ada")
    instructor = make_instructor("teacher")
    cohort = make_cohort(instructor, learners=[learner])
    context = browser.new_context(viewport={"width": 1100, "height": 900}, base_url=asgi_server)
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, "ada")

    page.goto("/lab/")
    page.get_by_role("link", name="Exactly once when the worker dies").click()
    expect(page.get_by_label("task_acks_late")).not_to_be_checked()
    verdict = fire_the_batch(page)
    expect(verdict).to_have_text(
        "Not yet: 1 of 4 tasks lost, 0 applied more than once, 2 did not end in SUCCESS; "
        "4 runs in all for 4 tasks."
    )
    expect(
        page.get_by_role("row", name=re.compile(r"^1 1 0 FAILURE \(WorkerLostError\) lost"))
    ).to_be_visible()
    screenshot(page, "challenge-failed")
    assert layout_problems(page, "the failed attempt") == []

    page.get_by_role("button", name="Take a hint").click()
    expect(
        page.get_by_text("Which setting moves the acknowledgement to after the task returns?")
    ).to_be_visible()
    expect(page.get_by_text("2 left")).to_be_visible()
    screenshot(page, "challenge-hint")
    assert layout_problems(page, "the challenge with a hint") == []

    page.get_by_label("task_acks_late").check()
    page.get_by_label("task_reject_on_worker_lost").check()
    page.get_by_label("Idempotent task").check()
    verdict = fire_the_batch(page)
    expect(verdict).to_have_text("Passed")
    expect(page.get_by_text("0 of 4 tasks lost, 0 applied more than once")).to_be_visible()
    screenshot(page, "challenge-passed")
    context.close()

    context = browser.new_context(viewport={"width": 1100, "height": 900}, base_url=asgi_server)
    page = context.new_page()
    log_in(page, "teacher")
    page.goto(f"/instructor/cohorts/{cohort.pk}/")
    row = page.locator("section[aria-labelledby=challenges] tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("ada")
    expect(row).to_contain_text("Exactly once when the worker dies")
    expect(row.locator("td").nth(1)).to_have_text("2")  # attempts
    expect(row.locator("td").nth(2)).to_have_text("1")  # hints taken
    expect(row.locator("td").nth(3)).to_contain_text("Passed")
    screenshot(page, "challenge-instructor")
    page.set_viewport_size({"width": 390, "height": 844})
    assert layout_problems(page, "the cohort dashboard on a phone") == []
    context.close()
