"""A learner's progress: mastery per topic, activity streak, recent scores (docs/mastery.md).

Every function here reads with a fixed number of queries, whatever the number of topics,
cards or attempts.
"""

import datetime as dt
from dataclasses import dataclass

import fsrs
from django.db import connection
from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Q, Subquery, TextChoices
from django.db.models.functions import TruncDate
from django.utils import timezone

from learn.models import CardReviewLog, CardReviewState, Flashcard, Rating, Topic
from quizzes import certainty
from quizzes.models import Attempt, AttemptQuestion, AttemptScore, ExplainAnswer, PracticeAnswer

# A card counts as known for mastery once FSRS expects it to be remembered for three weeks.
MASTERED_STABILITY_DAYS = 21


class Mastery(TextChoices):
    NOT_STARTED = "not_started", "Not started"
    LEARNING = "learning", "Learning"
    STRONG = "strong", "Strong"
    MASTERED = "mastered", "Mastered"


def mastery_level(
    *, has_activity: bool, latest_verdict: str | None, cards: int, stable_cards: int
) -> Mastery:
    """The rule of docs/mastery.md, on one topic's figures."""
    if latest_verdict == AttemptScore.Verdict.STRONG:
        if cards and stable_cards >= cards:
            return Mastery.MASTERED
        return Mastery.STRONG
    if has_activity or latest_verdict:
        return Mastery.LEARNING
    return Mastery.NOT_STARTED


class SubqueryCount(Subquery):
    """COUNT(*) of a correlated queryset, as one column of the outer query."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) AS counted)"
    output_field = IntegerField()


def count_of(queryset) -> SubqueryCount:
    return SubqueryCount(queryset.order_by().values("pk"))


# A learner and a time that no query meets, to compile PROGRESS_QUERY with (progress_sql).
SOME_LEARNER_ID = -7_310_251
SOME_TIME = dt.datetime(1970, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
PROGRESS_SQL: dict[str, tuple[str, list]] = {}  # by database vendor


def progress_query(user_id: int, now: dt.datetime):
    """Active topics annotated with the learner's figures (topics_with_progress)."""
    in_topic = {"flashcard__topic": OuterRef("pk"), "flashcard__archived_at__isnull": True}
    states = CardReviewState.objects.filter(learner=user_id, **in_topic)
    scores = AttemptScore.objects.filter(attempt__learner=user_id, attempt__topic=OuterRef("pk"))
    latest_score = scores.order_by("-attempt__submitted_at", "-pk")
    best_score = scores.order_by("-correct", "-pk")
    return Topic.active.annotate(
        cards=count_of(Flashcard.active.filter(topic=OuterRef("pk"))),
        stable_cards=count_of(states.filter(stability__gte=MASTERED_STABILITY_DAYS)),
        cards_due=count_of(states.filter(due_at__lte=now)),
        latest_verdict=Subquery(latest_score.values("verdict")[:1]),
        best_correct=Subquery(best_score.values("correct")[:1]),
        best_total=Subquery(best_score.values("total")[:1]),
        has_activity=(
            Exists(states)
            | Exists(Attempt.objects.filter(learner=user_id, topic=OuterRef("pk")))
            | Exists(PracticeAnswer.objects.filter(learner=user_id, question__topic=OuterRef("pk")))
            | Exists(ExplainAnswer.objects.filter(learner=user_id, prompt__topic=OuterRef("pk")))
        ),
    )


def progress_sql(user_id: int, now: dt.datetime) -> tuple[str, list]:
    """progress_query's SQL and parameters for this learner and time. The ORM builds and compiles
    the query once per process (SOME_LEARNER_ID and SOME_TIME in its parameters), then only the
    parameters change: building and compiling its ten subqueries were 4 of the 6 ms of CPU it
    took on every home page and dashboard (docs/PERFORMANCE.md)."""
    ops = connection.ops
    if connection.vendor not in PROGRESS_SQL:
        PROGRESS_SQL[connection.vendor] = progress_query(SOME_LEARNER_ID, SOME_TIME).query.sql_with_params()
    sql, params = PROGRESS_SQL[connection.vendor]
    some_time, the_time = ops.adapt_datetimefield_value(SOME_TIME), ops.adapt_datetimefield_value(now)
    return sql, [user_id if p == SOME_LEARNER_ID else the_time if p == some_time else p for p in params]


