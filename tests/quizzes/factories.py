"""Test data for the quiz modes."""

import itertools

from learn.models import Topic
from quizzes.models import ExplainPrompt, KeyConcept, Option, Question
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
    n = next(_numbers)
    defaults = {
        "slug": f"prompt-{n}",
        "topic": topic or make_topic(),
        "prompt": "Explain how a task's result reaches Django.",
        "hint": "Follow the task id.",
        "source_path": "content/test.md",
    }
    prompt = ExplainPrompt.objects.create(**{**defaults, **fields})
    concepts = concepts or {
        "Result backend stores states": ["result backend", "backend", "redis", "django-db"],
        "Worker writes the states": ["worker writes", "worker stores", "worker records"],
        "STARTED needs tracking": ["track_started", "task_track_started", "track started"],
        "Finished is not success": ["success", "successful()"],
        "Results expire": ["expire", "result_expires", "ttl", "one day"],
    }
    for position, (name, phrasings) in enumerate(concepts.items()):
        KeyConcept.objects.create(
            prompt=prompt,
            key=name.lower().replace(" ", "-"),
            name=name,
            phrasings=phrasings,
            position=position,
        )
    return prompt
