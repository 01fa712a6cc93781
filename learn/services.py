"""Functions that change a learner's flashcard progress (the only code that writes it), and
the account creation that the signup limit counts.

Scheduling is FSRS through the `fsrs` package with its default parameters (desired retention
0.9, learning steps 1 min and 10 min, relearning step 10 min) and fuzzing off, so that the
interval printed on a rating button is exactly the one the rating gives.

Signed-in learners keep their schedule in CardReviewState, one row per card they have rated,
and every rating in CardReviewLog. Anonymous visitors keep a list of ratings in their session
(`SESSION_RATINGS`); their schedule is recomputed from it on each page and written to the
database only when they sign up (`adopt_session_progress`).
"""

import datetime as dt

import fsrs
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.plain_sql import insert
from learn.models import CardReviewLog, CardReviewState, Flashcard, Signup

SCHEDULER = fsrs.Scheduler(enable_fuzzing=False)

# Session key of an anonymous visitor's ratings: [{"card": slug, "rating": 1-4, "reviewed_at": iso}].
SESSION_RATINGS = "card_ratings"
# A session row should stay small; past this the visitor is asked to sign up (forms.RateForm).
SESSION_RATINGS_LIMIT = 500


class NothingToUndo(Exception):
    """The rating named is not the learner's latest any more (already undone, or rated since)."""


def utc(moment: dt.datetime | None) -> dt.datetime:
    """`moment` (default now) in the datetime.timezone.utc that fsrs insists on."""
    return (moment or timezone.now()).astimezone(dt.UTC)


def new_fsrs_card(flashcard_id: int, *, now: dt.datetime) -> fsrs.Card:
    return fsrs.Card(card_id=flashcard_id, due=now)


def replay_ratings(entries: list[dict]) -> dict[str, tuple[fsrs.Card, int]]:
    """Each card's FSRS state and number of ratings after `entries` (session ratings), by slug."""
    cards: dict[str, tuple[fsrs.Card, int]] = {}
    for entry in entries:
        reviewed_at = dt.datetime.fromisoformat(entry["reviewed_at"])
        card, count = cards.get(entry["card"]) or (new_fsrs_card(0, now=reviewed_at), 0)
        card, _ = SCHEDULER.review_card(card, fsrs.Rating(entry["rating"]), review_datetime=reviewed_at)
        cards[entry["card"]] = (card, count + 1)
    return cards


def rate_card(learner, *, flashcard: Flashcard, rating: int, reviews_seen: int | None, now=None):
    """Apply one rating to the learner's schedule for `flashcard` and log it.

    `reviews_seen` is how many ratings of this card the rating page showed. When it is no
    longer the current count (a double click, a replayed POST, another tab) nothing changes and
    None is returned; the unique (learner, flashcard, number) constraint backs this up.
    None for `reviews_seen` skips the check (replaying session ratings at sign-up).

    The schedule is computed before the transaction, which only writes: on SQLite a transaction
    holds the one write lock, and its thread can wait long for the interpreter lock in a busy
    web process while every other writer waits for it (the issue-14 "database is locked" at 100
    learners). The writes are conditional on the state read: the log's number is unique, and
    the state is updated only while it still has the count it was computed from, so a rating
    that raced another one, or an undo, stores nothing and returns None.
    """
    now = utc(now)
    state = CardReviewState.objects.of(learner.pk, [flashcard.pk]).get(flashcard.pk)
    count = state.review_count if state else 0
    if reviews_seen is not None and reviews_seen != count:
        return None
    before = state.to_fsrs() if state else None
    after, _ = SCHEDULER.review_card(
        before or new_fsrs_card(flashcard.pk, now=now), fsrs.Rating(rating), review_datetime=now
    )
    is_new = state is None
    if is_new:
        state = CardReviewState(learner=learner, flashcard=flashcard)
    state.set_from_fsrs(after)
    state.review_count = count + 1
    log = CardReviewLog(
        learner=learner,
        flashcard=flashcard,
        rating=rating,
        reviewed_at=now,
        number=count + 1,
        state_before=before.to_dict() if before else None,
    )
    # In SQL, not the ORM: building and compiling these statements cost more CPU than running
    # them, on a seventh of a class's requests (config/plain_sql.py).
    try:
        with transaction.atomic():
            insert(log)
            if is_new:
                insert(state)
            elif not update_schedule(state, review_count_read=count):
                raise IntegrityError("the card's state changed since it was read")
    except IntegrityError:
        # Another request recorded a rating of this card (or undid one) since our read.
        return None
    return log


SCHEDULE_FIELDS = ["state", "step", "stability", "difficulty", "due_at", "last_reviewed_at", "review_count"]


def update_schedule(state: CardReviewState, *, review_count_read: int) -> bool:
    """Store the state's schedule if its row still has the count it was computed from."""
    fields = [CardReviewState._meta.get_field(name) for name in SCHEDULE_FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE learn_cardreviewstate SET {', '.join(f'{field.column} = %s' for field in fields)}"
            " WHERE id = %s AND review_count = %s",
            [*(field.get_db_prep_save(getattr(state, field.attname), connection) for field in fields)]
            + [state.pk, review_count_read],
        )
        return cursor.rowcount == 1


