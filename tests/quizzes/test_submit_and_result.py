"""A test as Moodle users expect it (issue 16, item 4): a confirmation before submitting, the
multi-answer rule on the question, the time taken, a right/wrong navigator on the result,
"practise what you missed", and no answerable page after submitting."""

import datetime as dt

import pytest

from quizzes.models import Attempt, AttemptScore
from tests.factories import make_learner
from tests.quizzes.factories import make_multi_answer_question, make_topic_with_questions
from tests.quizzes.test_attempts import answer, page_url, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def topic():
    return make_topic_with_questions(easy=3, medium=4, hard=3)


def submitted(client, topic, *, wrong=(), unanswered=()) -> Attempt:
    attempt = start(client, topic)
    for position in range(1, 11):
        if position not in unanswered:
            answer(client, attempt, position, ["B"] if position in wrong else ["A"])
    client.post(f"/attempts/{attempt.pk}/submit/")
    attempt.refresh_from_db()
    return attempt


# --- confirmation ---------------------------------------------------------------------------


def test_submit_test_leads_to_a_summary_naming_the_unanswered_questions_and_submits_nothing(
    client, topic, learner
):
    attempt = start(client, topic)
    answer(client, attempt, 1, ["A"])

    page = client.get(page_url(topic))
    assert '<input type="hidden" name="confirm" value="1">' in page.content.decode()
    confirm = client.get(page_url(topic), {"confirm": "1"}).content.decode()

    assert "Submit your test?" in confirm
    assert "1 of 10 questions answered" in confirm
    assert "Not answered (9):" in confirm
    assert f'href="{page_url(topic)}?q=2">question 2</a>' in confirm
    assert f'action="/attempts/{attempt.pk}/submit/"' in confirm
    assert "Submit now" in confirm
    assert "Back to the test" in confirm
    assert not AttemptScore.objects.exists()


def test_the_summary_names_answers_given_without_certainty(client, topic, learner):
    attempt = start(client, topic)
    answer(client, attempt, 1, ["A"])
    attempt.items.filter(position=1).update(certainty="")

    confirm = client.get(page_url(topic), {"confirm": "1"}).content.decode()

    assert "Answered without saying how sure (1):" in confirm
    assert f'href="{page_url(topic)}?q=1">question 1</a>' in confirm


def test_submit_now_grades_the_attempt_and_shows_the_result(client, topic, learner):
    attempt = start(client, topic)

    response = client.post(f"/attempts/{attempt.pk}/submit/", follow=True)

    assert response.redirect_chain[-1][0] == f"/attempts/{attempt.pk}/"
    assert "0 of 10 correct" in response.content.decode()


# --- the multi-answer rule --------------------------------------------------------------------


def test_a_multi_answer_question_says_it_is_all_or_nothing_on_the_test_and_in_practice(client, learner):
    topic = make_topic_with_questions(easy=0, medium=0, hard=0)
    make_multi_answer_question(topic)
    start(client, topic)

    test_page = client.get(page_url(topic)).content.decode()
    practice_page = client.get(f"/topics/{topic.slug}/practice/").content.decode()

    rule = "it counts as right only when you choose exactly the correct options, no more and no fewer"
    assert rule in test_page
    assert rule in practice_page


def test_a_single_answer_question_says_choose_one_without_the_rule(client, topic, learner):
    start(client, topic)

    page = client.get(page_url(topic)).content.decode()

    assert "Choose one option." in page
    assert "All or nothing" not in page


# --- time taken ---------------------------------------------------------------------------------


def test_the_result_says_how_long_the_test_took(client, topic, learner):
    attempt = submitted(client, topic)
    started_at = attempt.submitted_at - dt.timedelta(minutes=12, seconds=5)
    Attempt.objects.filter(pk=attempt.pk).update(started_at=started_at)

    page = client.get(f"/attempts/{attempt.pk}/").content.decode()

    assert 'Time taken: <strong class="time-taken">12 min 5 s</strong>' in page


def test_a_test_just_started_says_less_than_a_minute(client, topic, learner):
    start(client, topic)

    assert "Started less than a minute ago." in client.get(page_url(topic)).content.decode()


def test_the_test_screen_says_how_long_ago_it_started(client, topic, learner):
    attempt = start(client, topic)
    Attempt.objects.filter(pk=attempt.pk).update(started_at=attempt.started_at - dt.timedelta(minutes=7))

    page = client.get(page_url(topic)).content.decode()

    assert "Started 7 min ago." in page


