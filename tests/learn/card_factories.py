"""Small functions that make flashcard test data."""

import datetime as dt
import itertools

import fsrs

from learn.models import Flashcard, Topic
from tests.factories import make_topic

_numbers = itertools.count(1)

# The schedule the app promises: fsrs's default parameters, without fuzzing.
SCHEDULER = fsrs.Scheduler(enable_fuzzing=False)


def days_ago(days: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days)


def make_flashcard(topic: Topic | None = None, **fields) -> Flashcard:
    n = next(_numbers)
    defaults = {
        "slug": f"card-{n}",
        "topic": topic or make_topic(),
        "level": Flashcard.Level.BEGINNER,
        "front": f"Front of card {n}?",
        "back": f"Back of card {n}.",
        "position": n,
        "source_path": "content/test.md",
    }
    return Flashcard.objects.create(**{**defaults, **fields})


def expected_card(ratings: list[tuple[int, dt.datetime]], *, card_id: int = 0) -> fsrs.Card:
    """What fsrs itself makes of these (rating, time) reviews of a new card."""
    card = fsrs.Card(card_id=card_id, due=ratings[0][1])
    for rating, moment in ratings:
        card, _ = SCHEDULER.review_card(card, fsrs.Rating(rating), review_datetime=moment)
    return card
