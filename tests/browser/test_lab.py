"""The live lab in a real browser, served by uvicorn with a real worker: the run page updates
by itself over server-sent events."""

import re

import pytest
from playwright.sync_api import expect

from live_lab.models import LabRun
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_learner

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lab_page(browser, asgi_server, celery_worker):
    make_learner("labuser")
    context = browser.new_context(viewport={"width": 1100, "height": 900}, base_url=asgi_server)
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, "labuser")
    yield page
    context.close()


def fire(page, experiment_id: str, prediction: str, **params) -> None:
    page.goto(f"/lab/{experiment_id}/")
    for label, value in params.items():
        page.get_by_label(label).fill(str(value))
    page.get_by_label("Your prediction").fill(prediction)
    page.get_by_role("button", name="Fire the task").click()
    expect(page).to_have_url(re.compile(r"/lab/runs/\d+/$"))
    page.evaluate("window.notReloaded = true")
    # Which server-sent events the page swapped in: "reading" (one new lane-1 row), "lanes".
    page.evaluate(
        "window.sseEvents = [];"
        "document.body.addEventListener('htmx:sseMessage', e => window.sseEvents.push(e.detail.type))"
    )


def test_the_progress_bar_moves_and_success_arrives_without_a_reload(lab_page):
    page = lab_page
    fire(page, "progress", "PENDING, PROGRESS, SUCCESS", **{"Steps:": 5, "Seconds per step:": 0.6})

    bar = page.locator("#task-progress")
    expect(bar).to_have_attribute("value", "1")
    expect(bar).to_have_attribute("value", "3")
    screenshot(page, "lab-progress-running")
    expect(page.get_by_text("Your prediction was right")).to_be_visible()
    expect(page.locator("#lanes")).to_contain_text("SUCCESS")
    assert page.evaluate("window.notReloaded") is True, "the page was never reloaded"
    # New readings arrived alone first, and lane 1 ends with each stored reading once.
    assert "reading" in page.evaluate("window.sseEvents")
    run = LabRun.objects.get(owner__username="labuser")
    shown = page.locator("#lane1 + table tbody tr").all_inner_texts()
    assert [row.split("\t")[1] for row in shown] == [o.state for o in run.observations.all()]
    screenshot(page, "lab-progress-done")


def test_a_wrong_prediction_is_graded_and_the_missed_state_pointed_out(lab_page):
    page = lab_page
    fire(page, "slow-untracked", "PENDING, STARTED, SUCCESS", **{"Seconds the task sleeps:": 1})

    expect(page.get_by_text("Your prediction was wrong")).to_be_visible()
    expect(page.locator("#lanes")).to_contain_text("but AsyncResult never read STARTED")
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "lab-prediction-graded")
