"""Focus after an htmx swap (issue 16, item 7) in practice and explain: a keyboard user lands on
what just appeared (the verdict, the next question, the hint, the score, the field to fix), not
back at the top of the page."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.browser.test_certainty import answer_with_certainty
from tests.factories import make_learner
from tests.quizzes.factories import make_topic_with_questions

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_practice_moves_focus_to_the_verdict_the_next_question_the_hint_and_the_field_to_fix(page):
    topic = make_topic_with_questions(easy=2, medium=0, hard=0, slug="focus", title="Focus")
    make_learner("ada")
    log_in(page, "ada")
    page.goto(f"/topics/{topic.slug}/practice/")

    page.get_by_role("button", name="Show hint").press("Enter")
    expect(page.locator(".hint")).to_be_focused()

    page.locator(".question input[name=options][value=A]").check()
    page.get_by_role("button", name="Check answer").press("Enter")
    expect(page.locator("fieldset.certainty input[name=certainty]").first).to_be_focused()

    answer_with_certainty(page, ".question", option="A", certainty="low")
    page.get_by_role("button", name="Check answer").press("Enter")
    expect(page.locator(".feedback")).to_be_focused()
    expect(page.locator(".feedback")).to_contain_text("Correct.")

    page.get_by_role("link", name="Next question").press("Enter")
    expect(page.locator("#practice-card")).to_be_focused()
    expect(page.locator("#practice-card")).to_contain_text("Question 2 of 2")


def test_explain_moves_focus_to_the_score(page, curriculum):
    make_learner("grace")
    log_in(page, "grace")
    page.goto("/topics/task-results-in-django/explain/")

    page.get_by_role("textbox", name="Your explanation").fill("The worker writes the states to the backend.")
    page.get_by_role("button", name="Check my explanation").press("Enter")
    expect(page.locator(".score-line")).to_be_focused()
    expect(page.locator(".score-line")).to_contain_text("You got")
