"""The cohort's two charts: the figures (one SQL query each) and their SVG geometry.

Drawn by the templates as inline SVG, like the learner dashboard's chart (learn/progress.py):
no JavaScript, no chart library, no CDN.
"""

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, F, Value
from django.db.models.functions import Least

from instructor.models import Cohort
from instructor.queries import member_ids
from quizzes.models import Attempt, AttemptScore

BINS = 10  # 0–9 %, 10–19 %, ..., 90–100 %


def score_counts(cohort: Cohort) -> list[int]:
    """How many of the cohort's submitted tests scored in each tenth. One query.

    correct * 10 / total is an integer division in SQL: 7/10 falls in bin 7 (70–79 %); a full
    score would make bin 10, so it joins bin 9 (90–100 %).
    """
    rows = (
        AttemptScore.objects.filter(
            attempt__learner__in=member_ids(cohort), attempt__status=Attempt.Status.SUBMITTED
        )
        .annotate(bin=Least(F("correct") * 10 / F("total"), Value(BINS - 1)))
        .values("bin")
        .annotate(count=Count("pk"))
        .order_by("bin")
    )
    counts = [0] * BINS
    for row in rows:
        counts[row["bin"]] = row["count"]
    return counts


@dataclass
class Bar:
    label: str
    count: int
    x: float
    y: float
    width: float
    height: float


def histogram(counts: list[int], *, width: int = 420, height: int = 160, pad: int = 20) -> dict:
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    tallest = max(counts) if counts and max(counts) else 1
    slot = inner_w / len(counts)
    bars = []
    for index, count in enumerate(counts):
        bar_h = inner_h * count / tallest
        label = f"{index * 10}–{index * 10 + 9} %" if index < len(counts) - 1 else "90–100 %"
        x, y = round(pad + index * slot + 2, 1), round(pad + inner_h - bar_h, 1)
        bars.append(Bar(label, count, x, y, round(slot - 4, 1), round(bar_h, 1)))
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "total": sum(counts),
        "tallest": max(counts) if counts else 0,
        "baseline": pad + inner_h,
        "left": pad,
        "right": width - pad,
        "label_y": height - 4,
    }


# Each submitted test changes a (learner, topic) pair's level only when its verdict differs from
# the previous test's: +1 on becoming "strong", -1 on losing it. The running sum of those changes
# per day is the number of pairs at Strong or better (docs/mastery.md: the latest test decides).
STRONG_OVER_TIME_SQL = """
WITH verdicts AS (
    SELECT a.submitted_at AS submitted, s.verdict,
        LAG(s.verdict) OVER (PARTITION BY a.learner_id, a.topic_id ORDER BY a.submitted_at, a.id) AS previous
    FROM quizzes_attempt a
    JOIN quizzes_attemptscore s ON s.attempt_id = a.id
    WHERE a.status = 'submitted'
        AND a.learner_id IN (SELECT learner_id FROM instructor_membership WHERE cohort_id = %(cohort)s)
),
daily AS (
    SELECT DATE(submitted) AS day,
        SUM(CASE
            WHEN verdict = 'strong' AND (previous IS NULL OR previous <> 'strong') THEN 1
            WHEN verdict <> 'strong' AND previous = 'strong' THEN -1
            ELSE 0
        END) AS change
    FROM verdicts
    GROUP BY DATE(submitted)
)
SELECT day, SUM(change) OVER (ORDER BY day) FROM daily ORDER BY day
"""


def strong_pairs_by_day(cohort: Cohort) -> list[tuple[dt.date, int]]:
    """(day, learner-topic pairs at Strong or better at the end of that day), days with tests only.

    DATE() is a function in SQLite and a cast in PostgreSQL (in the connection's time zone, UTC,
    as Django sets it): SQLite returns the day as text, PostgreSQL as a date, and its running
    SUM as a Decimal.
    """
    with connection.cursor() as cursor:
        cursor.execute(STRONG_OVER_TIME_SQL, {"cohort": cohort.pk})
        return [
            (day if isinstance(day, dt.date) else dt.date.fromisoformat(day), int(count))
            for day, count in cursor.fetchall()
        ]


@dataclass
class Point:
    day: dt.date
    percent: float
    x: float
    y: float


def mastery_chart(
    days: list[tuple[dt.date, int]], *, pairs: int, width: int = 420, height: int = 160, pad: int = 20
) -> dict:
    """A step line of the share of `pairs` (learners × active topics) at Strong or better."""
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    points = []
    if days and pairs:
        first, last = days[0][0], days[-1][0]
        span = (last - first).days or 1
        for day, count in days:
            percent = min(100.0, 100 * count / pairs)
            x = pad + inner_w * ((day - first).days / span if last != first else 0.5)
            y = pad + inner_h * (1 - percent / 100)
            points.append(Point(day, round(percent, 1), round(x, 1), round(y, 1)))
    steps = []
    for index, point in enumerate(points):
        if index:
            steps.append(f"{point.x},{points[index - 1].y}")
        steps.append(f"{point.x},{point.y}")
    return {
        "width": width,
        "height": height,
        "points": points,
        "polyline": " ".join(steps),
        "first": points[0].day if points else None,
        "last": points[-1].day if points else None,
        "latest_percent": points[-1].percent if points else None,
        "top": pad,
        "baseline": pad + inner_h,
        "left": pad,
        "right": width - pad,
        "label_y": height - 4,
    }
