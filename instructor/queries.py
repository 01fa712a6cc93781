"""Reads for instructor pages: the role, owner-scoped getters, the cohort grid, a learner's report.

The grid is built from a fixed number of grouped SQL queries whatever the number of learners
(tests pin the count); Python only lays the aggregated figures out and applies the mastery rule
of learn/progress.py (docs/mastery.md) to them.
"""

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import (
    Count,
    F,
    FloatField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Window,
)
from django.db.models.functions import Cast, Coalesce, RowNumber, TruncDate
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.html import format_html

from dashboard.progress import MASTERED_STABILITY_DAYS, Mastery, count_of, mastery_level
from instructor.models import Cohort, Membership
from learn.models import CardReviewLog, CardReviewState, Flashcard, Topic
from learn.services import SCHEDULER
from live_lab.challenges import CHALLENGES
from live_lab.models import ChallengeAttempt, ChallengeHint, LabRun
from quizzes.models import Attempt, AttemptQuestion, ExplainAnswer, Option, PracticeAnswer

# A learner with no activity for this long is highlighted on the dashboard.
INACTIVE_AFTER = dt.timedelta(days=7)

MASTERY_RANK = {
    Mastery.NOT_STARTED: 0,
    Mastery.LEARNING: 1,
    Mastery.STRONG: 2,
    Mastery.MASTERED: 3,
}


# --- The owner-scoped getters (the role itself, `is_instructor`, is in learn/queries.py) -----


def cohorts_for(user) -> list[Cohort]:
    """The instructor's own cohorts, newest first, each with `learner_count`."""
    return list(Cohort.objects.filter(owner=user).annotate(learner_count=Count("memberships")))


def get_cohort_for(user, cohort_id: int) -> Cohort:
    """The instructor's own cohort; 404 for anyone else's."""
    return get_object_or_404(Cohort.objects.filter(owner=user), pk=cohort_id)


def get_cohort_by_code(code: str) -> Cohort:
    """The cohort a join link names; 404 for an unknown code. Codes are case-insensitive."""
    code = code.strip().upper()
    if "\x00" in code:  # no code has one, and PostgreSQL refuses NUL in text (a DataError, 500)
        raise Http404("No such join code.")
    return get_object_or_404(Cohort.objects.select_related("owner"), join_code=code)


def get_member_for(cohort: Cohort, user_id: int) -> Membership:
    """A learner's membership of `cohort`, with the learner; 404 when they are not in it."""
    return get_object_or_404(
        Membership.objects.filter(cohort=cohort).select_related("learner"), learner_id=user_id
    )


def is_member_of(cohort: Cohort, user) -> bool:
    return Membership.objects.filter(cohort=cohort, learner=user).exists()


def member_ids(cohort: Cohort):
    """The cohort's learner ids, as a subquery."""
    return Membership.objects.filter(cohort=cohort).values("learner_id")


# --- The cohort grid ------------------------------------------------------------------------


@dataclass
class Cell:
    """One learner on one topic."""

    topic: Topic
    mastery: Mastery
    best_percent: int | None
    tests: int
    cards_reviewed: int

    @property
    def mastery_rank(self) -> int:
        return MASTERY_RANK[self.mastery]

    @property
    def tests_said(self) -> str:
        """ "of 3 tests", said to screen readers after the score the cell shows."""
        return f"of {self.tests} test{'s' if self.tests != 1 else ''}"

    def as_td(self) -> str:
        """The grid's table cell: its background is the mastery's colour, and the mastery is also
        written, so colour is never the only signal (WCAG 1.4.1). The words a sighted reader gets
        from the legend are hidden text for screen readers. Built here rather than in the
        template because a cohort of 500 learners has thousands of cells, and one format_html
        call costs a fraction of the template lookups it replaces (bench/instructor_pages.py)."""
        if self.best_percent is None:
            score = format_html(
                '<span class="visually-hidden">{}</span><span aria-hidden="true">–</span>', "no test"
            )
        else:
            score = format_html(
                '<span class="visually-hidden">best </span>{} %<span class="visually-hidden"> {}</span>',
                self.best_percent,
                self.tests_said,
            )
        return format_html(
            '<td class="cell cell-{}"><span class="cell-mastery">{}</span> '
            '<span class="cell-figures">{} · {}/{}'
            '<span class="visually-hidden"> cards reviewed</span></span></td>',
            self.mastery.value,
            self.mastery.label,
            score,
            self.cards_reviewed,
            self.topic.cards,
        )


