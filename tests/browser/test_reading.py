"""A visitor reads the catalog and a topic's cheat sheet, and flips a card, in a real browser."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot
from tests.instructor.factories import make_instructor

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


def test_a_visitor_opens_the_seed_topic_from_the_catalog_and_reveals_a_card(page, curriculum):
    failed = []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    page.goto("/")
    page.get_by_role("link", name="Task results and status in Django", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Task results and status in Django")
    expect(page.get_by_text("Finished is not succeeded")).to_be_visible()
    steps = page.get_by_role("navigation", name="Steps of this topic")
    expect(steps.locator("li.is-next")).to_contain_text("Read the cheat sheet")
    assert screenshot(page, "topic-desktop").exists()
    steps.get_by_role("link", name="Flashcards").click()
    expect(page.locator("#card-back")).to_be_hidden()
    page.get_by_role("button", name="Show answer").click()
    expect(page.locator("#card-back")).to_be_visible()
    assert failed == [], "every stylesheet and script was served"
    # Headless Chromium does not ask for the tab's icon itself: the page's own link is followed.
    icon = page.evaluate("fetch(document.querySelector('link[rel=icon]').href).then(r => r.status)")
    assert icon == 200


def test_the_topic_page_reads_on_a_phone_without_sideways_scrolling(phone, curriculum):
    phone.goto("/topics/task-results-in-django/")

    page_width = phone.evaluate("document.documentElement.scrollWidth")
    assert page_width <= 390, "only code blocks scroll sideways, inside themselves"
    assert screenshot(phone, "topic-phone").exists()


def test_on_a_phone_a_diagrams_smallest_text_stays_readable(phone, curriculum):
    phone.goto("/topics/task-lifecycle-and-states/")
    diagram = phone.get_by_role("img", name=re.compile(r"^The task lifecycle: "))
    diagram.scroll_into_view_if_needed()

    # Shrunk to the phone's width, its 11-unit labels would be drawn under 5 px tall; the figure
    # keeps the desktop's scale and scrolls sideways inside itself instead.
    svg = (ROOT / "static" / "diagrams" / "task-lifecycle.svg").read_text()
    viewbox_width = float(re.search(r'viewBox="0 0 ([\d.]+)', svg)[1])
    smallest = min(float(size) for size in re.findall(r'font-size="([\d.]+)"', svg))
    assert smallest * diagram.bounding_box()["width"] / viewbox_width >= 9
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    expect(phone.get_by_role("link", name="Open the diagram on its own")).to_be_visible()
    assert screenshot(phone, "diagram-phone").exists()


def test_on_a_phone_the_header_is_two_rows_and_the_ratings_stay_in_sight_after_an_answer(phone, curriculum):
    # An instructor: the longest header (a learner's links and "Instructor").
    learner = make_instructor()
    log_in(phone, learner.username)
    expect(phone.get_by_role("link", name="Instructor")).to_be_visible()
    # This topic's first card has an answer long enough to push the ratings' second row below
    # the fold, had they stayed in the page's flow.
    phone.goto("/topics/task-lifecycle-and-states/cards/")
    # The header takes two rows (the name and "Log out", then the links), not three, even with a
    # three-digit due count: the card gets the screen.
    phone.locator("#review-due-count").evaluate("count => count.textContent = '128'")
    assert phone.locator("header.site-header").bounding_box()["height"] < 80
    expect(phone.get_by_role("button", name="Log out")).to_be_in_viewport()
    phone.get_by_role("button", name="Show answer").click()

    for name in ("Again", "Hard", "Good", "Easy"):
        expect(phone.get_by_role("button", name=name)).to_be_in_viewport()
    assert screenshot(phone, "card-revealed-phone").exists()
