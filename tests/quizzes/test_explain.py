"""Explain: concept matching (plain functions) and the explain page."""

from types import SimpleNamespace

import pytest

from quizzes.explain import (
    PHRASE_THRESHOLD,
    SINGLE_WORD_THRESHOLD,
    find_concepts,
    names_phrasing,
    split_words,
)
from quizzes.models import ConceptMark, ExplainAnswer
from tests.factories import make_learner, make_topic
from tests.quizzes.factories import make_prompt


def concept(key, *phrasings):
    return SimpleNamespace(key=key, name=key.title(), phrasings=list(phrasings))


def named(text, phrasing):
    return names_phrasing(split_words(text), phrasing)


# --- matching ---------------------------------------------------------------------------------


def test_the_thresholds_are_the_documented_ones():
    assert (SINGLE_WORD_THRESHOLD, PHRASE_THRESHOLD) == (85, 80)


@pytest.mark.parametrize(
    ("text", "phrasing"),
    [
        ("The result backnd keeps every state", "result backend"),  # typo
        ("the rezult backend", "result backend"),
        ("the backend for results", "result backend"),  # word order, one extra word
        ("you need started tracking", "track started"),  # word order and word form
        ("the wroker stored them", "worker stores"),  # typo and word form
        ("results expires after a day", "expire"),  # word form
        ("Results expired.", "expire"),
        ("Call app.AsyncResult(task_id) later", "app.asyncresult"),  # code in prose
        ("set result_expiers", "result_expires"),
        ("Don't call get() in a view", "do not call get"),  # contraction
        ("the TTL is one day", "ttl"),
    ],
)
def test_typos_word_forms_and_word_order_are_accepted(text, phrasing):
    assert named(text, phrasing)


@pytest.mark.parametrize(
    ("text", "phrasing"),
    [
        ("pour some water", "later"),  # ratio 80, under the single-word threshold
        ("a tall tree", "ttl"),  # short phrasings must be exact
        ("the id of the task", "task_id"),
        ("you call get in the view", "do not call get"),  # the phrasing's own "not" is required
        ("there is a record", "no record"),
    ],
)
def test_unrelated_or_near_words_are_not_accepted(text, phrasing):
    assert not named(text, phrasing)


@pytest.mark.parametrize(
    "text",
    [
        "ready() does not mean success",
        "ready() doesn't mean success",
        "It isn't a success.",
        "That is never success",
        "no success there",
        "ready() is not success",
    ],
)
def test_a_negated_phrase_does_not_name_the_concept(text):
    assert not named(text, "success")


def test_a_negation_in_another_clause_does_not_count():
    assert named("It is not ready. Success means the function returned.", "success")
    assert named("not that one, success is what I mean", "success")


def test_one_plain_mention_is_enough_beside_a_negated_one():
    assert named("ready() does not mean success; successful() checks success", "success")


def test_a_negation_inside_the_matched_words_counts():
    assert not named("the worker never writes", "worker writes")


def test_find_concepts_reports_each_concept_in_order():
    concepts = [
        concept("backend", "result backend", "redis"),
        concept("tracking", "track started"),
        concept("success", "success"),
    ]

    results = find_concepts("The rezult backnd holds it; ready() does not mean success.", concepts)

    assert [(result.key, result.is_found) for result in results] == [
        ("backend", True),
        ("tracking", False),
        ("success", False),
    ]


# --- the page ---------------------------------------------------------------------------------


@pytest.fixture
def prompt(db):
    return make_prompt(make_topic())


def explain_url(prompt):
    return f"/topics/{prompt.topic.slug}/explain/"


def test_an_anonymous_visitor_is_sent_to_log_in(client, prompt):
    response = client.get(explain_url(prompt))

    assert response["Location"] == f"/accounts/login/?next={explain_url(prompt)}"


def test_an_explanation_is_scored_and_shows_found_and_missed_concepts(client, prompt, learner):
    text = "The rezult backnd keeps states the wroker stored. Ready() does not mean success."

    response = client.post(explain_url(prompt), {"text": text}, headers={"HX-Request": "true"})

    page = response.content.decode()
    assert response.status_code == 200
    assert "You got <strong>2/5</strong> concepts." in page
    assert '<span class="tag tag-correct">found</span> Result backend stores states' in page
    assert '<span class="tag tag-correct">found</span> Worker writes the states' in page
    assert '<span class="tag tag-missed">missed</span> Finished is not success' in page
    answer = ExplainAnswer.objects.get()
    assert (answer.learner, answer.found_count, answer.total) == (learner, 2, 5)
    assert answer.found_keys == ["result-backend-stores-states", "worker-writes-the-states"]


def test_a_plain_post_redirects_and_the_page_shows_the_last_explanation(client, prompt, learner):
    response = client.post(explain_url(prompt), {"text": "Redis holds it"})

    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "You got <strong>1/5</strong> concepts." in page
    assert "Redis holds it</textarea>" in page


def test_an_empty_explanation_is_a_form_error(client, prompt, learner):
    response = client.post(explain_url(prompt), {"text": "  "}, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "Write your explanation first" in response.content.decode()
    assert not ExplainAnswer.objects.exists()


def test_marking_a_missed_concept_as_covered_is_recorded_apart_from_the_score(client, prompt, learner):
    client.post(explain_url(prompt), {"text": "Redis holds it"})
    answer = ExplainAnswer.objects.get()

    response = client.post(
        f"/explanations/{answer.pk}/covered/", {"concept": "results-expire"}, headers={"HX-Request": "true"}
    )
    client.post(f"/explanations/{answer.pk}/covered/", {"concept": "results-expire"})  # replayed

    page = response.content.decode()
    assert "You got <strong>1/5</strong> concepts (and marked 1 more as covered yourself)." in page
    assert '<span class="tag">marked as covered by you</span> Results expire' in page
    assert list(ConceptMark.objects.values_list("concept__key", flat=True)) == ["results-expire"]
    answer.refresh_from_db()
    assert answer.found_count == 1


def test_a_found_or_unknown_concept_cannot_be_marked(client, prompt, learner):
    client.post(explain_url(prompt), {"text": "Redis holds it"})
    answer = ExplainAnswer.objects.get()

    for key in ("result-backend-stores-states", "no-such-concept"):
        response = client.post(
            f"/explanations/{answer.pk}/covered/", {"concept": key}, headers={"HX-Request": "true"}
        )
        assert "Only a concept this explanation missed can be marked as covered." in response.content.decode()
    assert not ConceptMark.objects.exists()


def test_another_learner_gets_404_when_marking_an_explanation(client, prompt, learner):
    client.post(explain_url(prompt), {"text": "Redis holds it"})
    answer = ExplainAnswer.objects.get()
    client.force_login(make_learner())

    response = client.post(f"/explanations/{answer.pk}/covered/", {"concept": "results-expire"})

    assert response.status_code == 404
    assert not ConceptMark.objects.exists()


def test_another_learners_explanation_is_not_shown(client, prompt, learner):
    client.post(explain_url(prompt), {"text": "Redis holds it"})
    client.force_login(make_learner())

    page = client.get(explain_url(prompt)).content.decode()

    assert "You got" not in page
    assert "Redis holds it" not in page


def test_the_explain_page_runs_a_fixed_number_of_queries(client, prompt, learner, django_assert_num_queries):
    make_prompt(prompt.topic)
    client.post(explain_url(prompt), {"text": "Redis holds it"})

    # session, user, the nav's due-card count, topic, prompts, concepts, last explanation,
    # its concepts, its marks
    with django_assert_num_queries(9):
        response = client.get(explain_url(prompt))
    assert response.status_code == 200
