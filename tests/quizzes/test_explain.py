"""Explain: reading claims (plain functions) and the explain page with its feedback."""

from types import SimpleNamespace

import pytest

from quizzes.explain import makes_claim, parse_claim, score_explanation, stem
from quizzes.models import ConceptMark, ExplainAnswer
from tests.factories import make_learner, make_topic
from tests.quizzes.factories import make_misconception, make_prompt, make_wrong_claim


def concept(key, *claims):
    return SimpleNamespace(key=key, name=key.title(), phrasings=list(claims))


def wrong(key, contradicts, *claims):
    return SimpleNamespace(key=key, name=key.title(), phrasings=list(claims), contradicts_key=contradicts)


WORKER_WRITES = "worker write/store/record state/result"


# --- reading claims -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "The worker writes the result.",
        "The Celery worker then stores each state.",
        "The worker, not the broker, writes the result.",
        "The states are written by the worker.",  # passive
        "the wroker records its result",  # a typo of a long word
        "The worker picks the task up and writes each state into the backend.",
    ],
)
def test_a_claim_is_found_when_its_subject_does_its_action(text):
    assert makes_claim(text, [WORKER_WRITES])


@pytest.mark.parametrize(
    "text",
    [
        "The broker writes the result.",  # the example: the right words, the wrong actor
        "The worker sends the task on and the broker writes the result.",
        "The worker does not write the result.",
        "The worker never stores a state.",
        "It is not the worker that writes the state.",
        "worker, writes, state, result",  # a keyword list makes no claim
        "The result is the worker's job.",  # the words, but not the claim
    ],
)
def test_the_words_without_the_claim_are_not_enough(text):
    assert not makes_claim(text, [WORKER_WRITES])


def test_a_bare_keyword_does_not_make_a_claim_about_it():
    nothing_stored = "pending mean nothing/no-record/unknown"

    assert not makes_claim("PENDING", [nothing_stored])
    assert not makes_claim("The task is PENDING.", [nothing_stored])
    assert makes_claim("PENDING means nothing is stored for the id.", [nothing_stored])


def test_a_negation_that_is_part_of_the_claim_is_required():
    avoid_get = "not/never/avoid call get"

    assert makes_claim("Don't call get() in a view.", [avoid_get])
    assert makes_claim("Never call result.get() there.", [avoid_get])
    assert not makes_claim("Call get() in the view.", [avoid_get])


def test_a_negation_in_another_clause_or_sentence_does_not_cancel_a_claim():
    assert makes_claim("It is not queued. The worker writes the state.", [WORKER_WRITES])
    assert makes_claim("Nothing else matters, the worker writes the state.", [WORKER_WRITES])


def test_word_forms_match_but_get_is_the_method_not_the_verb():
    assert stem("writes") == stem("written") == stem("writing") == stem("wrote") == stem("write")
    assert makes_claim("The view gets the id and calls get().", ["view call get"])
    assert not makes_claim("The view gets the id from the row.", ["view get"])


def test_a_malformed_claim_says_what_is_wrong():
    with pytest.raises(ValueError, match="empty alternative"):
        parse_claim("worker write//store state")


def test_a_wrong_claim_found_cancels_the_concept_it_contradicts():
    concepts = [concept("worker-writes", WORKER_WRITES), concept("pending", "pending mean nothing/no-record")]
    wrong_claims = [wrong("broker-writes", "worker-writes", "broker write/store result/state")]

    scoring = score_explanation(
        "The worker writes the state. Later the broker stores the result. PENDING means no record exists.",
        concepts,
        wrong_claims,
    )

    assert [(r.key, r.is_found, r.is_contradicted, r.counts) for r in scoring.concepts] == [
        ("worker-writes", True, True, False),
        ("pending", True, False, True),
    ]
    assert scoring.found_keys == ["pending"]
    assert [(w.key, w.sentence) for w in scoring.wrong_claims] == [
        ("broker-writes", "Later the broker stores the result")
    ]


def test_a_hedged_or_negated_wrong_claim_is_not_held_against_the_learner():
    wrong_claims = [wrong("pending-queued", "pending", "pending mean waiting/queued")]

    for text in ("PENDING can mean queued, or an unknown id.", "PENDING does not mean queued."):
        assert score_explanation(text, [], wrong_claims).wrong_claims == []


# --- the page -----------------------------------------------------------------------------------


@pytest.fixture
def prompt(db):
    prompt = make_prompt(make_topic())
    make_wrong_claim(prompt)
    return prompt


def explain_url(prompt):
    return f"/topics/{prompt.topic.slug}/explain/"


def test_an_anonymous_visitor_is_sent_to_log_in(client, prompt):
    response = client.get(explain_url(prompt))

    assert response["Location"] == f"/accounts/login/?next={explain_url(prompt)}"


def test_an_explanation_is_scored_and_shows_found_and_missed_concepts(client, prompt, learner):
    text = "The result backend keeps every state, which the wroker stored. Ready() is not success."

    response = client.post(explain_url(prompt), {"text": text}, headers={"HX-Request": "true"})

    page = response.content.decode()
    assert response.status_code == 200
    assert "You got <strong>3/5</strong> concepts." in page
    assert '<span class="tag tag-correct">found</span> Result backend stores states' in page
    assert '<span class="tag tag-correct">found</span> Worker writes the states' in page
    assert '<span class="tag tag-missed">missed</span> Results expire' in page
    answer = ExplainAnswer.objects.get()
    assert (answer.learner, answer.found_count, answer.total) == (learner, 3, 5)
    assert answer.found_keys == [
        "result-backend-stores-states",
        "worker-writes-the-states",
        "finished-is-not-success",
    ]
    assert answer.wrong_claim_keys == []


