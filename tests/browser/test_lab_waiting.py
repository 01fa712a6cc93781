"""A run that waits for a worker slot, in a real browser: the page says why it waits, then
shows the run without a reload, with how long it waited. Served by its own uvicorn process
with one lab slot, so that the learner's second run must wait."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_lab import fire
from tests.conftest import worker_env
from tests.factories import make_learner
from tests.web_process import WebProcess

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def one_slot_server(celery_worker):
    process = WebProcess(
        "one-slot", env={**worker_env(), "LAB_WORKER_SLOTS": "1", "LAB_SLOTS_PER_LEARNER": "1"}
    )
    yield process.url
    process.stop()


def test_a_waiting_run_says_why_then_runs_and_shows_how_long_it_waited(browser, one_slot_server):
    make_learner("waiter")
    context = browser.new_context(viewport={"width": 1100, "height": 900}, base_url=one_slot_server)
    context.set_default_timeout(20_000)
    page = context.new_page()
    log_in(page, "waiter")

    fire(page, "slow-untracked", "PENDING, SUCCESS", **{"Seconds the task sleeps:": 4})
    fire(page, "success", "PENDING, SUCCESS", **{"Seconds the task sleeps:": 0})

    waiting = page.locator(".waiting").filter(has_text="Waiting for a worker slot")
    expect(waiting).to_contain_text("At most 1 of your runs run on the worker at once")
    expect(waiting).to_contain_text("it is never graded")
    screenshot(page, "lab-run-waiting")
    page.evaluate("window.notReloaded = true")
    expect(page.get_by_text("Your prediction was right")).to_be_visible()
    expect(page.locator("#lanes")).to_contain_text(re.compile(r"It waited \d+\.\d s for a worker slot"))
    expect(waiting).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True, "the page was never reloaded"
    screenshot(page, "lab-run-after-waiting")
    context.close()
