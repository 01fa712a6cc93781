"""An instructor's journey in a real browser: create a cohort, a learner joins with the link and
takes a test, the instructor sees the score in the grid and downloads grades.csv. Then the
reports of a demo class: the grid's header row and learner column stay put while it scrolls, the
join link copies, item analysis renders the question stems."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from instructor.demo import DEMO_PASSWORD, seed_demo_cohort
from tests.browser.conftest import new_page, screenshot
from tests.factories import make_learner
from tests.instructor.factories import make_instructor
from tests.quizzes.factories import make_topic_with_questions

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, username: str, *, path: str = "/accounts/login/", password: str = "pw") -> None:
    page.goto(path)
    page.get_by_label("Username:").fill(username)
    page.get_by_label("Password:").fill(password)
    page.get_by_role("button", name="Log in").click()


def take_a_test_choosing_the_first_option(page, slug: str) -> str:
    page.goto(f"/topics/{slug}/test/")
    page.get_by_role("button", name="Start the test").click()
    for number in range(1, 11):
        expect(page.get_by_text(f"Question {number} of 10")).to_be_visible()
        page.locator("#question-card input[name=options]").first.check()
        page.locator("#question-card input[name=certainty][value=high]").check()
        expect(page.get_by_text(f"{number} of 10 answered")).to_be_visible()
        page.get_by_role("button", name="Save and next").click()
    expect(page.get_by_role("heading", name="Review your answers")).to_be_visible()
    page.get_by_role("button", name="Submit test").click()
    page.get_by_role("button", name="Submit now").click()  # the confirmation step
    score = page.locator("section.score h2")
    expect(score).to_contain_text("of 10 correct")
    return re.search(r"(\d+) of 10", score.inner_text()).group(1)


def test_an_instructor_follows_a_learner_from_join_link_to_the_grades_csv(browser, live_server):
    topic = make_topic_with_questions(easy=3, medium=4, hard=3, slug="results", title="Results in Django")
    make_instructor("teacher")
    make_learner("ada")
    teacher = new_page(browser, live_server)
    learner = new_page(browser, live_server)

    log_in(teacher, "teacher", path="/accounts/login/?next=/instructor/")
    expect(
        teacher.get_by_role("navigation", name="Main").get_by_role("link", name="Instructor")
    ).to_be_visible()
    teacher.get_by_role("button", name="Create cohort").click()
    expect(teacher.locator(".errorlist")).to_contain_text("Give the cohort a name.")
    teacher.get_by_label("Cohort name").fill("Autumn 2026")
    teacher.get_by_role("button", name="Create cohort").click()
    expect(teacher.get_by_role("heading", name="Autumn 2026")).to_be_visible()
    join_url = teacher.get_by_role("textbox", name="Learners join with this link").input_value()
    assert re.fullmatch(rf"{live_server.url}/join/[A-Z0-9]{{8}}/", join_url)
    screenshot(teacher, "instructor-1-new-cohort")

    learner.goto(join_url)  # not signed in yet: the login page, then back to the link
    learner.get_by_label("Username:").fill("ada")
    learner.get_by_label("Password:").fill("pw")
    learner.get_by_role("button", name="Log in").click()
    learner.get_by_role("button", name="Join Autumn 2026").click()
    expect(learner.get_by_role("heading", name="You are in “Autumn 2026”")).to_be_visible()
    screenshot(learner, "instructor-2-joined")
    correct = take_a_test_choosing_the_first_option(learner, topic.slug)

    teacher.reload()
    row = teacher.locator("table.cohort-grid tbody tr", has_text="ada")
    expect(row).to_contain_text(f"best {int(correct) * 10} % of 1 test")
    screenshot(teacher, "instructor-3-grid")

    with teacher.expect_download() as download_info:
        teacher.get_by_role("link", name="Download grades.csv").click()
    download = download_info.value
    assert re.fullmatch(r"cohort-\d+-grades-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    rows = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert [(row["learner"], row["results best test %"]) for row in rows] == [("ada", str(int(correct) * 10))]

    teacher.get_by_role("link", name="ada", exact=True).click()
    expect(teacher.get_by_role("heading", name="Tests (1)")).to_be_visible()
    teacher.locator("details.attempt summary").click()
    expect(teacher.locator("details.attempt table.answers tbody tr")).to_have_count(10)
    screenshot(teacher, "instructor-4-learner")

    teacher.go_back()
    teacher.get_by_role("link", name="Item analysis").click()
    expect(teacher.get_by_role("heading", name="Item analysis")).to_be_visible()
    expect(teacher.locator("table.item-table")).to_contain_text("Results in Django")
    screenshot(teacher, "instructor-5-items")
    teacher.context.close()
    learner.context.close()


# Where a cell is, relative to the grid's scroll box.
PLACE_IN_BOX = """([selector]) => {
  const box = document.querySelector(".grid-scroll").getBoundingClientRect();
  const cell = document.querySelector(selector).getBoundingClientRect();
  return [Math.round(cell.left - box.left), Math.round(cell.top - box.top)];
}"""


def settled_scroll(page) -> list[int]:
    """How far the grid's box has scrolled, once keyboard scrolling (smooth) has started and
    stopped. On a loaded machine it can start after a few hundred ms: two equal readings of
    [0, 0] are not the end of it (at most 5 s)."""
    last = None
    for _ in range(50):
        page.wait_for_timeout(100)
        now = page.evaluate(
            "(box => [box.scrollLeft, box.scrollTop])(document.querySelector('.grid-scroll'))"
        )
        if now == last and now != [0, 0]:
            break
        last = now
    return last


def test_the_grid_keeps_its_header_and_names_in_place_the_join_link_copies_and_stems_render(
    browser, live_server, curriculum
):
    report = seed_demo_cohort(learners=16, seed=3)
    cohort = report.cohort
    page = new_page(browser, live_server, width=390, height=844)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, report.instructor, password=DEMO_PASSWORD)
    page.goto(f"/instructor/cohorts/{cohort.pk}/")

    topic_heading, first_name = "thead th:nth-child(3)", "tbody tr:first-child th"
    heading_before = page.evaluate(PLACE_IN_BOX, [topic_heading])
    name_before = page.evaluate(PLACE_IN_BOX, [first_name])
    page.locator(".grid-scroll").focus()  # a keyboard scrolls it too
    for key in ("PageDown", "ArrowRight", "ArrowRight", "ArrowRight", "ArrowRight"):
        page.keyboard.press(key)
    left, top = settled_scroll(page)
    assert left > 0, "the grid scrolls sideways inside its box"
    assert top > 0, "the grid scrolls down inside its box"
    heading_after = page.evaluate(PLACE_IN_BOX, [topic_heading])
    name_after = page.evaluate(PLACE_IN_BOX, [first_name])
    # The header row stays at the top while its cells move sideways with the columns; the name
    # column stays at the left while its cells move up with the rows.
    assert heading_after[1] == heading_before[1]
    assert heading_after[0] < heading_before[0]
    assert name_after[0] == name_before[0]
    assert name_after[1] < name_before[1]
    screenshot(page, "instructor-grid-scrolled-phone")

    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("status")).to_have_text("Copied.")
    join_url = page.get_by_role("textbox", name="Learners join with this link").input_value()
    assert page.evaluate("navigator.clipboard.readText()") == join_url

    page.goto(f"/instructor/cohorts/{cohort.pk}/items/")
    expect(page.locator("details.formulas")).not_to_have_attribute("open", "")
    stems = page.locator(".item-table .stem")
    expect(stems.first.locator("p")).to_be_visible()
    assert stems.locator("code").count() > 10  # inline code and code blocks, rendered
    assert "`" not in "".join(stems.all_text_contents())
    screenshot(page, "instructor-items-phone")
    page.context.close()


def test_without_a_clipboard_the_copy_button_selects_the_link_to_copy_by_hand(browser, live_server):
    make_instructor("teacher")
    page = new_page(browser, live_server)
    page.context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'clipboard', {get: () => undefined})"
    )
    log_in(page, "teacher", path="/accounts/login/?next=/instructor/")
    page.get_by_label("Cohort name").fill("Spring")
    page.get_by_role("button", name="Create cohort").click()

    page.get_by_role("button", name="Copy link").click()

    expect(page.get_by_role("status")).not_to_be_empty()
    link = page.get_by_role("textbox", name="Learners join with this link")
    expect(link).to_be_focused()
    selected = link.evaluate("field => field.value.slice(field.selectionStart, field.selectionEnd)")
    assert selected == link.input_value()
    page.context.close()
