"""A learner's whole path by keyboard alone (issue 16): home → continue → flashcards (a card rated
Again comes back) → practice → explain → the test, with its confirmation → the result → a lab
run on the real worker. Only Tab, Shift+Tab, Enter, Space, typing and the keys the pages state
(Space, 1-4 on cards; L/M/H for certainty); no clicks. After every htmx swap, focus must be in
the content that was swapped in, not back at the top of the page."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.factories import make_learner

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Every swap an htmx request made, with whether focus then sat inside the swapped-in content.
# Checked a tick after htmx settles, when the pages' own focus code (swap-focus.js, cards.js)
# has run. Out-of-band swaps (the header's due count) and server-sent events, which must not
# move focus, are not requests' main targets and are left out.
RECORD_SWAPS = """
window.swaps = [];
document.addEventListener("htmx:afterSettle", (event) => {
  const region = event.target;
  if (!event.detail.xhr || !(region instanceof Element) || region.id === "review-due-count") return;
  setTimeout(() => {
    const active = document.activeElement;
    window.swaps.push({
      region: region.id || region.className,
      focused: active ? (active.id || active.tagName + "." + active.className) : "nothing",
      inside: region.isConnected && active !== document.body && region.contains(active),
    });
  }, 50);
});
"""


def tab_to(page, target, *, limit: int = 250) -> None:
    """Press Tab until `target` has focus, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    pytest.fail(f"Tab never reached {target}")


def swaps_so_far(page) -> list[dict]:
    return page.evaluate("window.swaps")


def wait_for_swap(page, count_before: int) -> dict:
    """The next swap's record, once it is taken; it must have left focus inside the new content.
    (Polled from here: page.wait_for_function evaluates a string, which the CSP forbids.)"""
    for _ in range(200):
        swaps = swaps_so_far(page)
        if len(swaps) > count_before:
            break
        page.wait_for_timeout(50)
    else:
        pytest.fail(f"no htmx swap after swap {count_before}")
    swap = swaps[count_before]
    assert swap["inside"], f"after swapping {swap['region']}, focus is on {swap['focused']}"
    return swap


def press_and_swap(page, key: str) -> dict:
    before = len(swaps_so_far(page))
    page.keyboard.press(key)
    return wait_for_swap(page, before)


def go_by_link(page, name) -> None:
    """Tab to the link named `name` (or the locator given) and follow it with Enter."""
    if isinstance(name, str):
        link = page.get_by_role("link", name=name, exact=True).first
    elif isinstance(name, re.Pattern):
        link = page.get_by_role("link", name=name).first
    else:
        link = name
    tab_to(page, link)
    with page.expect_navigation():
        page.keyboard.press("Enter")


@pytest.fixture
def keyboard_page(browser, asgi_server, celery_worker, curriculum):
    make_learner("kim")
    context = browser.new_context(viewport={"width": 1100, "height": 900}, base_url=asgi_server)
    context.set_default_timeout(15_000)
    context.add_init_script(RECORD_SWAPS)
    page = context.new_page()
    page.goto("/accounts/login/")
    tab_to(page, page.get_by_label("Username:"))
    page.keyboard.type("kim")
    page.keyboard.press("Tab")
    page.keyboard.type("pw")
    page.keyboard.press("Enter")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("kim")
    yield page
    context.close()


def study_cards_until_an_again_card_comes_back(page) -> None:
    panel = page.locator("#card-panel")
    page.keyboard.press("Space")
    expect(panel.locator(".card-back")).to_be_focused()
    again_front = panel.locator(".card-front").inner_text()
    press_and_swap(page, "1")  # Again
    for _ in range(40):
        expect(panel.locator(".reveal-button")).to_be_focused()
        if panel.locator(".card-front").inner_text() == again_front:
            break
        page.keyboard.press("Space")  # on the focused "Show answer" button
        expect(panel.locator(".card-back")).to_be_focused()
        press_and_swap(page, "3")  # Good
    else:
        pytest.fail("the card rated Again never came back in the session")
    screenshot(page, "keyboard-1-again-card-back")
    while panel.locator(".all-done").count() == 0:
        page.keyboard.press("Space")
        press_and_swap(page, "3")
    expect(panel.locator(".all-done a").first).to_be_focused()  # the way on: practice


def practise_one_question(page) -> None:
    tab_to(page, page.locator("#practice-card input[name=options]").first)
    page.keyboard.press("Space")
    page.keyboard.press("M")  # medium certainty
    tab_to(page, page.get_by_role("button", name="Check answer"))
    press_and_swap(page, "Enter")
    expect(page.locator(".feedback")).to_be_focused()
    screenshot(page, "keyboard-2-practice")


def explain_once(page) -> None:
    tab_to(page, page.get_by_role("textbox", name="Your explanation"))
    page.keyboard.type(
        "The worker stores each state in the result backend; ready() is true after a failure too."
    )
    tab_to(page, page.get_by_role("button", name="Check my explanation"))
    press_and_swap(page, "Enter")
    expect(page.locator(".score-line")).to_be_focused()


def take_the_test(page) -> None:
    tab_to(page, page.get_by_role("button", name="Start the test"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    for number in range(1, 11):
        expect(page.get_by_text(f"Question {number} of 10")).to_be_visible()
        tab_to(page, page.locator("#question-card input[name=options]").first)
        page.keyboard.press("Space")  # not saved yet: the page asks how sure
        press_and_swap(page, "M")  # with the certainty, the answer is saved
        expect(page.get_by_text(f"{number} of 10 answered")).to_be_visible()
        tab_to(page, page.get_by_role("button", name="Save and next"))
        press_and_swap(page, "Enter")
    tab_to(page, page.get_by_role("button", name="Submit test"))
    with page.expect_navigation():  # to the confirmation, a page of its own
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Submit your test?")).to_be_visible()
    expect(page.locator("#confirm-submit")).to_be_focused()  # the summary, not the page's top
    screenshot(page, "keyboard-4-confirm")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Submit now")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("section.score h2")).to_contain_text("of 10 correct")
    screenshot(page, "keyboard-5-result")


def test_a_learner_goes_from_home_to_a_lab_run_by_keyboard_alone(keyboard_page):
    page = keyboard_page
    page.goto("/")
    go_by_link(page, re.compile(r"^Start: "))
    go_by_link(page, "Read it? Next: flashcards")
    study_cards_until_an_again_card_comes_back(page)

    with page.expect_navigation():
        page.keyboard.press("Enter")  # "practice questions", focused after the last card
    expect(page.get_by_role("heading", name=re.compile(r"^Practice: "))).to_be_visible()
    practise_one_question(page)

    topic_link = page.locator("header p.meta a").first  # the topic, where its steps are
    go_by_link(page, topic_link)
    go_by_link(page, "Explain in your own words")
    explain_once(page)
    screenshot(page, "keyboard-3-explain")

    go_by_link(page, topic_link)
    go_by_link(page, "The test")
    take_the_test(page)

    go_by_link(page, "Lab")
    go_by_link(page, "A task that succeeds")
    tab_to(page, page.get_by_label("Your prediction"))
    page.keyboard.type("PENDING, SUCCESS")
    tab_to(page, page.get_by_role("button", name="Fire the task"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/lab/runs/\d+/$"))
    expect(page.get_by_text("Your prediction was right")).to_be_visible()
    screenshot(page, "keyboard-6-lab-run")

    misses = [swap for swap in swaps_so_far(page) if not swap["inside"]]
    assert not misses, misses