def topics_with_progress(user, *, now: dt.datetime | None = None):
    """Active topics, each annotated with the learner's figures and given `.mastery`.

    One query. For an anonymous visitor every topic is "not started".
    """
    now = now or timezone.now()
    topics = Topic.active.all()
    if not user.is_authenticated:
        topics = list(topics)
        for topic in topics:
            topic.mastery, topic.cards_due, topic.best_percent = Mastery.NOT_STARTED, 0, None
        return topics

    topics = Topic.objects.raw(*progress_sql(user.pk, now))
    topics = list(topics)
    for topic in topics:
        topic.mastery = mastery_level(
            has_activity=topic.has_activity,
            latest_verdict=topic.latest_verdict,
            cards=topic.cards,
            stable_cards=topic.stable_cards,
        )
        topic.best_percent = round(100 * topic.best_correct / topic.best_total) if topic.best_total else None
    return topics


def activity_days(user) -> set[dt.date]:
    """Every UTC date on which the learner rated a card or answered anything. One query."""
    dated = [
        CardReviewLog.objects.filter(learner=user).values_list(TruncDate("reviewed_at")),
        PracticeAnswer.objects.filter(learner=user).values_list(TruncDate("answered_at")),
        ExplainAnswer.objects.filter(learner=user).values_list(TruncDate("answered_at")),
        AttemptQuestion.objects.filter(attempt__learner=user, answered_at__isnull=False).values_list(
            TruncDate("answered_at")
        ),
    ]
    # A UNION's parts may not be ordered: drop the models' default ordering.
    dated = [queryset.order_by() for queryset in dated]
    union = dated[0].union(*dated[1:])  # UNION drops duplicate dates in the database
    return {day for (day,) in union}


def streak(days: set[dt.date], *, today: dt.date) -> int:
    """Consecutive days with activity, ending today, or yesterday if today has none yet."""
    day = today if today in days else today - dt.timedelta(days=1)
    count = 0
    while day in days:
        count += 1
        day -= dt.timedelta(days=1)
    return count


def recent_scores(user, *, limit: int = 10) -> list[Attempt]:
    """The learner's latest submitted attempts, newest first, with topic and score, each given
    `certainty_score` (quizzes.certainty.score_test; None for a test taken before CBM). Two queries."""
    graded = AttemptQuestion.objects.only("attempt_id", "is_correct", "certainty", "answered_at")
    attempts = list(
        Attempt.objects.filter(learner=user, status=Attempt.Status.SUBMITTED)
        .select_related("topic", "score")
        .prefetch_related(Prefetch("items", queryset=graded, to_attr="graded_items"))
        .order_by("-submitted_at", "-pk")[:limit]
    )
    for attempt in attempts:
        attempt.certainty_score = certainty.score_test(attempt.graded_items)
    return attempts


def certainty_counts(user) -> dict[str, tuple[int, int]]:
    """{certainty: (answers, correct)} over the learner's practice answers and submitted test
    answers that state a certainty (quizzes.certainty.tally's shape). One query."""
    counted = {"answers": Count("pk"), "correct": Count("pk", filter=Q(is_correct=True))}
    practice = PracticeAnswer.objects.filter(learner=user).exclude(certainty="")
    tests = AttemptQuestion.objects.filter(
        attempt__learner=user, attempt__status=Attempt.Status.SUBMITTED
    ).exclude(certainty="")
    parts = [
        queryset.order_by()
        .values("certainty")
        .annotate(**counted)
        .values_list("certainty", "answers", "correct")
        for queryset in (practice, tests)
    ]
    counts = {}
    # UNION ALL: a practice row and a test row with the same figures are both kept.
    for level, answers, correct in parts[0].union(parts[1], all=True):
        given, right = counts.get(level, (0, 0))
        counts[level] = (given + answers, right + correct)
    return counts


