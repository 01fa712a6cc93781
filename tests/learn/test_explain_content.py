"""Explain prompts in the content: concepts as claims with their cheat-sheet section, wrong claims
naming a misconception and the concept they contradict, the model answer; errors at file:line."""

import pytest

from quizzes.models import ExplainPrompt, KeyConcept, WrongClaim
from tests.learn.test_content_check import check, line_of, problems_for, sync, write_topic
from tests.learn.test_misconception_registry import TAGGED_TOPIC, write_misconception

WRONG_CLAIMS = """
#### Wrong claims

- Ready means success: ready mean/means success/succeeded
  misconception: ready-means-success
  contradicts: Failure is ready

#### Model answer
"""
WITH_WRONG_CLAIM = TAGGED_TOPIC.replace("\n#### Model answer\n", WRONG_CLAIMS)


def test_a_prompt_with_wrong_claims_passes_the_check(tmp_path):
    write_topic(tmp_path, WITH_WRONG_CLAIM)
    write_misconception(tmp_path)

    out, _ = check(tmp_path)

    assert "1 explain prompt" in out


@pytest.mark.parametrize(
    ("broken", "replacement", "at", "message"),
    [
        (
            "  section: Cheat sheet\n- Revoked",
            "- Revoked",
            "- Failure is ready:",
            "concept 'Failure is ready' has no 'section:' field",
        ),
        (
            "- Failure is ready: failure/failed ready\n  section: Cheat sheet",
            "- Failure is ready: failure/failed ready\n  section: Cheatsheet",
            "section: Cheatsheet",
            "concept 'Failure is ready' names section 'Cheatsheet', which is not a heading of this "
            "topic's cheat sheet (headings: 'Cheat sheet')",
        ),
        (
            "- Failure is ready: failure/failed ready",
            "- Failure is ready: failure//failed ready",
            "- Failure is ready:",
            "claim 'failure//failed ready' has an empty alternative in 'failure//failed'",
        ),
        (
            "- Failure is ready: failure/failed ready",
            "- Failure is ready failure/failed ready",
            "- Failure is ready failure",
            "expected a concept like '- Name: claim | another claim'",
        ),
        (
            "- Failure is ready: failure/failed ready\n  section: Cheat sheet",
            "- Failure is ready: failure/failed ready\n  section: Cheat sheet\n  sections: Cheat sheet",
            "sections: Cheat sheet",
            "unknown field 'sections' for a concept (allowed: section)",
        ),
        (
            "  contradicts: Failure is ready",
            "  contradicts: Failure is not ready",
            "contradicts: Failure is not ready",
            "wrong claim 'Ready means success' contradicts 'Failure is not ready', which is not a concept "
            "of 'demo-prompt' (concepts: 'Failure is ready', 'Revoked is ready', 'Success is ready')",
        ),
        (
            "  misconception: ready-means-success\n",
            "",
            "- Ready means success:",
            "wrong claim 'Ready means success' has no 'misconception:' field",
        ),
        (
            "  misconception: ready-means-success",
            "  misconception: ready-means-succes",
            "misconception: ready-means-succes",
            'explain prompt "demo-prompt" has wrong claim "Ready means success" naming unknown misconception '
            '"ready-means-succes": add content/misconceptions/ready-means-succes.md or fix the id',
        ),
        (
            "#### Model answer\n\nSUCCESS",
            "#### Model answers\n\nSUCCESS",
            "#### Model answers",
            "unknown subsection 'Model answers' for a explain",
        ),
    ],
    ids=[
        "no-section",
        "unknown-section",
        "empty-alternative",
        "no-colon",
        "unknown-field",
        "unknown-concept",
        "no-misconception",
        "unknown-misconception",
        "misspelt-subsection",
    ],
)
def test_a_broken_concept_or_wrong_claim_is_reported_at_its_line(tmp_path, broken, replacement, at, message):
    assert broken in WITH_WRONG_CLAIM
    path = write_topic(tmp_path, WITH_WRONG_CLAIM.replace(broken, replacement, 1))
    write_misconception(tmp_path)

    problems = problems_for(tmp_path)

    assert any(problem.startswith(f"{path}:{line_of(path, at)}: {message}") for problem in problems), problems


def test_a_prompt_without_a_model_answer_is_reported(tmp_path):
    text = WITH_WRONG_CLAIM[: WITH_WRONG_CLAIM.index("#### Model answer")]
    path = write_topic(tmp_path, text)
    write_misconception(tmp_path)

    assert (
        f"{path}:{line_of(path, '### explain: demo-prompt')}: "
        "explain 'demo-prompt' has no '#### Model answer' subsection" in problems_for(tmp_path)
    )


@pytest.mark.django_db
def test_sync_stores_wrong_claims_model_answers_and_section_anchors(tmp_path):
    write_topic(tmp_path, WITH_WRONG_CLAIM)
    write_misconception(tmp_path)

    sync(tmp_path)

    prompt = ExplainPrompt.objects.get(slug="demo-prompt")
    assert prompt.model_answer.startswith("SUCCESS, FAILURE and REVOKED are the ready states")
    concept = KeyConcept.objects.get(prompt=prompt, key="failure-is-ready")
    assert (concept.phrasings, concept.section_heading, concept.section_anchor) == (
        ["failure/failed ready"],
        "Cheat sheet",
        "sheet-cheat-sheet",
    )
    wrong = WrongClaim.objects.get(prompt=prompt)
    assert (wrong.key, wrong.misconception.slug, wrong.contradicts, wrong.phrasings) == (
        "ready-means-success",
        "ready-means-success",
        concept,
        ["ready mean/means success/succeeded"],
    )
    assert sync(tmp_path) == "Content is up to date: nothing changed."


@pytest.mark.django_db
def test_a_removed_wrong_claim_is_archived(tmp_path):
    write_topic(tmp_path, WITH_WRONG_CLAIM)
    write_misconception(tmp_path)
    sync(tmp_path)

    write_topic(tmp_path, TAGGED_TOPIC)
    sync(tmp_path)

    assert WrongClaim.objects.get().archived_at is not None


@pytest.mark.django_db
def test_the_topic_page_gives_each_cheat_sheet_heading_the_anchor_feedback_links_to(client, tmp_path):
    write_topic(tmp_path, WITH_WRONG_CLAIM)
    write_misconception(tmp_path)
    sync(tmp_path)

    page = client.get("/topics/demo-topic/").content.decode()

    assert '<h2 id="sheet-cheat-sheet">Cheat sheet</h2>' in page