@dataclass
class Row:
    membership: Membership
    cells: list[Cell]
    lab_right: int
    lab_made: int
    last_active_at: dt.datetime | None
    is_inactive: bool

    @property
    def learner(self):
        return self.membership.learner


@dataclass
class TopicAverage:
    topic: Topic
    best_percent: int | None  # mean of the best scores of learners who took a test
    tested: int
    cards_reviewed: float
    strong_or_better: int


@dataclass
class Grid:
    topics: list[Topic]
    rows: list[Row]
    averages: list[TopicAverage] = field(default_factory=list)
    lab_right: int = 0
    lab_made: int = 0
    inactive: int = 0


def latest(queryset, field_name: str) -> Subquery:
    """The latest `field_name` of a correlated queryset, as one column."""
    return Subquery(queryset.order_by(F(field_name).desc(nulls_last=True)).values(field_name)[:1])


def grid_topics() -> list[Topic]:
    """Active topics with `cards`: their number of active flashcards. One query."""
    return list(Topic.active.annotate(cards=count_of(Flashcard.active.filter(topic=OuterRef("pk")))))


def cohort_members(cohort: Cohort) -> list[Membership]:
    """Memberships with the learner, lab prediction counts and the latest activity. One query."""
    learner = OuterRef("learner_id")
    attempts = Attempt.objects.filter(learner=learner).annotate(
        moment=Coalesce("submitted_at", "last_answered_at", "started_at")
    )
    graded_runs = LabRun.objects.filter(owner=learner, is_prediction_right__isnull=False)
    return list(
        Membership.objects.filter(cohort=cohort)
        .select_related("learner")
        .annotate(
            lab_made=count_of(graded_runs),
            lab_right=count_of(graded_runs.filter(is_prediction_right=True)),
            last_review=latest(CardReviewLog.objects.filter(learner=learner), "reviewed_at"),
            last_practice=latest(PracticeAnswer.objects.filter(learner=learner), "answered_at"),
            last_explain=latest(ExplainAnswer.objects.filter(learner=learner), "answered_at"),
            last_test=latest(attempts, "moment"),
            last_lab=latest(LabRun.objects.filter(owner=learner), "sent_at"),
        )
        .order_by("learner__username")
    )


def test_figures(cohort: Cohort) -> dict[tuple[int, int], dict]:
    """(learner id, topic id) -> latest verdict, best share correct, tests taken. One query.

    A window over each learner's submitted attempts on a topic, newest first; the first row
    carries the latest verdict, and the window's MAX and COUNT the best score and the number.
    """
    per_pair = [F("learner_id"), F("topic_id")]
    share = Cast("score__correct", FloatField()) / Cast("score__total", FloatField())
    rows = (
        Attempt.objects.filter(learner__in=member_ids(cohort), status=Attempt.Status.SUBMITTED)
        .annotate(
            newest=Window(
                RowNumber(), partition_by=per_pair, order_by=[F("submitted_at").desc(), F("pk").desc()]
            ),
            best=Window(Max(share), partition_by=per_pair),
            tests=Window(Count("pk"), partition_by=per_pair),
            verdict=F("score__verdict"),
        )
        .filter(newest=1)
        .values("learner_id", "topic_id", "verdict", "best", "tests")
    )
    return {(row["learner_id"], row["topic_id"]): row for row in rows}


