"""Practice: one question at a time, graded at once, hints recorded, the lab link when it exists."""

import pytest

from quizzes.models import HintRequest, PracticeAnswer
from tests.factories import make_learner, make_question, make_topic
from tests.quizzes.factories import make_multi_answer_question

pytestmark = pytest.mark.django_db


@pytest.fixture
def topic():
    topic = make_topic()
    make_question(topic, slug="first-question", stem="What is first?", lab_experiment="failure")
    make_multi_answer_question(topic, slug="second-question", stem="Pick both.", difficulty="hard")
    return topic


def practice_url(topic):
    return f"/topics/{topic.slug}/practice/"


def test_an_anonymous_visitor_is_sent_to_log_in(client, topic):
    response = client.get(practice_url(topic))

    assert response["Location"] == f"/accounts/login/?next={practice_url(topic)}"


def test_practice_shows_the_first_unpractised_question_with_a_check_answer_button(client, topic, learner):
    page = client.get(practice_url(topic)).content.decode()

    assert "What is first?" in page
    assert "Question 1 of 2" in page
    assert '<button type="submit">Check answer</button>' in page
    assert "Because." not in page  # no explanation before answering


def test_an_htmx_answer_gives_the_verdict_explanation_solution_and_common_mistakes(client, topic, learner):
    response = client.post(
        practice_url(topic),
        {"question": "first-question", "options": ["B"], "certainty": "medium"},
        headers={"HX-Request": "true"},
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert "Not quite." in page
    assert "You chose B; the answer is A." in page
    assert "<p>Because.</p>" in page
    assert "<li>Step.</li>" in page
    assert "<li>One.</li>" in page
    answer = PracticeAnswer.objects.get()
    assert (answer.learner, answer.question.slug, answer.is_correct, answer.hint_taken) == (
        learner,
        "first-question",
        False,
        False,
    )


def test_a_plain_post_answer_redirects_to_the_feedback(client, topic, learner):
    response = client.post(
        practice_url(topic), {"question": "second-question", "options": ["A", "C"], "certainty": "medium"}
    )

    answer = PracticeAnswer.objects.get()
    assert response["Location"] == f"{practice_url(topic)}?q=second-question&answered={answer.pk}"
    page = client.get(response["Location"]).content.decode()
    assert "Correct." in page
    assert "You chose A, C; the answer is A, C." in page


def test_a_partly_right_multi_answer_is_wrong(client, topic, learner):
    client.post(practice_url(topic), {"question": "second-question", "options": ["A"], "certainty": "medium"})

    assert PracticeAnswer.objects.get().is_correct is False


def test_after_an_answer_the_next_unpractised_question_comes_first(client, topic, learner):
    client.post(practice_url(topic), {"question": "first-question", "options": ["A"], "certainty": "medium"})

    page = client.get(practice_url(topic)).content.decode()

    assert "Pick both." in page


def test_taking_the_hint_is_recorded_and_marks_the_next_answer(client, topic, learner):
    response = client.post(
        f"{practice_url(topic)}hint/", {"question": "first-question"}, headers={"HX-Request": "true"}
    )
    assert "Think." in response.content.decode()
    assert HintRequest.objects.filter(learner=learner, question__slug="first-question").count() == 1

    client.post(practice_url(topic), {"question": "first-question", "options": ["A"], "certainty": "medium"})
    client.post(practice_url(topic), {"question": "first-question", "options": ["A"], "certainty": "medium"})

    assert list(PracticeAnswer.objects.order_by("pk").values_list("hint_taken", flat=True)) == [True, False]


def test_the_hint_without_javascript_shows_on_the_question(client, topic, learner):
    response = client.post(f"{practice_url(topic)}hint/", {"question": "first-question"})

    page = client.get(response["Location"]).content.decode()
    assert "<p>Think.</p>" in page
    assert "Show hint" not in page


def test_a_tampered_option_is_a_form_error_and_records_nothing(client, topic, learner):
    response = client.post(
        practice_url(topic),
        {"question": "first-question", "options": ["Q"], "certainty": "medium"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert "Q is not an option of this question." in response.content.decode()
    assert not PracticeAnswer.objects.exists()


def test_a_question_of_another_topic_gets_404(client, topic, learner):
    elsewhere = make_question(make_topic(), slug="elsewhere")

    response = client.post(
        practice_url(topic), {"question": elsewhere.slug, "options": ["A"], "certainty": "medium"}
    )

    assert response.status_code == 404


def test_another_learners_answer_id_shows_no_feedback(client, topic, learner):
    client.post(practice_url(topic), {"question": "first-question", "options": ["A"], "certainty": "medium"})
    answer = PracticeAnswer.objects.get()
    client.force_login(make_learner())

    response = client.get(f"{practice_url(topic)}?q=first-question&answered={answer.pk}")

    assert response.status_code == 404


def test_a_question_names_its_lab_experiment_with_a_see_it_live_link(client, topic, learner):
    response = client.post(
        practice_url(topic),
        {"question": "first-question", "options": ["A"], "certainty": "medium"},
        headers={"HX-Request": "true"},
    )

    assert '<a class="lab-link" href="/lab/failure/">See it live in the lab</a>' in response.content.decode()
    assert client.get("/lab/failure/").status_code == 200


def test_there_is_no_lab_link_for_an_experiment_the_lab_does_not_have(client, topic, learner):
    topic.questions.filter(slug="first-question").update(lab_experiment="no-such-experiment")

    client.post(practice_url(topic), {"question": "first-question", "options": ["A"], "certainty": "medium"})
    page = client.get(f"{practice_url(topic)}?q=first-question&answered={PracticeAnswer.objects.get().pk}")

    assert "See it live" not in page.content.decode()


def test_the_practice_page_runs_a_fixed_number_of_queries(client, topic, learner, django_assert_num_queries):
    for _ in range(3):
        make_question(topic)
    client.post(practice_url(topic), {"question": "first-question", "options": ["A"], "certainty": "medium"})

    # session, user, the nav's due-card count, the content version (none: nothing was synced, so
    # nothing is kept), topic, questions with last answers, options, hint
    with django_assert_num_queries(8):
        response = client.get(practice_url(topic))
    assert response.status_code == 200
