"""Test this pattern: drawing, answering, resuming, submitting once, and the result page."""

import random
from collections import Counter

import pytest
from django.db import IntegrityError
from django.utils import timezone

from learn.models import Topic
from quizzes.models import Attempt, AttemptQuestion, AttemptScore
from quizzes.queries import get_attempt_to_answer
from quizzes.services import draw_questions, submit_attempt
from tests.factories import make_learner, make_question
from tests.learn.test_content_check import GOOD_TOPIC, sync, write_topic
from tests.quizzes.factories import make_multi_answer_question, make_topic_with_questions

pytestmark = pytest.mark.django_db


def page_url(topic):
    return f"/topics/{topic.slug}/test/"


def start(client, topic) -> Attempt:
    client.post(page_url(topic))
    return Attempt.objects.filter(topic=topic, status=Attempt.Status.IN_PROGRESS).latest("pk")


def item_at(attempt, position) -> AttemptQuestion:
    return attempt.items.select_related("question").get(position=position)


def answer(client, attempt, position, keys, certainty="medium", *, save_and_next=False, **kwargs):
    data = {"options": keys, "certainty": certainty} | ({"next": "1"} if save_and_next else {})
    return client.post(f"/attempts/{attempt.pk}/questions/{position}/", data, **kwargs)


@pytest.fixture
def topic():
    return make_topic_with_questions(easy=4, medium=5, hard=4)


# --- access ---------------------------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_log_in(client, topic):
    response = client.get(page_url(topic))

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={page_url(topic)}"


def test_another_learner_gets_404_for_an_attempt_its_answers_and_its_submit(client, topic, learner):
    attempt = start(client, topic)
    client.force_login(make_learner())

    assert client.get(f"/attempts/{attempt.pk}/").status_code == 404
    assert answer(client, attempt, 1, ["A"]).status_code == 404
    assert client.post(f"/attempts/{attempt.pk}/submit/").status_code == 404
    assert not item_at(attempt, 1).is_answered
    assert not AttemptScore.objects.exists()


def test_two_learners_answers_and_scores_never_mix(client, topic, learner):
    mine = start(client, topic)
    for position in range(1, 11):
        answer(client, mine, position, ["A"])
    other = make_learner()
    client.force_login(other)
    theirs = start(client, topic)
    answer(client, theirs, 1, ["B"])
    client.post(f"/attempts/{theirs.pk}/submit/")
    client.force_login(learner)
    client.post(f"/attempts/{mine.pk}/submit/")

    assert theirs.pk != mine.pk
    assert AttemptScore.objects.get(attempt=mine).correct == 10
    assert AttemptScore.objects.get(attempt=theirs).correct == 0
    assert list(item_at(mine, 1).chosen.values_list("key", flat=True)) == ["A"]
    assert list(item_at(theirs, 1).chosen.values_list("key", flat=True)) == ["B"]
    page = client.get(page_url(topic)).content.decode()
    assert f"/attempts/{mine.pk}/" in page
    assert f"/attempts/{theirs.pk}/" not in page


# --- the draw -------------------------------------------------------------------------------


def test_a_test_draws_three_easy_four_medium_three_hard_in_that_order(client, topic, learner):
    attempt = start(client, topic)

    difficulties = list(attempt.items.order_by("position").values_list("difficulty", flat=True))
    assert difficulties == ["easy"] * 3 + ["medium"] * 4 + ["hard"] * 3


def test_a_topic_short_of_hard_questions_fills_from_medium(db):
    topic = make_topic_with_questions(easy=6, medium=6, hard=1)

    drawn = draw_questions(topic.questions.all(), rng=random.Random(1))

    assert Counter(question.difficulty for question in drawn) == {"easy": 3, "medium": 6, "hard": 1}


def test_a_topic_short_of_hard_and_medium_questions_fills_from_easy(db):
    topic = make_topic_with_questions(easy=8, medium=4, hard=1)

    drawn = draw_questions(topic.questions.all(), rng=random.Random(1))

    assert Counter(question.difficulty for question in drawn) == {"easy": 5, "medium": 4, "hard": 1}