def card_figures(cohort: Cohort) -> dict[tuple[int, int], dict]:
    """(learner id, topic id) -> cards rated and cards stable (mastery's rule). One query."""
    rows = (
        CardReviewState.objects.filter(learner__in=member_ids(cohort), flashcard__archived_at__isnull=True)
        .values("learner_id", topic_id=F("flashcard__topic_id"))
        .annotate(
            reviewed=Count("pk"),
            stable=Count("pk", filter=Q(stability__gte=MASTERED_STABILITY_DAYS)),
        )
        .order_by()
    )
    return {(row["learner_id"], row["topic_id"]): row for row in rows}


def active_pairs(cohort: Cohort) -> set[tuple[int, int]]:
    """(learner id, topic id) pairs with a test started, a practice or an explain answer. One query.

    Together with rated cards this is the "activity" of docs/mastery.md.
    """
    members = member_ids(cohort)
    parts = [
        Attempt.objects.filter(learner__in=members).values_list("learner_id", "topic_id"),
        PracticeAnswer.objects.filter(learner__in=members).values_list("learner_id", "question__topic_id"),
        ExplainAnswer.objects.filter(learner__in=members).values_list("learner_id", "prompt__topic_id"),
    ]
    # A UNION's parts may not be ordered; UNION itself drops the duplicates in the database.
    parts = [part.order_by() for part in parts]
    return set(parts[0].union(*parts[1:]))


def cohort_grid(cohort: Cohort, *, now: dt.datetime | None = None) -> Grid:
    """One row per learner, one cell per active topic, and the cohort's averages. Five queries."""
    now = now or timezone.now()
    topics = grid_topics()
    members = cohort_members(cohort)
    tests = test_figures(cohort)
    cards = card_figures(cohort)
    active = active_pairs(cohort)
    rows = []
    for membership in members:
        cells = []
        for topic in topics:
            pair = (membership.learner_id, topic.pk)
            test = tests.get(pair, {})
            card = cards.get(pair, {})
            mastery = mastery_level(
                has_activity=pair in active or bool(card),
                latest_verdict=test.get("verdict"),
                cards=topic.cards,
                stable_cards=card.get("stable", 0),
            )
            best = test.get("best")
            cells.append(
                Cell(
                    topic=topic,
                    mastery=mastery,
                    best_percent=round(100 * best) if best is not None else None,
                    tests=test.get("tests", 0),
                    cards_reviewed=card.get("reviewed", 0),
                )
            )
        moments = [
            moment
            for moment in (
                membership.last_review,
                membership.last_practice,
                membership.last_explain,
                membership.last_test,
                membership.last_lab,
            )
            if moment is not None
        ]
        last_active_at = max(moments) if moments else None
        rows.append(
            Row(
                membership=membership,
                cells=cells,
                lab_right=membership.lab_right,
                lab_made=membership.lab_made,
                last_active_at=last_active_at,
                is_inactive=last_active_at is None or now - last_active_at >= INACTIVE_AFTER,
            )
        )
    grid = Grid(topics=topics, rows=rows)
    grid.averages = topic_averages(topics, rows)
    grid.lab_right = sum(row.lab_right for row in rows)
    grid.lab_made = sum(row.lab_made for row in rows)
    grid.inactive = sum(1 for row in rows if row.is_inactive)
    return grid


def topic_averages(topics: list[Topic], rows: list[Row]) -> list[TopicAverage]:
    averages = []
    for index, topic in enumerate(topics):
        cells = [row.cells[index] for row in rows]
        bests = [cell.best_percent for cell in cells if cell.best_percent is not None]
        averages.append(
            TopicAverage(
                topic=topic,
                best_percent=round(sum(bests) / len(bests)) if bests else None,
                tested=len(bests),
                cards_reviewed=round(sum(cell.cards_reviewed for cell in cells) / len(cells), 1)
                if cells
                else 0,
                strong_or_better=sum(
                    1 for cell in cells if cell.mastery in (Mastery.STRONG, Mastery.MASTERED)
                ),
            )
        )
    return averages