@transaction.atomic
def undo_rating(learner, *, review_id: int) -> Flashcard:
    """Put the card back exactly as it was before the learner's latest rating, and delete that log.

    Raises NothingToUndo unless `review_id` is the learner's latest rating.
    """
    log = CardReviewLog.objects.filter(learner=learner).select_related("flashcard").order_by("-id").first()
    if log is None or log.pk != review_id:
        raise NothingToUndo(review_id)
    state = CardReviewState.objects.select_for_update().get(learner=learner, flashcard=log.flashcard)
    if log.state_before is None:
        state.delete()
    else:
        state.set_from_fsrs(fsrs.Card.from_dict(log.state_before))
        state.review_count = log.number - 1
        state.save()
    log.delete()
    return log.flashcard


def rate_card_in_session(session, *, flashcard: Flashcard, rating: int, reviews_seen: int, now=None) -> bool:
    """Record an anonymous visitor's rating in their session. False when `reviews_seen` is stale."""
    entries = session.get(SESSION_RATINGS, [])
    if reviews_seen != sum(1 for entry in entries if entry["card"] == flashcard.slug):
        return False
    entry = {"card": flashcard.slug, "rating": int(rating), "reviewed_at": utc(now).isoformat()}
    session[SESSION_RATINGS] = [*entries, entry]
    return True


def undo_session_rating(session, *, review_number: int) -> None:
    """Drop the visitor's latest session rating; `review_number` must be its 1-based position."""
    entries = session.get(SESSION_RATINGS, [])
    if not entries or review_number != len(entries):
        raise NothingToUndo(review_number)
    session[SESSION_RATINGS] = entries[:-1]


def record_rating(
    user, session, *, flashcard: Flashcard, rating: int, reviews_seen: int, now=None
) -> CardReviewLog | None:
    """Rate a card for whoever is asking: the database for a learner, the session otherwise.
    A learner's log of the rating stored; None when nothing was stored, and for a visitor."""
    if user.is_authenticated:
        return rate_card(user, flashcard=flashcard, rating=rating, reviews_seen=reviews_seen, now=now)
    rate_card_in_session(session, flashcard=flashcard, rating=rating, reviews_seen=reviews_seen, now=now)
    return None


def undo_last_rating(user, session, *, review: int) -> None:
    """Undo the latest rating (a log id for a learner, a session position otherwise)."""
    if user.is_authenticated:
        undo_rating(user, review_id=review)
    else:
        undo_session_rating(session, review_number=review)


@transaction.atomic
def adopt_session_progress(session, user) -> int:
    """Replay an anonymous visitor's session ratings into `user`'s schedule; return how many.

    Ratings keep their original times, oldest first, so the schedule is the one FSRS would have
    built had the visitor been signed in. Ratings of cards that no longer exist are skipped, as
    are ratings older than the learner's own latest review of that card (history cannot be
    inserted before it). The session list is removed afterwards, so a second call adopts nothing.
    """
    entries = session.pop(SESSION_RATINGS, [])
    if not entries:
        return 0
    cards = Flashcard.objects.in_bulk({entry["card"] for entry in entries}, field_name="slug")
    last_reviewed = dict(
        CardReviewState.objects.filter(learner=user, flashcard__in=cards.values()).values_list(
            "flashcard_id", "last_reviewed_at"
        )
    )
    adopted = 0
    for entry in sorted(entries, key=lambda entry: entry["reviewed_at"]):
        flashcard = cards.get(entry["card"])
        reviewed_at = dt.datetime.fromisoformat(entry["reviewed_at"])
        if flashcard is None or entry["rating"] not in range(1, 5):
            continue
        latest = last_reviewed.get(flashcard.pk)
        if latest is not None and reviewed_at < latest:
            continue
        rate_card(user, flashcard=flashcard, rating=entry["rating"], reviews_seen=None, now=reviewed_at)
        last_reviewed[flashcard.pk] = reviewed_at
        adopted += 1
    return adopted


# --- Accounts -------------------------------------------------------------------------------

SIGNUP_WINDOW = dt.timedelta(hours=1)


class SignupLimitReached(Exception):
    """Too many accounts were created from this address in the last hour."""


def recent_signups(address: str) -> int:
    """Accounts created from `address` in the last hour."""
    return Signup.objects.filter(address=address, created_at__gt=timezone.now() - SIGNUP_WINDOW).count()


@transaction.atomic
def create_account(*, username: str, password: str, address: str):
    """Create a learner's account, counted against the client address it came from.

    Raises SignupLimitReached past settings.SIGNUPS_PER_ADDRESS_PER_HOUR. The count is a table
    rather than Django's cache: the default cache lives inside one process, and the app may run
    as several web processes on several hosts, which all share the database. On SQLite the
    transaction takes the write lock when it begins (IMMEDIATE), so two signups from one address
    cannot both pass the last free place. Rows older than the window are deleted here.
    """
    now = timezone.now()
    Signup.objects.filter(created_at__lte=now - SIGNUP_WINDOW).delete()
    if recent_signups(address) >= settings.SIGNUPS_PER_ADDRESS_PER_HOUR:
        raise SignupLimitReached(address)
    user = get_user_model().objects.create_user(username, password=password)
    Signup.objects.create(address=address, created_at=now)
    return user