def test_a_topic_short_of_easy_questions_still_draws_a_full_test_with_its_easy_one(db):
    # Topic 9 has this shape: the medium filled in for easy must not be taken back.
    topic = make_topic_with_questions(easy=1, medium=5, hard=4)

    drawn = draw_questions(topic.questions.all(), rng=random.Random(1))

    assert Counter(question.difficulty for question in drawn) == {"easy": 1, "medium": 5, "hard": 4}


def test_a_small_topic_gives_a_shorter_test_with_every_question(db):
    topic = make_topic_with_questions(easy=2, medium=1, hard=0)

    assert len(draw_questions(topic.questions.all())) == 3


def test_archived_questions_are_never_drawn(client, learner):
    topic = make_topic_with_questions(easy=3, medium=4, hard=3)
    archived = make_question(topic, difficulty="hard", archived_at=timezone.now())

    attempt = start(client, topic)

    assert attempt.items.count() == 10
    assert not attempt.items.filter(question=archived).exists()


def test_starting_twice_resumes_the_same_attempt(client, topic, learner):
    client.post(page_url(topic))
    client.post(page_url(topic))

    assert Attempt.objects.filter(learner=learner).count() == 1


def test_the_database_refuses_a_second_open_attempt_on_one_topic(client, topic, learner):
    start(client, topic)

    with pytest.raises(IntegrityError):
        Attempt.objects.create(learner=learner, topic=topic)


def test_a_topic_without_questions_says_so(client, learner):
    topic = make_topic_with_questions(easy=0, medium=0, hard=0)

    client.post(page_url(topic))
    page = client.get(page_url(topic)).content.decode()

    assert "This topic has no questions yet." in page
    assert not Attempt.objects.exists()


# --- answering and resuming -----------------------------------------------------------------