def sort_key(grid: Grid, name: str):
    """The function giving a row's value for column `name`; None for a missing value."""
    if name == "learner":
        return lambda row: row.learner.username.lower()
    if name == "last_active":
        return lambda row: row.last_active_at
    if name == "lab":
        return lambda row: (row.lab_right / row.lab_made, row.lab_made) if row.lab_made else None
    index = [topic.slug for topic in grid.topics].index(name)
    return lambda row: (
        row.cells[index].mastery_rank,
        -1 if row.cells[index].best_percent is None else row.cells[index].best_percent,
    )


def sort_rows(grid: Grid, sort: str) -> None:
    """Order `grid.rows` by a key SortForm accepted: "learner", "last_active", "lab", or a topic
    slug (mastery, then best score); a leading "-" reverses. Missing values always go last."""
    key = sort_key(grid, sort.removeprefix("-"))
    present = [row for row in grid.rows if key(row) is not None]
    missing = [row for row in grid.rows if key(row) is None]
    present.sort(key=key, reverse=sort.startswith("-"))
    grid.rows = present + missing


# --- One learner's report -------------------------------------------------------------------


@dataclass
class Event:
    at: dt.datetime
    kind: str
    text: str
    url: str = ""


def learner_attempts(learner) -> list[Attempt]:
    """Every attempt, newest first, with score, topic and items (question, options, chosen)."""
    return list(
        Attempt.objects.filter(learner=learner)
        .select_related("topic", "score")
        .prefetch_related(
            Prefetch(
                "items",
                queryset=AttemptQuestion.objects.select_related("question")
                .prefetch_related(
                    Prefetch("question__options", queryset=Option.objects.all(), to_attr="all_options"),
                    Prefetch("chosen", to_attr="chosen_options"),
                )
                .order_by("position"),
                to_attr="ordered_items",
            )
        )
        .order_by("-started_at", "-pk")
    )


@dataclass
class CardRetention:
    state: CardReviewState
    recall_now: float  # FSRS retrievability at this moment, 0 to 1
    reviews: int
    lapses: int  # ratings of "Again" after the first rating


@dataclass
class TopicRetention:
    topic_title: str
    cards: list[CardRetention]

    @property
    def mean_recall_now(self) -> int:
        return round(100 * sum(card.recall_now for card in self.cards) / len(self.cards))

    @property
    def recalled_on_review(self) -> int | None:
        """Share of ratings after the first that were not "Again", in percent."""
        later = sum(card.reviews - 1 for card in self.cards)
        lapses = sum(card.lapses for card in self.cards)
        return round(100 * (later - lapses) / later) if later else None


def flashcard_retention(learner, *, now: dt.datetime | None = None) -> list[TopicRetention]:
    """The learner's rated cards, by topic, with FSRS's recall probability now. Two queries."""
    now = now or timezone.now()
    lapses = CardReviewLog.objects.filter(
        learner=learner, flashcard=OuterRef("flashcard_id"), number__gt=1, rating=1
    )
    states = (
        CardReviewState.objects.filter(learner=learner)
        .select_related("flashcard__topic")
        .annotate(lapses=count_of(lapses))
        .order_by("flashcard__topic__order", "flashcard__position")
    )
    by_topic: dict[int, TopicRetention] = {}
    for state in states:
        topic = state.flashcard.topic
        retention = by_topic.setdefault(topic.pk, TopicRetention(topic.title, []))
        recall = SCHEDULER.get_card_retrievability(state.to_fsrs(), current_datetime=now.astimezone(dt.UTC))
        retention.cards.append(CardRetention(state, recall, state.review_count, state.lapses))
    return list(by_topic.values())


def learner_lab_runs(learner) -> list[LabRun]:
    return list(LabRun.objects.filter(owner=learner).order_by("-sent_at", "-pk"))


TIMELINE_LENGTH = 60