# --- the navigator and practising what was missed ------------------------------------------------


def test_the_result_navigator_marks_each_question_right_wrong_or_unanswered_in_words(client, topic, learner):
    attempt = submitted(client, topic, wrong={2}, unanswered={3})

    page = client.get(f"/attempts/{attempt.pk}/").content.decode()

    assert 'aria-label="Questions, right or wrong"' in page
    assert 'href="#item-1" class="is-correct">1' in page
    assert 'href="#item-2" class="is-wrong">2' in page
    assert 'href="#item-3" class="is-unanswered">3' in page
    assert page.count('<span class="visually-hidden"> right</span>') == 8
    assert page.count('<span class="visually-hidden"> wrong</span>') == 1
    assert page.count('<span class="visually-hidden"> not answered</span>') == 1
    assert 'id="item-2"' in page


def test_practise_what_you_missed_goes_through_the_missed_questions_in_order(client, topic, learner):
    attempt = submitted(client, topic, wrong={2}, unanswered={5})
    missed_items = attempt.items.filter(position__in=[2, 5]).order_by("position")
    missed = list(missed_items.values_list("question__slug", flat=True))
    result = client.get(f"/attempts/{attempt.pk}/").content.decode()
    practice_url = f"/topics/{topic.slug}/practice/?missed={attempt.pk}"
    assert f'href="/topics/{topic.slug}/practice/?missed={attempt.pk}"' in result
    assert "Practise what you missed (2 questions)" in result

    first = client.get(practice_url).content.decode()
    assert "Practising what you missed in your test: question 1 of 2." in first
    assert f'value="{missed[0]}"' in first
    answered = client.post(
        f"/topics/{topic.slug}/practice/",
        {"question": missed[0], "options": ["A"], "certainty": "low", "missed": attempt.pk},
        follow=True,
    ).content.decode()
    assert f"?q={missed[1]}&amp;missed={attempt.pk}" in answered
    assert "Next question you missed" in answered

    second = client.get(f"/topics/{topic.slug}/practice/?q={missed[1]}&missed={attempt.pk}").content.decode()
    assert "question 2 of 2" in second
    last = client.post(
        f"/topics/{topic.slug}/practice/",
        {"question": missed[1], "options": ["A"], "certainty": "low", "missed": attempt.pk},
        follow=True,
    ).content.decode()
    assert "That was the last question you missed." in last


def test_all_right_offers_nothing_to_practise(client, topic, learner):
    attempt = submitted(client, topic)

    page = client.get(f"/attempts/{attempt.pk}/").content.decode()

    assert "Practise what you missed" not in page
    assert "nothing to practise from this test" in page


def test_another_learners_attempt_cannot_be_practised_from(client, topic, learner):
    attempt = submitted(client, topic, wrong={1})
    client.force_login(make_learner())

    assert client.get(f"/topics/{topic.slug}/practice/?missed={attempt.pk}").status_code == 404


def test_an_open_attempt_cannot_be_practised_from(client, topic, learner):
    attempt = start(client, topic)

    assert client.get(f"/topics/{topic.slug}/practice/?missed={attempt.pk}").status_code == 404


def test_a_malformed_missed_parameter_is_ignored(client, topic, learner):
    response = client.get(f"/topics/{topic.slug}/practice/?missed=abc")

    assert response.status_code == 200
    assert "Practising what you missed" not in response.content.decode()


# --- no stale page after submitting ------------------------------------------------------------------


def test_the_in_progress_test_screen_is_never_stored_by_the_browser(client, topic, learner):
    start(client, topic)

    for query in ({}, {"q": "2"}, {"confirm": "1"}):
        assert "no-store" in client.get(page_url(topic), query)["Cache-Control"]


def test_a_question_or_confirmation_url_of_a_submitted_attempt_shows_its_result(client, topic, learner):
    attempt = submitted(client, topic)

    for query in ({"q": "3"}, {"confirm": "1"}):
        response = client.get(page_url(topic), query)
        assert response.status_code == 302
        assert response["Location"] == f"/attempts/{attempt.pk}/"


def test_the_plain_test_url_after_submitting_offers_a_new_test_and_lists_the_result(client, topic, learner):
    attempt = submitted(client, topic)

    page = client.get(page_url(topic)).content.decode()

    assert "Start the test" in page
    assert f'href="/attempts/{attempt.pk}/"' in page
