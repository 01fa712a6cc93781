"""Reads for the pages that show the course with what tests it: a topic's lesson page and the
misconception pages (they read quizzes' questions and prompts, so they live above them)."""

from dataclasses import dataclass

from django.db.models import Q
from django.shortcuts import get_object_or_404

from learn.curriculum.kept import kept_for_content
from learn.models import Claim, Flashcard, Misconception, Topic
from quizzes.models import ExplainPrompt, Option, Question


@dataclass
class TopicPage:
    """What a topic's lesson page shows of the course: the same for every learner."""

    topic: Topic
    claims: list[Claim]
    misconceptions: list[Misconception]


def get_topic_page(slug: str) -> TopicPage:
    """An active topic's page (the lesson: the cheat sheet and the steps, no answers); 404 for
    an unknown or archived one. Three queries, or none: kept per content version
    (learn/curriculum/kept.py), by slug, for topics that exist."""
    pages = kept_for_content("dashboard.queries.topic_pages", dict)  # filled as topics are asked for
    page = pages.get(slug)
    if page is None:
        topic = get_object_or_404(Topic.active, slug=slug)
        page = pages[slug] = TopicPage(topic, claims_cited_by(topic), misconceptions_tested_in(topic))
    return page


def claims_cited_by(topic: Topic) -> list[Claim]:
    """The active claims that the topic's active cards, questions and prompts cite (one query)."""
    cited = (
        Q(pk__in=Flashcard.active.filter(topic=topic).values("claims"))
        | Q(pk__in=Question.active.filter(topic=topic).values("claims"))
        | Q(pk__in=ExplainPrompt.active.filter(topic=topic).values("claims"))
    )
    return list(Claim.active.filter(cited))


# --- Misconceptions ------------------------------------------------------------------------
# A misconception is tested by the active questions that have one of their active wrong options
# tagged with it (quizzes.Option.misconception).


def get_misconception_page(slug: str) -> Misconception:
    """An active misconception with its refuting claim, `tested_by`: the active questions that
    test it, and `probed_by`: the active explain prompts with a wrong claim naming it, each with
    its topic, in curriculum order (three queries)."""
    misconception = get_object_or_404(Misconception.active.select_related("refuted_by"), slug=slug)
    misconception.tested_by = list(
        Question.active.filter(
            topic__archived_at__isnull=True,
            options__misconception=misconception,
            options__archived_at__isnull=True,
        )
        .select_related("topic")
        .distinct()
        .order_by("topic__order", "position")
    )
    misconception.probed_by = list(
        ExplainPrompt.active.filter(
            topic__archived_at__isnull=True,
            wrong_claims__misconception=misconception,
            wrong_claims__archived_at__isnull=True,
        )
        .select_related("topic")
        .distinct()
        .order_by("topic__order", "position")
    )
    return misconception


def misconceptions_tested_in(topic: Topic) -> list[Misconception]:
    """The active misconceptions that the topic's active questions test, by statement (one query)."""
    tested = Option.active.filter(question__in=Question.active.filter(topic=topic)).values("misconception")
    return list(Misconception.active.filter(pk__in=tested).order_by("statement"))


@dataclass
class MisconceptionGroup:
    topic: Topic | None  # None: tested by no question yet
    misconceptions: list[Misconception]


def misconceptions_by_topic() -> list[MisconceptionGroup]:
    """Every active misconception, under the first topic (in course order) whose questions test
    it; those no question tests come last (two queries)."""
    first_topic: dict[int, Topic] = {}
    options = (
        Option.active.filter(
            misconception__archived_at__isnull=True,
            question__archived_at__isnull=True,
            question__topic__archived_at__isnull=True,
        )
        .select_related("question__topic")
        .order_by("question__topic__order", "question__position", "position")
    )
    for option in options:
        first_topic.setdefault(option.misconception_id, option.question.topic)
    groups: dict[int | None, MisconceptionGroup] = {}
    for misconception in Misconception.active.order_by("statement"):
        topic = first_topic.get(misconception.pk)
        key = topic.pk if topic else None
        groups.setdefault(key, MisconceptionGroup(topic, [])).misconceptions.append(misconception)
    return sorted(groups.values(), key=lambda g: (g.topic is None, g.topic.order if g.topic else 0))
