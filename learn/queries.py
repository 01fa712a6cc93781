import datetime as dt
from dataclasses import dataclass, field

import fsrs
from django.db import connection
from django.db.models import Count
from django.http import Http404
from django.utils import timezone

from learn.curriculum.kept import kept_for_content
from learn.models import INSTRUCTORS_GROUP, CardReviewLog, CardReviewState, Flashcard, Rating, Topic
from learn.services import (
    SCHEDULER,
    SESSION_RATINGS,
    SESSION_RATINGS_LIMIT,
    new_fsrs_card,
    replay_ratings,
    utc,
)

# --- The instructor role -------------------------------------------------------------------
# Remembered in the session so that the navigation can show its "Instructor" link without a
# query on every page (pages pin their query counts); set at log-in (learn/views.py) and on
# each instructor page. It only ever decides whether a link shows: access is checked by
# `instructor_required` on every request.
INSTRUCTOR_NAV_FLAG = "is_instructor"


def is_instructor(user) -> bool:
    """Staff, or a member of the "instructors" group. One query unless staff or anonymous."""
    if not user.is_authenticated:
        return False
    return user.is_staff or user.groups.filter(name=INSTRUCTORS_GROUP).exists()


# --- Flashcard study -----------------------------------------------------------------------
# A card is "due" when it has a schedule and its due time has come. Cards never rated are
# "new": they are not due, and never counted in the review queue or the navigation; a topic's
# cards page introduces them after its due cards.
#
# A card in (re)learning (rated Again or Hard, back in a few minutes) comes back in the same
# session, as in Anki: when nothing else is left, one due within LEARN_AHEAD is shown early
# (Anki's "learn ahead limit", 20 minutes by default). Without it, a card rated Again left the
# session and the deck ended on "the next card is due in 0 minutes".
LEARN_AHEAD = dt.timedelta(minutes=20)


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

    @property
    def is_learning(self) -> bool:
        """Rated, but still in FSRS's short learning or relearning steps."""
        return self.card is not None and self.card.state != fsrs.State.Review

    def is_learnable_ahead(self, now: dt.datetime) -> bool:
        return self.is_learning and not self.is_due(now) and self.card.due <= now + LEARN_AHEAD


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

    @classmethod
    def of(cls, log: CardReviewLog) -> "LastRating":
        """A learner's rating in hand (just stored), with its card."""
        return cls(log.pk, Rating(log.rating), log.flashcard.slug)


@dataclass
class Deck:
    current: CardProgress | None
    due_count: int
    new_count: int = 0
    next_due_at: dt.datetime | None = None
    last_rating: LastRating | None = None
    choices: list[RatingChoice] = field(default_factory=list)
    # Anki's three counts: new, learning (due now or within LEARN_AHEAD), review (due now).
    learning_count: int = 0
    review_count: int = 0


def study_order(progress: list[CardProgress], *, now: dt.datetime, with_new: bool) -> Deck:
    """Due cards first (earliest first), then new ones, then learning cards due soon."""
    due = sorted((p for p in progress if p.is_due(now)), key=lambda p: p.card.due)
    new = [p for p in progress if p.is_new] if with_new else []
    ahead = sorted((p for p in progress if p.is_learnable_ahead(now)), key=lambda p: p.card.due)
    later = [p.card.due for p in progress if not p.is_new and not p.is_due(now) and p not in ahead]
    queue = due + new + ahead
    return Deck(
        current=queue[0] if queue else None,
        due_count=len(due),
        new_count=len(new),
        next_due_at=min(later) if later else None,
        learning_count=sum(1 for p in due + ahead if p.is_learning),
        review_count=sum(1 for p in due if not p.is_learning),
    )


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
        return None if log is None else LastRating.of(log)
    entries = session.get(SESSION_RATINGS, [])
    if not entries:
        return None
    return LastRating(len(entries), Rating(entries[-1]["rating"]), entries[-1]["card"])


@dataclass
class RatingsToday:
    """What a finished deck sums up: today's ratings (of the topic's cards, on a topic's page)."""

    counts: list[tuple[Rating, int]]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.counts)


def ratings_today(user, session, *, topic: Topic | None = None, now=None) -> RatingsToday:
    """Ratings since the start of today in the site's time zone (TIME_ZONE)."""
    start = timezone.localtime(utc(now)).replace(hour=0, minute=0, second=0, microsecond=0)
    by_rating = dict.fromkeys(Rating, 0)
    if user.is_authenticated:
        logs = CardReviewLog.objects.filter(learner=user, reviewed_at__gte=start)
        if topic is not None:
            logs = logs.filter(flashcard__topic=topic)
        for rating, count in logs.values_list("rating").annotate(count=Count("id")).order_by():
            by_rating[Rating(rating)] += count
    else:
        slugs = set(study_cards(topic).values_list("slug", flat=True)) if topic else None
        for entry in session.get(SESSION_RATINGS, []):
            is_today = dt.datetime.fromisoformat(entry["reviewed_at"]) >= start
            if is_today and (slugs is None or entry["card"] in slugs):
                by_rating[Rating(entry["rating"])] += 1
    return RatingsToday(list(by_rating.items()))


