from django.db.models import Prefetch
from django.shortcuts import get_object_or_404

from learn.models import Flashcard, Topic
from quizzes.models import ExplainPrompt, KeyConcept, Option, Question


def catalog_topics():
    return Topic.active.all()


def get_topic_page(slug: str) -> Topic:
    """An active topic with its active cards, questions (with options) and prompts."""
    queryset = Topic.active.prefetch_related(
        Prefetch("flashcards", queryset=Flashcard.active.all(), to_attr="active_flashcards"),
        Prefetch(
            "questions",
            queryset=Question.active.prefetch_related(
                Prefetch("options", queryset=Option.active.all(), to_attr="active_options")
            ),
            to_attr="active_questions",
        ),
        Prefetch(
            "explain_prompts",
            queryset=ExplainPrompt.active.prefetch_related(
                Prefetch("concepts", queryset=KeyConcept.active.all(), to_attr="active_concepts")
            ),
            to_attr="active_prompts",
        ),
    )
    return get_object_or_404(queryset, slug=slug)