def test_a_wrong_claim_is_named_explained_and_costs_its_concept(client, prompt, learner):
    text = "The worker runs the task. Then the broker stores the result in Redis."

    response = client.post(explain_url(prompt), {"text": text}, headers={"HX-Request": "true"})

    page = response.content.decode()
    answer = ExplainAnswer.objects.get()
    assert answer.wrong_claim_keys == ["the-broker-writes-the-result"]
    assert "worker-writes-the-states" not in answer.found_keys
    assert "A wrong claim in your explanation" in page
    assert (
        "<strong>The broker writes the result</strong>: "
        "you wrote “Then the broker stores the result in Redis”" in page
    )
    assert "You may be thinking: “The broker stores a task&#x27;s state and result.”" in page
    assert "The broker only carries messages; the <strong>result backend</strong> stores states." in page
    assert "So “Worker writes the states” does not count." in page
    assert '<span class="tag tag-missed">contradicted</span> Worker writes the states' in page


def test_a_wrong_claim_links_the_lab_experiment_that_shows_it_wrong(client, learner, db):
    prompt = make_prompt(make_topic())
    make_wrong_claim(prompt, misconception=make_misconception(lab_slug="success"))

    page = client.post(
        explain_url(prompt), {"text": "The broker stores the result."}, headers={"HX-Request": "true"}
    ).content.decode()

    assert '<a href="/lab/success/">See it in the live lab</a>' in page


def test_every_missed_concept_links_the_cheat_sheet_section_that_teaches_it(client, prompt, learner):
    page = client.post(
        explain_url(prompt), {"text": "The worker writes the result."}, headers={"HX-Request": "true"}
    ).content.decode()

    section = f"/topics/{prompt.topic.slug}/#sheet-when-results-disappear"
    link = f'taught in <a href="{section}">When results disappear</a>'
    assert page.count(link) == 4  # the four missed concepts, not the found one


def test_the_model_answer_is_shown_after_each_check(client, prompt, learner):
    assert "Model answer" not in client.get(explain_url(prompt)).content.decode()

    response = client.post(explain_url(prompt), {"text": "No idea."}, headers={"HX-Request": "true"})

    page = response.content.decode()
    assert "You got <strong>0/5</strong> concepts." in page
    assert '<h2 id="model-answer-heading">Model answer</h2>' in page
    assert "The <strong>worker</strong> writes each state into the result backend." in page


def test_a_plain_post_redirects_and_the_page_shows_the_last_explanation(client, prompt, learner):
    response = client.post(explain_url(prompt), {"text": "Redis holds the result."})

    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "You got <strong>1/5</strong> concepts." in page
    assert "Redis holds the result.</textarea>" in page
    assert "Model answer" in page


def test_an_answer_scored_before_wrong_claims_keeps_its_score(client, prompt, learner):
    old = ExplainAnswer.objects.create(
        learner=learner,
        prompt=prompt,
        text="worker writes",
        found_keys=["worker-writes-the-states"],
        found_count=1,
        total=5,
    )

    page = client.get(explain_url(prompt)).content.decode()

    assert old.wrong_claim_keys == []
    assert "You got <strong>1/5</strong> concepts." in page
    assert "wrong-claims-heading" not in page


def test_an_empty_explanation_is_a_form_error(client, prompt, learner):
    response = client.post(explain_url(prompt), {"text": "  "}, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "Write your explanation first" in response.content.decode()
    assert not ExplainAnswer.objects.exists()


def test_marking_a_missed_concept_as_covered_is_recorded_apart_from_the_score(client, prompt, learner):
    client.post(explain_url(prompt), {"text": "Redis holds the result."})
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
    client.post(explain_url(prompt), {"text": "Redis holds the result."})
    answer = ExplainAnswer.objects.get()

    for key in ("result-backend-stores-states", "no-such-concept"):
        response = client.post(
            f"/explanations/{answer.pk}/covered/", {"concept": key}, headers={"HX-Request": "true"}
        )
        assert "Only a concept this explanation missed can be marked as covered." in response.content.decode()
    assert not ConceptMark.objects.exists()


def test_another_learner_gets_404_when_marking_an_explanation(client, prompt, learner):
    client.post(explain_url(prompt), {"text": "Redis holds the result."})
    answer = ExplainAnswer.objects.get()
    client.force_login(make_learner())

    response = client.post(f"/explanations/{answer.pk}/covered/", {"concept": "results-expire"})

    assert response.status_code == 404
    assert not ConceptMark.objects.exists()


def test_another_learners_explanation_is_not_shown(client, prompt, learner):
    client.post(explain_url(prompt), {"text": "Redis holds the result."})
    client.force_login(make_learner())

    page = client.get(explain_url(prompt)).content.decode()

    assert "You got" not in page
    assert "Redis holds the result" not in page


def test_the_explain_page_runs_a_fixed_number_of_queries(client, prompt, learner, django_assert_num_queries):
    make_prompt(prompt.topic)
    client.post(explain_url(prompt), {"text": "The broker stores the result."})

    # session, user, the nav's due-card count, the content version (none: nothing was synced, so
    # nothing is kept), topic, prompts, concepts, wrong claims, last explanation, its concepts,
    # its wrong claims, its marks
    with django_assert_num_queries(12):
        response = client.get(explain_url(prompt))
    assert response.status_code == 200