def activity_timeline(learner, *, attempts: list[Attempt], runs: list[LabRun]) -> list[Event]:
    """The learner's latest activity, newest first: card ratings and practice answers grouped
    per day and topic, explain answers, tests started and submitted, lab runs. Three queries
    besides the attempts and runs the page already has."""
    events = []
    ratings = (
        CardReviewLog.objects.filter(learner=learner)
        .values(day=TruncDate("reviewed_at"), title=F("flashcard__topic__title"))
        .annotate(count=Count("pk"), at=Max("reviewed_at"))
        .order_by("-at")[:TIMELINE_LENGTH]
    )
    for row in ratings:
        cards = f"{row['count']} card{'s' * (row['count'] != 1)}"
        events.append(Event(row["at"], "cards", f"Rated {cards}: {row['title']}"))
    practice = (
        PracticeAnswer.objects.filter(learner=learner)
        .values(day=TruncDate("answered_at"), title=F("question__topic__title"))
        .annotate(count=Count("pk"), right=Count("pk", filter=Q(is_correct=True)), at=Max("answered_at"))
        .order_by("-at")[:TIMELINE_LENGTH]
    )
    for row in practice:
        events.append(
            Event(row["at"], "practice", f"Practice: {row['right']} of {row['count']} right: {row['title']}")
        )
    explains = ExplainAnswer.objects.filter(learner=learner).select_related("prompt__topic")[:TIMELINE_LENGTH]
    for answer in explains:
        events.append(
            Event(
                answer.answered_at,
                "explain",
                f"Explained ({answer.found_count} of {answer.total} concepts): {answer.prompt.topic.title}",
            )
        )
    for attempt in attempts[:TIMELINE_LENGTH]:
        anchor, title = f"#attempt-{attempt.pk}", attempt.topic.title
        events.append(Event(attempt.started_at, "test", f"Started a test: {title}", anchor))
        if attempt.is_submitted:
            score = attempt.score
            result = f"{score.correct}/{score.total}, {score.get_verdict_display().lower()}"
            events.append(Event(attempt.submitted_at, "test", f"Submitted a test: {result}: {title}", anchor))
    verdicts = {True: "prediction right", False: "prediction wrong", None: "not graded"}
    for run in runs[:TIMELINE_LENGTH]:
        verdict = verdicts[run.is_prediction_right]
        events.append(Event(run.sent_at, "lab", f"Lab run {run.experiment}: {verdict}"))
    events.sort(key=lambda event: event.at, reverse=True)
    return events[:TIMELINE_LENGTH]


# --- Lab challenges (live_lab/challenges.py) ------------------------------------------------


@dataclass
class ChallengeProgress:
    """One learner's progress on one challenge: attempts, hints taken, when first passed."""

    learner_id: int
    username: str
    title: str
    attempts: int
    hints: int
    passed_at: dt.datetime | None


def challenge_progress(cohort: Cohort) -> list[ChallengeProgress]:
    """Every (learner, challenge) of the cohort with an attempt or a hint, by learner. Two queries."""
    attempts = {
        (row["owner_id"], row["challenge"]): row
        for row in ChallengeAttempt.objects.filter(owner_id__in=member_ids(cohort))
        .values("owner_id", "owner__username", "challenge")
        .annotate(
            tries=Count("pk", filter=~Q(status=ChallengeAttempt.Status.NOT_RUN)),
            passed_at=Min("finished_at", filter=Q(status=ChallengeAttempt.Status.PASSED)),
        )
    }
    hints = {
        (row["owner_id"], row["challenge"]): row
        for row in ChallengeHint.objects.filter(owner_id__in=member_ids(cohort))
        .values("owner_id", "owner__username", "challenge")
        .annotate(taken=Count("pk"))
    }
    progress = []
    for key in sorted(attempts.keys() | hints.keys()):
        tried, hinted = attempts.get(key, {}), hints.get(key, {})
        challenge = CHALLENGES.get(key[1])
        progress.append(
            ChallengeProgress(
                learner_id=key[0],
                username=(tried or hinted)["owner__username"],
                title=challenge.title if challenge else key[1],
                attempts=tried.get("tries", 0),
                hints=hinted.get("taken", 0),
                passed_at=tried.get("passed_at"),
            )
        )
    progress.sort(key=lambda row: (row.username, row.title))
    return progress