def active_topics() -> dict[str, Topic]:
    """Every active topic, by slug. Kept per content version (learn/curriculum/kept.py): shared
    by the process's requests, never changed."""
    return kept_for_content("learn.active_topics", read_active_topics)


def read_active_topics() -> dict[str, Topic]:
    return {topic.slug: topic for topic in Topic.active.all()}


def get_active_topic(slug: str) -> Topic:
    """An active topic; 404 for an unknown or archived one."""
    topic = active_topics().get(slug)
    if topic is None:
        raise Http404("No such topic.")
    return topic


def get_study_topic(slug: str) -> Topic:
    """An active topic, for its cards page; 404 for an unknown or archived one."""
    return get_active_topic(slug)


def topic_cards(topic: Topic) -> list[Flashcard]:
    """The topic's active cards in order. Kept per content version, like `active_topics`."""
    return kept_for_content(
        ("learn.topic_cards", topic.pk),
        lambda: list(Flashcard.active.filter(topic=topic).order_by("position", "pk")),
    )


def topic_deck(user, session, topic: Topic, *, now=None, last_rating: LastRating | None = None) -> Deck:
    """The topic's active cards for this learner: due ones (earliest first), then new ones.
    `last_rating`: the rating just stored, in hand (else read)."""
    now = utc(now)
    flashcards = topic_cards(topic)
    if user.is_authenticated:
        by_card = CardReviewState.objects.of(user.pk, [card.pk for card in flashcards])
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
    deck = study_order(progress, now=now, with_new=True)
    last = last_rating or last_rating_for(user, session)
    slugs = {card.slug for card in flashcards}
    deck.last_rating = last if last and last.card_slug in slugs else None
    if deck.current:
        deck.choices = rating_choices(deck.current, now=now)
    return deck


def active_cards_filter(prefix: str = "") -> dict:
    """Only cards that are active and whose topic is active."""
    return {f"{prefix}archived_at__isnull": True, f"{prefix}topic__archived_at__isnull": True}


def due_count_for(user, *, now=None) -> int:
    """How many of the learner's active cards (`active_cards_filter`) are due now. One statement,
    in SQL: every page's navigation and every card rating shows it; through the ORM it took 3.5 %
    of the web's CPU in a class of 200, as SQL 0.6 % (config/plain_sql.py)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM learn_cardreviewstate s"
            " JOIN learn_flashcard f ON f.id = s.flashcard_id JOIN learn_topic t ON t.id = f.topic_id"
            " WHERE s.learner_id = %s AND s.due_at <= %s AND f.archived_at IS NULL AND t.archived_at IS NULL",
            [user.pk, connection.ops.adapt_datetimefield_value(utc(now))],
        )
        return cursor.fetchone()[0]


def review_deck(user, session, *, now=None, last_rating: LastRating | None = None) -> Deck:
    """Every due card across the topics, earliest due first. New cards are not in the queue.
    `last_rating`: the rating just stored, in hand (else read)."""
    now = utc(now)
    if user.is_authenticated:
        states = (
            CardReviewState.objects.filter(
                learner=user, due_at__lte=now + LEARN_AHEAD, **active_cards_filter("flashcard__")
            )
            .select_related("flashcard__topic")
            .order_by("due_at", "pk")
        )
        progress = [CardProgress(state.flashcard, state.to_fsrs(), state.review_count) for state in states]
    else:
        replayed = replay_ratings(session.get(SESSION_RATINGS, []))
        slugs = [slug for slug, (card, _) in replayed.items() if card.due <= now + LEARN_AHEAD]
        flashcards = Flashcard.objects.filter(slug__in=slugs, **active_cards_filter()).select_related("topic")
        progress = [CardProgress(card, *replayed[card.slug]) for card in flashcards]
    # Cards due later than LEARN_AHEAD were not read: the queue never says when the next is due.
    deck = study_order(progress, now=now, with_new=False)
    deck.next_due_at = None
    deck.last_rating = last_rating or last_rating_for(user, session)
    if deck.current:
        deck.choices = rating_choices(deck.current, now=now)
    return deck


def study_cards(topic: Topic | None = None):
    """The cards a rating form may name: the topic's active cards, or every active card."""
    cards = Flashcard.objects.filter(**active_cards_filter())
    return cards.filter(topic=topic) if topic else cards


def session_is_full(user, session) -> bool:
    return not user.is_authenticated and len(session.get(SESSION_RATINGS, [])) >= SESSION_RATINGS_LIMIT