def test_an_answer_given_before_a_reload_is_still_there_and_the_test_resumes_at_the_next_question(
    client, topic, learner
):
    attempt = start(client, topic)
    first = item_at(attempt, 1)

    response = answer(client, attempt, 1, ["A"], headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "Answer saved." in response.content.decode()

    page = client.get(page_url(topic)).content.decode()  # the reload
    assert "Question 2 of 10" in page
    assert "1 of 10 answered" in page
    back = client.get(page_url(topic) + "?q=1").content.decode()
    assert first.question.stem in back
    assert 'value="A" id="q1-A" checked' in back
    assert 'value="B" id="q1-B">' in back


def test_an_earlier_answer_can_be_changed_until_submit(client, topic, learner):
    attempt = start(client, topic)
    answer(client, attempt, 1, ["A"])

    answer(client, attempt, 1, ["B"])

    assert list(item_at(attempt, 1).chosen.values_list("key", flat=True)) == ["B"]


def field_values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def test_an_answer_written_and_read_in_sql_is_what_the_orm_reads(client, topic, learner):
    """An answer's statements are hand-written SQL (config/plain_sql.py): what they store and the
    instances they build must be the ORM's, times aware and booleans booleans on either database."""
    attempt = start(client, topic)
    before = timezone.now()
    answer(client, attempt, 1, ["A"], certainty="high")
    answer(client, attempt, 2, ["B"], certainty="low")
    answer(client, attempt, 2, ["A"], certainty="medium")  # replaces the answer, not adds to it

    stored = {item.position: item for item in attempt.items.prefetch_related("chosen")}
    assert [option.key for option in stored[1].chosen.all()] == ["A"]
    assert [option.key for option in stored[2].chosen.all()] == ["A"]
    assert (stored[1].certainty, stored[2].certainty) == ("high", "medium")
    assert before <= stored[1].answered_at <= stored[2].answered_at <= timezone.now()
    attempt.refresh_from_db()
    assert attempt.last_answered_at == stored[2].answered_at
    assert not stored[3].is_answered

    submit_attempt(attempt)  # marks every item: is_correct True, False (and a time) on each
    read_attempt, read_items = get_attempt_to_answer(learner, attempt.pk)
    assert field_values(read_attempt) == field_values(Attempt.objects.get(pk=attempt.pk))
    orm_items = AttemptQuestion.objects.filter(attempt=attempt).order_by("position")
    assert [field_values(item) for item in read_items] == [field_values(item) for item in orm_items]
    assert read_attempt.submitted_at.tzinfo is not None
    assert {type(item.is_correct) for item in read_items} == {bool}


def test_an_autosave_replies_with_what_it_changed_and_leaves_the_question_on_the_page(client, topic, learner):
    attempt = start(client, topic)
    answer(client, attempt, 2, ["A"])

    response = answer(client, attempt, 1, ["B"], headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert response["HX-Reswap"] == "none"  # the learner's question, focus and choices stay as they are
    reply = response.content.decode()
    # out of band: the progress, the status, and the count before submitting
    assert '<nav class="test-progress" id="test-progress" aria-label="Questions" hx-swap-oob="true">' in reply
    assert "2 of 10 answered" in reply
    assert 'aria-current="step" class="answered">1<' in reply
    assert '<p id="save-status" hx-swap-oob="innerHTML">Answer saved.</p>' in reply
    assert '<p id="unanswered-note" hx-swap-oob="true">8 questions not answered yet' in reply
    assert item_at(attempt, 1).question.stem not in reply
    assert 'name="options"' not in reply
    assert [option.key for option in item_at(attempt, 1).chosen.all()] == ["B"]


def test_answering_without_javascript_saves_and_goes_to_the_next_unanswered_question(client, topic, learner):
    attempt = start(client, topic)
    answer(client, attempt, 2, ["A"])

    response = answer(client, attempt, 1, ["A"], save_and_next=True)

    assert response.status_code == 302
    assert response["Location"] == page_url(topic) + "?q=3"


def test_save_and_next_with_htmx_shows_the_next_question_and_pushes_its_url(client, topic, learner):
    attempt = start(client, topic)

    response = answer(client, attempt, 1, ["A"], save_and_next=True, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "Question 2 of 10" in response.content.decode()
    assert response["HX-Push-Url"] == page_url(topic) + "?q=2"
    assert "<html" not in response.content.decode()


def test_a_multi_answer_question_uses_checkboxes_and_a_single_answer_one_radios(client, learner):
    topic = make_topic_with_questions(easy=1, medium=0, hard=0)
    make_multi_answer_question(topic, difficulty="medium")
    start(client, topic)

    first = client.get(page_url(topic) + "?q=1").content.decode()
    second = client.get(page_url(topic) + "?q=2").content.decode()

    assert 'type="radio" name="options" value="A"' in first
    assert 'type="checkbox" name="options" value="A"' in second
    assert (
        '<label for="q2-C"><span class="option-key">C.</span> <span class="option-text"><p>Second right</p>'
        in second
    )


def test_a_tampered_option_key_is_a_form_error_and_saves_nothing(client, topic, learner):
    attempt = start(client, topic)

    response = answer(client, attempt, 1, ["Z"], headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "Z is not an option of this question." in response.content.decode()
    assert not item_at(attempt, 1).is_answered
    assert not item_at(attempt, 1).chosen.exists()


def test_an_option_of_another_question_is_refused(client, learner):
    topic = make_topic_with_questions(easy=1, medium=0, hard=0)
    make_multi_answer_question(topic, difficulty="medium")
    attempt = start(client, topic)

    response = answer(client, attempt, 1, ["C"])

    assert "C is not an option of this question." in response.content.decode()
    assert not item_at(attempt, 1).is_answered


def test_two_options_on_a_single_answer_question_are_refused(client, topic, learner):
    attempt = start(client, topic)

    response = answer(client, attempt, 1, ["A", "B"])

    assert "Choose one option" in response.content.decode()
    assert not item_at(attempt, 1).is_answered


def test_answering_a_submitted_attempt_shows_a_clear_message(client, topic, learner):
    attempt = start(client, topic)
    answer(client, attempt, 1, ["A"])
    client.post(f"/attempts/{attempt.pk}/submit/")

    response = answer(client, attempt, 1, ["B"], headers={"HX-Request": "true"})

    page = response.content.decode()
    assert response.status_code == 200
    assert "This test has already been submitted, so its answers can no longer change." in page
    assert f'href="/attempts/{attempt.pk}/"' in page
    assert list(item_at(attempt, 1).chosen.values_list("key", flat=True)) == ["A"]


# --- submitting -------------------------------------------------------------------------------


def test_a_replayed_submit_scores_once(client, topic, learner):
    attempt = start(client, topic)
    answer(client, attempt, 1, ["A"])

    first = client.post(f"/attempts/{attempt.pk}/submit/")
    answer(client, attempt, 2, ["A"])  # refused: already submitted
    second = client.post(f"/attempts/{attempt.pk}/submit/")

    assert first["Location"] == second["Location"] == f"/attempts/{attempt.pk}/"
    assert AttemptScore.objects.filter(attempt=attempt).count() == 1
    assert AttemptScore.objects.get(attempt=attempt).correct == 1


def test_the_database_refuses_a_second_score_for_one_attempt(client, topic, learner):
    attempt = start(client, topic)
    client.post(f"/attempts/{attempt.pk}/submit/")

    with pytest.raises(IntegrityError):
        AttemptScore.objects.create(attempt=attempt, correct=0, total=10, verdict="needs_work")


def test_the_database_refuses_a_submitted_attempt_without_a_submission_time(client, topic, learner):
    attempt = start(client, topic)

    with pytest.raises(IntegrityError):
        Attempt.objects.filter(pk=attempt.pk).update(status=Attempt.Status.SUBMITTED)


def test_submitting_the_service_twice_returns_the_first_score(client, topic, learner):
    attempt = start(client, topic)

    assert submit_attempt(attempt).pk == submit_attempt(attempt).pk


def test_a_multi_answer_question_is_correct_only_with_exactly_the_correct_set(client, learner):
    topic = make_topic_with_questions(easy=0, medium=0, hard=0)
    for _ in range(3):
        make_multi_answer_question(topic, difficulty="easy")
    attempt = start(client, topic)
    answer(client, attempt, 1, ["A", "C"])
    answer(client, attempt, 2, ["A"])
    answer(client, attempt, 3, ["A", "B", "C"])

    client.post(f"/attempts/{attempt.pk}/submit/")

    graded = list(attempt.items.order_by("position").values_list("is_correct", flat=True))
    assert graded == [True, False, False]


# --- the result page ------------------------------------------------------------------------


def answer_all(client, attempt, wrong_positions=()):
    for item in attempt.items.all():
        answer(client, attempt, item.position, ["B"] if item.position in wrong_positions else ["A"])


def test_the_result_shows_score_breakdown_verdict_and_every_question_with_explanation(client, topic, learner):
    attempt = start(client, topic)
    answer_all(client, attempt, wrong_positions={10})
    client.post(f"/attempts/{attempt.pk}/submit/")

    page = client.get(f"/attempts/{attempt.pk}/").content.decode()

    assert "9 of 10 correct (90 %)" in page
    assert "Verdict: <strong>strong</strong>" in page
    assert '<tr><th scope="row">Easy</th><td>3 of 3</td><td>100 %</td></tr>' in page
    assert '<tr><th scope="row">Hard</th><td>2 of 3</td><td>67 %</td></tr>' in page
    assert page.count('class="card question graded') == 10
    assert "Your answer: B." in page
    assert page.count("Correct: A.") == 10
    assert page.count("<p>Because.</p>") == 10


def test_eighty_percent_with_two_hard_questions_wrong_needs_work(client, topic, learner):
    attempt = start(client, topic)
    answer_all(client, attempt, wrong_positions={9, 10})
    client.post(f"/attempts/{attempt.pk}/submit/")

    page = client.get(f"/attempts/{attempt.pk}/").content.decode()

    assert "8 of 10 correct (80 %)" in page
    assert "Verdict: <strong>needs work</strong>" in page


def test_eighty_percent_spread_over_groups_is_strong(client, topic, learner):
    attempt = start(client, topic)
    answer_all(client, attempt, wrong_positions={1, 10})
    client.post(f"/attempts/{attempt.pk}/submit/")

    assert AttemptScore.objects.get(attempt=attempt).verdict == AttemptScore.Verdict.STRONG


def test_past_attempts_stay_listed_and_viewable_after_a_new_one_starts(client, topic, learner):
    first = start(client, topic)
    client.post(f"/attempts/{first.pk}/submit/")
    start(client, topic)

    page = client.get(page_url(topic)).content.decode()

    assert f'href="/attempts/{first.pk}/"' in page
    assert "0/10 (0 %)" in page
    assert client.get(f"/attempts/{first.pk}/").status_code == 200


def test_an_open_attempt_page_sends_back_to_the_test(client, topic, learner):
    attempt = start(client, topic)

    response = client.get(f"/attempts/{attempt.pk}/")

    assert response["Location"] == page_url(topic)


# --- query counts -----------------------------------------------------------------------------


def test_the_test_page_runs_a_fixed_number_of_queries(client, topic, learner, django_assert_num_queries):
    attempt = start(client, topic)
    answer_all(client, attempt)
    submit_attempt(attempt)
    attempt = start(client, topic)
    for position in (1, 2, 3):
        answer(client, attempt, position, ["A"])
    client.get(page_url(topic))  # a process's first page also reads the stored HTML, once

    # session, user, the nav's due-card count (learn.context_processors), the content version
    # (none: nothing was synced, so nothing is kept), topic, the open attempt with its items (one
    # statement), past attempts with scores, their questions, the shown question's options (the
    # first unanswered one: no answer to read)
    with django_assert_num_queries(9):
        response = client.get(page_url(topic))
    assert response.status_code == 200


def test_an_answer_runs_a_fixed_number_of_queries(client, topic, learner, django_assert_num_queries):
    attempt = start(client, topic)
    answer(client, attempt, 1, ["A"])
    client.get(page_url(topic))  # a process's first page also reads the stored HTML, once

    # session, user, the attempt with its items (one statement), the content version (none:
    # nothing was synced, so nothing is kept), the active topics, their questions, the
    # question's options; the write: the attempt's open check, the old answer deleted, the new
    # one inserted, the item's time. The reply shows what the answer changed, from the items in
    # hand: nothing more to read.
    # (The write's transaction is a savepoint inside the test's: two statements more.)
    with django_assert_num_queries(13):
        response = answer(client, attempt, 1, ["B"], headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "Answer saved." in response.content.decode()


def test_the_test_page_reads_the_answer_of_an_answered_question_it_shows(
    client, topic, learner, django_assert_num_queries
):
    attempt = start(client, topic)
    answer(client, attempt, 2, ["A"])
    client.get(page_url(topic))  # a process's first page also reads the stored HTML, once

    # as above, and the answer shown
    with django_assert_num_queries(10):
        response = client.get(f"{page_url(topic)}?q=2")
    assert 'value="A" id="q2-A" checked' in response.content.decode()


def test_save_and_next_reads_no_answer_for_the_unanswered_question_it_shows_next(
    client, topic, learner, django_assert_num_queries
):
    attempt = start(client, topic)
    client.get(page_url(topic))  # a process's first page also reads the stored HTML, once

    # as an answer's autosave (above): the next question is unanswered, and its options are
    # read; it has no answer to read
    with django_assert_num_queries(14):
        response = answer(client, attempt, 1, ["B"], save_and_next=True, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'name="options"' in response.content.decode()


def test_with_synced_content_an_answer_reads_the_attempt_its_items_and_the_content_version(
    client, learner, tmp_path, django_assert_num_queries
):
    write_topic(tmp_path, GOOD_TOPIC)
    sync(tmp_path)
    topic = Topic.objects.get(slug="demo-topic")
    attempt = start(client, topic)
    position = attempt.items.get(question__slug="demo-question").position
    client.get(f"{page_url(topic)}?q={position}")  # the first page after the sync keeps the questions

    # session, user, the attempt with its items (one statement), the content version (the
    # questions and their options are kept); the write as above, in a savepoint
    with django_assert_num_queries(10):
        response = answer(client, attempt, position, ["B"], headers={"HX-Request": "true"})
    assert "Answer saved." in response.content.decode()
    assert [option.key for option in item_at(attempt, position).chosen.all()] == ["B"]


def test_the_result_page_runs_a_fixed_number_of_queries(client, learner, tmp_path, django_assert_num_queries):
    write_topic(tmp_path, GOOD_TOPIC)
    sync(tmp_path)
    topic = Topic.objects.get(slug="demo-topic")
    attempt = start(client, topic)
    answer_all(client, attempt)
    client.post(f"/attempts/{attempt.pk}/submit/")
    client.get(f"/attempts/{attempt.pk}/")  # the first page after the sync keeps the questions

    # session, user, the content version, the nav's due-card count, the attempt with its topic
    # and score, its items, their chosen options (the questions and their options are kept)
    with django_assert_num_queries(7):
        response = client.get(f"/attempts/{attempt.pk}/")
    assert response.status_code == 200
