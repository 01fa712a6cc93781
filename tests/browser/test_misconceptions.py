"""A misconception's life in a real browser (issue 15): a learner answers with high certainty,
choosing an option that embodies a wrong belief; the feedback names the belief, refutes it and
links the lab; the dashboard lists it; the instructor sees it on the cohort's map and the
learner's page; a confident right answer later clears it from the dashboard."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, new_page, screenshot
from tests.browser.test_certainty import answer_with_certainty
from tests.factories import make_learner, make_topic
from tests.instructor.factories import make_cohort, make_instructor
from tests.quizzes.factories import make_misconception, make_tagged_question

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BELIEF = "You may be thinking that PENDING means the task is queued."


def test_a_confident_wrong_answer_names_the_belief_until_a_confident_right_answer_clears_it(
    browser, live_server, page
):
    topic = make_topic(slug="states", title="Task states")
    misconception = make_misconception(
        "pending-means-queued", statement="PENDING means the task is queued.", lab_slug="success"
    )
    first = make_tagged_question(topic, misconception, slug="pending-q", stem="What does PENDING say?")
    make_tagged_question(topic, misconception, slug="pending-again-q", stem="And after a restart?")
    ada = make_learner("ada")
    cohort = make_cohort(make_instructor("teacher"), name="Tuesday group", learners=[ada])
    log_in(page, "ada")

    # A wrong answer at high certainty, on an option tagged with the belief.
    page.goto(f"/topics/{topic.slug}/practice/?q={first.slug}")
    answer_with_certainty(page, ".question", option="B", certainty="high")
    page.get_by_role("button", name="Check answer").click()
    feedback = page.get_by_role("complementary", name="A belief behind this answer")
    expect(feedback).to_contain_text(BELIEF)
    expect(feedback).to_contain_text("The result backend stores results.")  # the refuting claim
    expect(feedback.get_by_role("link", name="See it wrong in the lab")).to_have_attribute(
        "href", "/lab/success/"
    )
    screenshot(page, "misconceptions-1-practice-feedback")

    # The dashboard lists it, with a question to practise it.
    page.goto("/dashboard/")
    beliefs = page.locator(".open-misconceptions")
    expect(beliefs.get_by_role("heading")).to_have_text("Beliefs to check (1)")
    expect(beliefs).to_contain_text(BELIEF)
    screenshot(page, "misconceptions-2-dashboard")

    # The instructor sees it on the cohort's map, and drills down to the learner.
    teacher = new_page(browser, live_server)
    log_in(teacher, "teacher")
    teacher.goto(f"/instructor/cohorts/{cohort.pk}/")
    teacher.get_by_role("link", name="Misconception map").click()
    row = teacher.locator("#misconception-pending-means-queued")
    expect(row).to_contain_text("PENDING means the task is queued.")
    expect(row.locator(".learner-count")).to_have_text("1")
    expect(row.locator(".weighted-score")).to_have_text("3")
    expect(row).to_contain_text(first.slug)
    screenshot(teacher, "misconceptions-3-cohort-map")
    row.get_by_role("link", name="1 learner").click()
    teacher.get_by_role("link", name="ada").click()
    section = teacher.locator("section", has=teacher.get_by_role("heading", name="Misconceptions (1)"))
    expect(section).to_contain_text("held")
    expect(section).to_contain_text("high certainty")
    screenshot(teacher, "misconceptions-4-learner-page")
    teacher.context.close()

    # A confident right answer to a question that tests it clears it from the dashboard.
    page.get_by_role("link", name="Practise a question on it").click()
    expect(page.get_by_text("What does PENDING say?")).to_be_visible()
    answer_with_certainty(page, ".question", option="A", certainty="high")
    page.get_by_role("button", name="Check answer").click()
    expect(page.locator(".feedback")).to_contain_text("Correct.")
    expect(page.get_by_text(BELIEF)).to_have_count(0)
    page.goto("/dashboard/")
    expect(beliefs.get_by_role("heading")).to_have_text("Beliefs to check (0)")
    expect(page.get_by_text(BELIEF)).to_have_count(0)
    screenshot(page, "misconceptions-5-dashboard-cleared")