# The retention figures of Anki's statistics screen (docs/mastery.md, "Retention").
RETENTION_DAYS = 30
FORECAST_DAYS = 30
# (label, lowest stability in days, the next bucket's lowest); 21 is MASTERED_STABILITY_DAYS.
STABILITY_BUCKETS = [
    ("under 1 day", 0, 1),
    ("1 to 7 days", 1, 7),
    ("7 to 21 days", 7, 21),
    ("21 to 90 days", 21, 90),
    ("90 days or more", 90, None),
]


@dataclass
class Retention:
    reviews: int
    passed: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.passed / self.reviews) if self.reviews else None


def true_retention(user, *, now: dt.datetime | None = None, days: int = RETENTION_DAYS) -> Retention:
    """Anki's "true retention" over the last `days`: of the ratings given to cards that were in the
    review state (not new, learning or relearning), the share not rated Again. One query.

    The card's state before a rating is in the log's `state_before` (fsrs.Card.to_dict(), whose
    "state" is fsrs.State's number); a new card's first rating has none.
    """
    now = now or timezone.now()
    reviews = CardReviewLog.objects.filter(
        learner=user,
        reviewed_at__gt=now - dt.timedelta(days=days),
        reviewed_at__lte=now,
        state_before__state=fsrs.State.Review.value,
    )
    figures = reviews.aggregate(reviews=Count("pk"), passed=Count("pk", filter=Q(rating__gt=Rating.AGAIN)))
    return Retention(**figures)


@dataclass
class Bucket:
    label: str
    cards: int


@dataclass
class DueDay:
    day: dt.date
    reviews: int


@dataclass
class Schedule:
    by_stability: list[Bucket]
    forecast: list[DueDay]  # FORECAST_DAYS days from today (UTC); overdue cards count today

    @property
    def cards(self) -> int:
        return sum(bucket.cards for bucket in self.by_stability)

    @property
    def forecast_reviews(self) -> int:
        return sum(day.reviews for day in self.forecast)


def stability_buckets(stabilities: list[float | None]) -> list[Bucket]:
    """How many cards fall in each STABILITY_BUCKETS range (no stability yet counts as under a day)."""
    buckets = []
    for label, low, high in STABILITY_BUCKETS:
        count = sum(1 for s in stabilities if (s or 0) >= low and (high is None or (s or 0) < high))
        buckets.append(Bucket(label, count))
    return buckets


def due_forecast(due_dates: list[dt.date], *, today: dt.date, days: int = FORECAST_DAYS) -> list[DueDay]:
    """Reviews due on each of the `days` days from today; a card already overdue is due today."""
    counts = [0] * days
    for due in due_dates:
        offset = max(0, (due - today).days)
        if offset < days:
            counts[offset] += 1
    return [DueDay(today + dt.timedelta(days=offset), count) for offset, count in enumerate(counts)]


def card_schedule(user, *, now: dt.datetime | None = None) -> Schedule:
    """The learner's active cards by stability, and the reviews due over the next 30 days. One query."""
    now = now or timezone.now()
    rows = CardReviewState.objects.filter(
        learner=user, flashcard__archived_at__isnull=True, flashcard__topic__archived_at__isnull=True
    ).values_list("stability", "due_at")
    rows = list(rows.order_by())
    utc = dt.UTC
    return Schedule(
        by_stability=stability_buckets([stability for stability, _ in rows]),
        forecast=due_forecast(
            [due_at.astimezone(utc).date() for _, due_at in rows], today=now.astimezone(utc).date()
        ),
    )
