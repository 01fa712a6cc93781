"""Test data for the quiz modes."""

import itertools

from learn.models import Claim, Misconception, Topic
from quizzes.models import ExplainPrompt, KeyConcept, Option, Question, WrongClaim
from tests.factories import make_question, make_topic

_numbers = itertools.count(1)


def make_topic_with_questions(easy: int = 4, medium: int = 5, hard: int = 4, **topic_fields) -> Topic:
    """A topic with the given number of questions per difficulty; each has A right, B wrong."""
    topic = make_topic(**topic_fields)
    for difficulty, count in (("easy", easy), ("medium", medium), ("hard", hard)):
        for _ in range(count):
            make_question(topic, difficulty=difficulty, stem=f"{difficulty} stem {next(_numbers)}")
    return topic


def make_multi_answer_question(topic: Topic, **fields) -> Question:
    """A question whose correct answer is A and C (of A to D)."""
    question = make_question(topic, **fields)
    question.options.all().delete()
    for position, (key, text, is_correct) in enumerate(
        [
            ("A", "First right", True),
            ("B", "Wrong one", False),
            ("C", "Second right", True),
            ("D", "Also wrong", False),
        ]
    ):
        Option.objects.create(question=question, key=key, text=text, is_correct=is_correct, position=position)
    return question


def make_prompt(
    topic: Topic | None = None, concepts: dict[str, list[str]] | None = None, **fields
) -> ExplainPrompt:
    """A prompt with concepts (claims in the content syntax, quizzes/explain.py), each taught
    in a section of the topic's cheat sheet, and a model answer."""
    n = next(_numbers)
    defaults = {
        "slug": f"prompt-{n}",
        "topic": topic or make_topic(),
        "prompt": "Explain how a task's result reaches Django.",
        "hint": "Follow the task id.",
        "model_answer": "The **worker** writes each state into the result backend.",
        "source_path": "content/test.md",
    }
    prompt = ExplainPrompt.objects.create(**{**defaults, **fields})
    concepts = concepts or {
        "Result backend stores states": [
            "backend/redis store/keep/hold state/result",
            "store/write in/into backend",
        ],
        "Worker writes the states": ["worker write/store/record"],
        "STARTED needs tracking": ["started track_started/task_track_started"],
        "Finished is not success": ["ready not/never success"],
        "Results expire": ["result/results expire", "result_expires day"],
    }
    for position, (name, phrasings) in enumerate(concepts.items()):
        KeyConcept.objects.create(
            prompt=prompt,
            key=name.lower().replace(" ", "-"),
            name=name,
            phrasings=phrasings,
            section_heading="When results disappear",
            section_anchor="sheet-when-results-disappear",
            position=position,
        )
    return prompt


def make_misconception(slug: str = "broker-stores-results", **fields) -> Misconception:
    claim, _ = Claim.objects.get_or_create(
        slug="backend-urls-name-real-backends",
        defaults={
            "statement": "The result backend stores results.",
            "check_path": "tests/claims/x.py::t",
            "modes": "both",
            "source_path": "content/claims/x.md",
        },
    )
    defaults = {
        "statement": "The broker stores a task's state and result.",
        "why_wrong": "The broker only carries messages; the **result backend** stores states.",
        "refuted_by": claim,
        "source_path": "content/misconceptions/x.md",
    }
    return Misconception.objects.create(slug=slug, **{**defaults, **fields})


def make_wrong_claim(
    prompt: ExplainPrompt, *, contradicts: str = "worker-writes-the-states", **fields
) -> WrongClaim:
    defaults = {
        "key": "the-broker-writes-the-result",
        "name": "The broker writes the result",
        "phrasings": ["broker write/store result/state"],
        "misconception": fields.pop("misconception", None) or make_misconception(),
        "contradicts": prompt.concepts.get(key=contradicts),
    }
    return WrongClaim.objects.create(prompt=prompt, **{**defaults, **fields})


def make_tagged_question(topic: Topic, misconception: Misconception, **fields) -> Question:
    """A question with A right and B wrong, B tagged with `misconception`."""
    question = make_question(topic, **fields)
    question.options.filter(key="B").update(misconception=misconception)
    return question
