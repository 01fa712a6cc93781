"""An instructor's journey in a real browser: create a cohort, a learner joins with the link and
takes a test, the instructor sees the score in the grid and downloads grades.csv."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import new_page, screenshot
from tests.factories import make_learner
from tests.instructor.factories import make_instructor
from tests.quizzes.factories import make_topic_with_questions

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, username: str, *, path: str = "/accounts/login/") -> None:
    page.goto(path)
    page.get_by_label("Username:").fill(username)
    page.get_by_label("Password:").fill("pw")
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
    join_url = teacher.get_by_role("textbox", name="Join link").input_value()
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
