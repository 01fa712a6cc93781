"""The explain scorer against answers a teacher labelled (tests/quizzes/labelled_answers/).

The aims (issue 15, docs/scoring.md "How well it scores"): the scorer's score equals the
teacher's on at least 90 % of the answers, is within one point on every answer, gives no answer
with a wrong claim full marks, and gives no keyword list more than half.
"""

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from learn.curriculum.parse import parse_file
from quizzes.explain import score_explanation

LABELLED = Path(__file__).parent / "labelled_answers"
# Written after the claims were tuned and never used to tune them: how the scorer does on
# answers it was not fitted to (docs/scoring.md reports the figures).
HELD_OUT = LABELLED / "held_out"
EXACT_AGREEMENT_AIM = 0.9


@dataclass(frozen=True)
class WrongClaimSource:
    key: str
    name: str
    phrasings: list[str]
    contradicts_key: str


@dataclass(frozen=True)
class Scored:
    prompt: str
    kind: str
    text: str
    teacher: set[str]
    scorer: set[str]
    total: int
    has_wrong_claim: bool
    wrong_claims_found: list[str]

    @property
    def difference(self) -> int:
        return len(self.scorer) - len(self.teacher)


def shipped_prompts() -> dict:
    prompts = {}
    for path in sorted((settings.BASE_DIR / "content").glob("[0-9]*.md")):
        topic, _ = parse_file(path)
        for item in topic.of_kind("explain"):
            keys = {concept.name: concept.key for concept in item.concepts}
            wrong = [
                WrongClaimSource(claim.key, claim.name, claim.phrasings, keys.get(claim.contradicts, ""))
                for claim in item.wrong_claims
            ]
            prompts[item.id] = (item.concepts, wrong)
    return prompts


def scored_answers(folder: Path = LABELLED) -> list[Scored]:
    prompts = shipped_prompts()
    scored = []
    for path in sorted(folder.glob("*.yaml")):
        for entry in yaml.safe_load(path.read_text()):
            concepts, wrong_claims = prompts[entry["prompt"]]
            for answer in entry["answers"]:
                scoring = score_explanation(answer["text"], concepts, wrong_claims)
                scored.append(
                    Scored(
                        prompt=entry["prompt"],
                        kind=answer["kind"],
                        text=answer["text"],
                        teacher=set(answer["found"]),
                        scorer=set(scoring.found_keys),
                        total=len(concepts),
                        has_wrong_claim=answer.get("wrong", False),
                        wrong_claims_found=[result.key for result in scoring.wrong_claims],
                    )
                )
    return scored


@pytest.fixture(scope="module")
def scored():
    return scored_answers()


def agreement_report(scored: list[Scored]) -> str:
    exact = sum(1 for answer in scored if answer.difference == 0)
    lines = [f"exact agreement: {exact} of {len(scored)} answers ({exact / len(scored):.1%})"]
    for answer in scored:
        if answer.difference:
            lines.append(
                f"  {answer.prompt} [{answer.kind}] teacher {len(answer.teacher)}, scorer "
                f"{len(answer.scorer)}: missed {sorted(answer.teacher - answer.scorer)}, "
                f"extra {sorted(answer.scorer - answer.teacher)}"
            )
    return "\n".join(lines)


def test_every_prompt_has_at_least_twelve_labelled_answers_of_every_kind_asked_for(scored):
    prompts = shipped_prompts()
    for prompt in prompts:
        kinds = [answer.kind for answer in scored if answer.prompt == prompt]
        assert len(kinds) >= 12, prompt
        assert {"paraphrase", "partial", "wrong-claim", "negated", "keywords", "off-topic"} <= set(kinds), (
            prompt
        )


def test_labels_name_only_concepts_of_their_prompt(scored):
    prompts = shipped_prompts()
    for answer in scored:
        keys = {concept.key for concept in prompts[answer.prompt][0]}
        assert answer.teacher <= keys, (answer.prompt, answer.teacher - keys)


def test_the_scorer_agrees_exactly_with_the_teacher_on_at_least_90_percent(scored):
    exact = sum(1 for answer in scored if answer.difference == 0)
    print(agreement_report(scored))
    assert exact / len(scored) >= EXACT_AGREEMENT_AIM, agreement_report(scored)


def test_the_scorer_is_within_one_point_of_the_teacher_on_every_answer(scored):
    far = [answer for answer in scored if abs(answer.difference) > 1]
    assert not far, agreement_report(far)


def test_no_answer_with_a_wrong_claim_scores_full_marks(scored):
    full = [answer for answer in scored if answer.has_wrong_claim and len(answer.scorer) == answer.total]
    assert not full, [(answer.prompt, answer.text) for answer in full]


def test_no_keyword_list_scores_more_than_half(scored):
    over = [
        answer for answer in scored if answer.kind == "keywords" and len(answer.scorer) > answer.total / 2
    ]
    assert not over, [(answer.prompt, answer.text) for answer in over]


def test_every_shipped_prompt_lists_wrong_claims_and_a_model_answer():
    for path in sorted((settings.BASE_DIR / "content").glob("[0-9]*.md")):
        topic, _ = parse_file(path)
        for item in topic.of_kind("explain"):
            assert item.wrong_claims, item.id
            assert item.sections.get("Model answer", "").strip(), item.id


def test_on_held_out_answers_the_safety_aims_hold_and_the_agreement_is_reported():
    held_out = scored_answers(HELD_OUT)
    print("held out:", agreement_report(held_out))

    assert len(held_out) >= 60
    assert not [a for a in held_out if a.has_wrong_claim and len(a.scorer) == a.total]
    assert not [a for a in held_out if a.kind == "keywords" and len(a.scorer) > a.total / 2]
