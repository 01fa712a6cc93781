import datetime as dt
from dataclasses import dataclass, field

import fsrs
from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404

from learn.models import CardReviewLog, CardReviewState, Claim, Flashcard, Misconception, Rating, Topic
from learn.services import (
    SCHEDULER,
    SESSION_RATINGS,
    SESSION_RATINGS_LIMIT,
    new_fsrs_card,
    replay_ratings,
    utc,
)
from quizzes.models import ExplainPrompt, KeyConcept, Option, Question


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
    """An active misconception with its refuting claim and `tested_by`: the active questions that
    test it, with their topics, in curriculum order (two queries)."""
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


# --- Flashcard study -----------------------------------------------------------------------
# A card is "due" when it has a schedule and its due time has come. Cards never rated are
# "new": they are not due, and never counted in the review queue or the navigation; a topic's
# cards page introduces them after its due cards.


@dataclass
class CardProgress:
    """One card as one learner (or visitor) stands with it."""

    flashcard: Flashcard
    card: fsrs.Card | None  # None: never rated
    reviews: int

    @property
    def is_new(self) -> bool:
        return self.card is None

    def is_due(self, now: dt.datetime) -> bool:
        return self.card is not None and self.card.due <= now


@dataclass
class RatingChoice:
    rating: Rating
    key: str
    interval: str


@dataclass
class LastRating:
    """What the Undo button takes back: a log id for a learner, a session position otherwise."""

    review: int
    rating: Rating
    card_slug: str


@dataclass
class Deck:
    current: CardProgress | None
    due_count: int
    new_count: int = 0
    next_due_at: dt.datetime | None = None
    last_rating: LastRating | None = None
    choices: list[RatingChoice] = field(default_factory=list)


def human_interval(interval: dt.timedelta) -> str:
    """ "10 min", "6 h", "1 day", "4 days", "3 months", "1.5 years"."""
    seconds = interval.total_seconds()
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 86400:
        return f"{round(seconds / 3600)} h"
    days = round(seconds / 86400)
    if days < 60:
        return "1 day" if days == 1 else f"{days} days"
    if days < 365:
        return f"{round(days / 30)} months"
    return f"{days / 365:.1f} years".replace(".0 ", " ")


def rating_choices(progress: CardProgress, *, now: dt.datetime) -> list[RatingChoice]:
    """The four ratings with the interval each would give, computed by the scheduler itself."""
    card = progress.card or new_fsrs_card(progress.flashcard.pk, now=now)
    choices = []
    for rating in Rating:
        after, _ = SCHEDULER.review_card(card, fsrs.Rating(rating), review_datetime=now)
        choices.append(RatingChoice(rating, str(rating.value), human_interval(after.due - now)))
    return choices


def session_progress(session, flashcards) -> dict[int, CardProgress]:
    """A visitor's progress with `flashcards`, replayed from their session ratings, by card id."""
    replayed = replay_ratings(session.get(SESSION_RATINGS, []))
    progress = {}
    for flashcard in flashcards:
        card, reviews = replayed.get(flashcard.slug, (None, 0))
        progress[flashcard.pk] = CardProgress(flashcard, card, reviews)
    return progress


def last_rating_for(user, session) -> LastRating | None:
    if user.is_authenticated:
        log = CardReviewLog.objects.filter(learner=user).select_related("flashcard").order_by("-id").first()
        if log is None:
            return None
        return LastRating(log.pk, Rating(log.rating), log.flashcard.slug)
    entries = session.get(SESSION_RATINGS, [])
    if not entries:
        return None
    return LastRating(len(entries), Rating(entries[-1]["rating"]), entries[-1]["card"])


def get_study_topic(slug: str) -> Topic:
    """An active topic, for its cards page; 404 for an unknown or archived one."""
    return get_object_or_404(Topic.active, slug=slug)


def topic_deck(user, session, topic: Topic, *, now=None) -> Deck:
    """The topic's active cards for this learner: due ones (earliest first), then new ones."""
    now = utc(now)
    flashcards = list(Flashcard.active.filter(topic=topic).order_by("position", "pk"))
    if user.is_authenticated:
        states = CardReviewState.objects.filter(learner=user, flashcard__in=[card.pk for card in flashcards])
        by_card = {state.flashcard_id: state for state in states}
        progress = [
            CardProgress(
                card,
                by_card[card.pk].to_fsrs() if card.pk in by_card else None,
                by_card[card.pk].review_count if card.pk in by_card else 0,
            )
            for card in flashcards
        ]
    else:
        progress = list(session_progress(session, flashcards).values())
    due = sorted((p for p in progress if p.is_due(now)), key=lambda p: p.card.due)
    new = [p for p in progress if p.is_new]
    later = [p.card.due for p in progress if not p.is_new and not p.is_due(now)]
    last = last_rating_for(user, session)
    slugs = {card.slug for card in flashcards}
    deck = Deck(
        current=(due + new)[0] if due + new else None,
        due_count=len(due),
        new_count=len(new),
        next_due_at=min(later) if later else None,
        last_rating=last if last and last.card_slug in slugs else None,
    )
    if deck.current:
        deck.choices = rating_choices(deck.current, now=now)
    return deck


def active_cards_filter(prefix: str = "") -> dict:
    """Only cards that are active and whose topic is active."""
    return {f"{prefix}archived_at__isnull": True, f"{prefix}topic__archived_at__isnull": True}


def due_count_for(user, *, now=None) -> int:
    """How many of the learner's active cards are due now. One query."""
    return CardReviewState.objects.filter(
        learner=user, due_at__lte=utc(now), **active_cards_filter("flashcard__")
    ).count()


def review_deck(user, session, *, now=None) -> Deck:
    """Every due card across the topics, earliest due first. New cards are not in the queue."""
    now = utc(now)
    if user.is_authenticated:
        states = (
            CardReviewState.objects.filter(
                learner=user, due_at__lte=now, **active_cards_filter("flashcard__")
            )
            .select_related("flashcard__topic")
            .order_by("due_at", "pk")
        )
        due = [CardProgress(state.flashcard, state.to_fsrs(), state.review_count) for state in states]
    else:
        replayed = replay_ratings(session.get(SESSION_RATINGS, []))
        slugs = [slug for slug, (card, _) in replayed.items() if card.due <= now]
        flashcards = Flashcard.objects.filter(slug__in=slugs, **active_cards_filter()).select_related("topic")
        due = sorted(
            (CardProgress(card, *replayed[card.slug]) for card in flashcards), key=lambda p: p.card.due
        )
    deck = Deck(
        current=due[0] if due else None, due_count=len(due), last_rating=last_rating_for(user, session)
    )
    if deck.current:
        deck.choices = rating_choices(deck.current, now=now)
    return deck


def study_cards(topic: Topic | None = None):
    """The cards a rating form may name: the topic's active cards, or every active card."""
    cards = Flashcard.objects.filter(**active_cards_filter())
    return cards.filter(topic=topic) if topic else cards


def session_is_full(user, session) -> bool:
    return not user.is_authenticated and len(session.get(SESSION_RATINGS, [])) >= SESSION_RATINGS_LIMIT
