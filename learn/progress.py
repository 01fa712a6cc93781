"""A learner's progress: mastery per topic, activity streak, recent scores (docs/mastery.md).

Every function here reads with a fixed number of queries, whatever the number of topics,
cards or attempts.
"""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Q, Subquery, TextChoices
from django.db.models.functions import TruncDate
from django.utils import timezone

from learn.models import CardReviewLog, CardReviewState, Flashcard, Topic
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

    in_topic = {"flashcard__topic": OuterRef("pk"), "flashcard__archived_at__isnull": True}
    states = CardReviewState.objects.filter(learner=user, **in_topic)
    scores = AttemptScore.objects.filter(attempt__learner=user, attempt__topic=OuterRef("pk"))
    latest_score = scores.order_by("-attempt__submitted_at", "-pk")
    best_score = scores.order_by("-correct", "-pk")
    topics = topics.annotate(
        cards=count_of(Flashcard.active.filter(topic=OuterRef("pk"))),
        stable_cards=count_of(states.filter(stability__gte=MASTERED_STABILITY_DAYS)),
        cards_due=count_of(states.filter(due_at__lte=now)),
        latest_verdict=Subquery(latest_score.values("verdict")[:1]),
        best_correct=Subquery(best_score.values("correct")[:1]),
        best_total=Subquery(best_score.values("total")[:1]),
        has_activity=(
            Exists(states)
            | Exists(Attempt.objects.filter(learner=user, topic=OuterRef("pk")))
            | Exists(PracticeAnswer.objects.filter(learner=user, question__topic=OuterRef("pk")))
            | Exists(ExplainAnswer.objects.filter(learner=user, prompt__topic=OuterRef("pk")))
        ),
    )
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


@dataclass
class ScorePoint:
    attempt: Attempt
    percent: int
    x: float
    y: float


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


def score_chart(attempts: list[Attempt], *, width: int = 320, height: int = 120, pad: int = 12) -> dict:
    """SVG geometry for scores over time (oldest left), drawn by the dashboard template."""
    ordered = list(reversed(attempts))
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    step = inner_w / (len(ordered) - 1) if len(ordered) > 1 else 0
    points = []
    for index, attempt in enumerate(ordered):
        percent = attempt.score.percent
        x = pad + (index * step if len(ordered) > 1 else inner_w / 2)
        y = pad + inner_h * (1 - percent / 100)
        points.append(ScorePoint(attempt, percent, round(x, 1), round(y, 1)))
    return {
        "width": width,
        "height": height,
        "points": points,
        "polyline": " ".join(f"{p.x},{p.y}" for p in points),
        "strong_y": round(pad + inner_h * 0.2, 1),  # the 80 % line of the "strong" verdict
        "left": pad,
        "right": width - pad,
    }
