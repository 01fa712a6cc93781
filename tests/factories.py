"""Small functions that make test data."""

import itertools

from django.contrib.auth import get_user_model

from learn.models import Topic
from quizzes.models import Option, Question

_numbers = itertools.count(1)


def make_topic(**fields) -> Topic:
    n = next(_numbers)
    defaults = {
        "slug": f"topic-{n}",
        "title": f"Topic {n}",
        "summary": "A topic.",
        "minutes": 5,
        "tags": [],
        "order": n,
        "body": "Cheat sheet.",
        "source_path": "content/test.md",
    }
    return Topic.objects.create(**{**defaults, **fields})


def make_question(topic: Topic | None = None, **fields) -> Question:
    n = next(_numbers)
    defaults = {
        "slug": f"question-{n}",
        "topic": topic or make_topic(),
        "difficulty": "easy",
        "stem": "Which?",
        "explanation": "Because.",
        "hint": "Think.",
        "solution": "1. Step.",
        "common_mistakes": "- One.",
        "source_path": "content/test.md",
    }
    question = Question.objects.create(**{**defaults, **fields})
    Option.objects.create(question=question, key="A", text="Right", is_correct=True, position=0)
    Option.objects.create(question=question, key="B", text="Wrong", is_correct=False, position=1)
    return question


def make_learner(username: str | None = None):
    return get_user_model().objects.create_user(username or f"learner{next(_numbers)}", password="pw")
