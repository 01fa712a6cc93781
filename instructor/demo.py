"""A realistic demo cohort for demos and benchmarks (`manage.py seed_demo`). Writes rows in bulk.

Learners get an ability θ (normal, mean 0); a question has a difficulty b (from its easy /
medium / hard label, plus noise) and a discrimination a, and a learner answers it correctly with
probability 1 / (1 + e^(−a(θ + practice − b))), the two-parameter logistic model of item
response theory, where `practice` grows with each test the learner took on the topic. In each
topic one question is made a giveaway (b far below everyone) and one a coin toss (a = 0), so
that the item analysis has something to flag. About one learner in ten stopped 8 to 30 days
ago.

Every answer comes with a certainty (low, medium, high), more often high the likelier the
learner was to be right, and now and then confidently wrong. Three beliefs are planted for the
misconception map (instructor/misconception_map.py): the misconceptions tagged on the most
questions are each held by a share of the learners (PLANTED_SHARES), who pick the option that
embodies it most of the time a question tests it, mostly with high certainty, and are never sure
when they do answer such a question right. Card reviews follow the app's own FSRS scheduler;
lab predictions are right more often for abler learners.

Tests are drawn by quizzes.services.draw_questions and graded by its breakdown and verdict_for,
as real tests are. Everything else is plain bulk_create: about 15 s for 500 learners.
"""

import datetime as dt
import math
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import fsrs
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Max, Prefetch
from django.utils import timezone

from instructor.models import Cohort, Membership
from instructor.services import create_cohort, grant_instructor
from learn.models import CardReviewLog, CardReviewState, Flashcard, Misconception, Topic
from learn.services import SCHEDULER
from live_lab.models import LabRun
from quizzes.models import Attempt, AttemptQuestion, AttemptScore, Certainty, Option, Question
from quizzes.services import breakdown, draw_questions, verdict_for

DEMO_PASSWORD = "demo-password"
COURSE_DAYS = 56
DIFFICULTY_B = {"easy": -1.6, "medium": -0.7, "hard": 0.2}
# The planted beliefs: the share of learners holding each, and how often a believer picks the
# option that embodies it when a question tests it.
PLANTED_SHARES = (0.5, 0.4, 0.3)
BELIEVER_PICKS = 0.8


class NoCurriculum(Exception):
    """No active topic has questions: the content must be synced first."""


@dataclass
class DemoReport:
    cohort: Cohort
    instructor: str
    learners: int = 0
    attempts: int = 0
    responses: int = 0
    reviews: int = 0
    lab_runs: int = 0
    seconds: float = 0.0
    planted: dict[str, int] = field(default_factory=dict)  # misconception slug -> believers


@dataclass
class Item:
    """A question as the simulation sees it."""

    question: Question
    a: float
    b: float
    correct: list[Option]
    wrong: list[Option]


def logistic(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def simulated_items(topic: Topic, rng: random.Random) -> list[Item]:
    items = []
    for question in topic.demo_questions:
        options = question.active_options
        items.append(
            Item(
                question=question,
                a=rng.uniform(0.8, 2.0),
                b=DIFFICULTY_B[question.difficulty] + rng.gauss(0, 0.4),
                correct=[option for option in options if option.is_correct],
                wrong=[option for option in options if not option.is_correct],
            )
        )
    if len(items) >= 4:
        giveaway, coin = rng.sample(items, 2)
        giveaway.b = -6.0
        coin.a = 0.0
    return items


def chosen_options(item: Item, *, is_right: bool, rng: random.Random) -> list[Option]:
    if is_right or not item.wrong:
        return list(item.correct)
    # The first distractor is the tempting one: chosen about half of the time.
    weights = [3] + [1.5] * (len(item.wrong) - 1)
    wrong = rng.choices(item.wrong, weights=weights)[0]
    if len(item.correct) > 1 and rng.random() < 0.5:
        return [item.correct[0], wrong]  # half right is wrong
    return [wrong]


def planted_beliefs(items: list[Item]) -> list[int]:
    """The misconceptions tagged on the most questions (ties by id), one per planted share."""
    questions = Counter(
        misconception_id
        for item in items
        for misconception_id in {option.misconception_id for option in item.wrong if option.misconception_id}
    )
    ranked = sorted(questions, key=lambda misconception_id: (-questions[misconception_id], misconception_id))
    return ranked[: len(PLANTED_SHARES)]


def certainty_for(*, is_right: bool, p_right: float, rng: random.Random) -> str:
    """The certainty a learner states: when right, high the more likely they were to be right;
    when wrong, mostly low or medium, and high about one time in six."""
    weights = [2 * p_right, 1, 1 - p_right] if is_right else [0.15, 0.45, 0.4]
    return rng.choices([Certainty.HIGH, Certainty.MEDIUM, Certainty.LOW], weights=weights)[0]


def demo_cohort_name(owner) -> str:
    taken = set(
        Cohort.objects.filter(owner=owner, name__startswith="Demo cohort").values_list("name", flat=True)
    )
    number = 1
    while f"Demo cohort {number}" in taken:
        number += 1
    return f"Demo cohort {number}"


@transaction.atomic
def seed_demo_cohort(
    *,
    learners: int,
    instructor: str = "demo-instructor",
    tests_per_learner: int = 10,
    seed: int | None = None,
) -> DemoReport:
    """A new cohort owned by `instructor` (created with DEMO_PASSWORD if missing) with `learners`
    new learners and their history over the last COURSE_DAYS days. Raises NoCurriculum."""
    started = time.perf_counter()
    rng = random.Random(seed)
    now = timezone.now()
    course_start = now - dt.timedelta(days=COURSE_DAYS)
    topics = list(
        Topic.active.prefetch_related(
            Prefetch(
                "questions",
                queryset=Question.active.prefetch_related(
                    Prefetch("options", queryset=Option.active.all(), to_attr="active_options")
                ),
                to_attr="demo_questions",
            ),
            Prefetch("flashcards", queryset=Flashcard.active.all(), to_attr="demo_cards"),
        )
    )
    topics = [topic for topic in topics if topic.demo_questions]
    if not topics:
        raise NoCurriculum
    User = get_user_model()
    owner, created = User.objects.get_or_create(username=instructor)
    if created:
        owner.set_password(DEMO_PASSWORD)
        owner.save()
    grant_instructor(owner)
    cohort = create_cohort(owner=owner, name=demo_cohort_name(owner))
    report = DemoReport(cohort=cohort, instructor=instructor)

    password = make_password(DEMO_PASSWORD)
    users = create_with_ids(
        User,
        [
            User(username=f"demo{cohort.pk}-{number:04d}", password=password, date_joined=course_start)
            for number in range(1, learners + 1)
        ],
    )
    Membership.objects.bulk_create(Membership(cohort=cohort, learner=user) for user in users)
    Membership.objects.filter(cohort=cohort).update(joined_at=course_start)
    report.learners = len(users)

    items_by_topic = {topic.pk: simulated_items(topic, rng) for topic in topics}
    planted = planted_beliefs([item for items in items_by_topic.values() for item in items])
    believers = Counter()
    attempts, attempt_items, picks, scores, states, logs, runs = [], [], [], [], [], [], []
    for user in users:
        ability = rng.gauss(0, 1)
        beliefs = {pk for pk, share in zip(planted, PLANTED_SHARES, strict=False) if rng.random() < share}
        believers.update(beliefs)
        # One learner in ten stopped coming 8 to 30 days ago; the others are active up to today.
        stopped = now - dt.timedelta(days=rng.uniform(8, 30)) if rng.random() < 0.1 else now
        first = course_start + dt.timedelta(days=rng.uniform(0, 14))
        span = max((stopped - first).total_seconds(), 3600)
        moments = sorted(first + dt.timedelta(seconds=rng.uniform(0, span)) for _ in range(tests_per_learner))
        taken: dict[int, int] = {}
        for number, moment in enumerate(moments):
            # Mostly in curriculum order, with some going back to earlier topics.
            index = min(
                len(topics) - 1, int(number * len(topics) / tests_per_learner + rng.choice([-1, 0, 0, 1]))
            )
            topic = topics[max(0, index)]
            practice = 0.3 * taken.get(topic.pk, 0)
            taken[topic.pk] = taken.get(topic.pk, 0) + 1
            simulate_test(
                user,
                topic,
                items_by_topic[topic.pk],
                moment,
                ability + practice,
                rng,
                beliefs=beliefs,
                attempts=attempts,
                attempt_items=attempt_items,
                picks=picks,
                scores=scores,
            )
        simulate_reviews(
            user, [t for t in topics if t.pk in taken], first, stopped, ability, rng, states, logs
        )
        simulate_lab(user, first, stopped, ability, rng, runs)

    # bulk_create sets auto_now_add fields to "now", on the objects too: the simulated times are
    # noted first and written back afterwards.
    create_keeping_times(Attempt, [attempt for attempt, _ in attempts], "started_at")
    for attempt, items in attempts:
        for item in items:
            item.attempt = attempt
    create_with_ids(AttemptQuestion, attempt_items)
    Through = AttemptQuestion.chosen.through
    Through.objects.bulk_create(
        (
            Through(attemptquestion_id=item.pk, option_id=option.pk)
            for item, options in picks
            for option in options
        ),
        batch_size=5000,
    )
    for score, (attempt, _) in zip(scores, attempts, strict=True):
        score.attempt = attempt
    create_keeping_times(AttemptScore, scores, "scored_at")
    CardReviewState.objects.bulk_create(states, batch_size=2000)
    CardReviewLog.objects.bulk_create(logs, batch_size=2000)
    create_keeping_times(LabRun, runs, "sent_at")
    # The curriculum's tables too: a test loads them in the same transaction.
    refresh_planner_statistics(
        [Question, Option, Misconception, Membership, Attempt, AttemptQuestion, Through, AttemptScore]
        + [CardReviewState, CardReviewLog, LabRun]
    )

    report.attempts = len(attempts)
    report.responses = len(attempt_items)
    report.reviews = len(logs)
    report.lab_runs = len(runs)
    slugs = Misconception.objects.in_bulk(planted)
    report.planted = {slugs[pk].slug: believers[pk] for pk in planted}
    report.seconds = time.perf_counter() - started
    return report


def refresh_planner_statistics(models: list) -> None:
    """ANALYZE the tables just bulk-loaded, on PostgreSQL. Until autovacuum gets to them (never,
    inside a test's transaction) the planner believes them empty and joins them in nested loops
    without an index condition: the misconception map's read of a 40-learner cohort then ran
    for over 16 minutes in CI. ANALYZE counts the rows of its own transaction too."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')


def create_with_ids(model, rows: list) -> list:
    """bulk_create `rows`, each with its id set afterwards.

    PostgreSQL returns the new ids (INSERT ... RETURNING), from the table's sequence. The app's
    SQLite backend does not read them back (config/sqlite_backend), so there the ids are set
    first, after the table's largest; seed_demo_cohort's transaction holds SQLite's write lock,
    so nobody else inserts meanwhile. (Ids set by hand on PostgreSQL would leave its sequence
    behind, and the next ordinary insert would collide with them.)"""
    if connection.features.can_return_rows_from_bulk_insert:
        return model.objects.bulk_create(rows, batch_size=2000)
    first = (model.objects.aggregate(last=Max("pk"))["last"] or 0) + 1
    for pk, row in enumerate(rows, first):
        row.pk = pk
    return model.objects.bulk_create(rows, batch_size=2000)


def create_keeping_times(model, rows: list, field_name: str) -> None:
    """Create `rows`, then put back the `field_name` times that auto_now_add replaced."""
    times = [getattr(row, field_name) for row in rows]
    create_with_ids(model, rows)
    for row, moment in zip(rows, times, strict=True):
        setattr(row, field_name, moment)
    model.objects.bulk_update(rows, [field_name], batch_size=500)


def simulate_test(
    user, topic, items, moment, ability, rng, *, beliefs, attempts, attempt_items, picks, scores
):
    by_question = {item.question.pk: item for item in items}
    drawn = draw_questions([item.question for item in items], rng=rng)
    attempt = Attempt(learner=user, topic=topic, status=Attempt.Status.SUBMITTED, started_at=moment)
    clock = moment
    rows = []
    for position, question in enumerate(drawn, 1):
        item = by_question[question.pk]
        row = AttemptQuestion(question=question, position=position, difficulty=question.difficulty)
        if rng.random() < 0.03:
            row.is_correct = False  # left unanswered: wrong, as in grading
        else:
            clock += dt.timedelta(
                seconds=rng.lognormvariate(math.log(max(10.0, 35 + 15 * (item.b + 1))), 0.5)
            )
            row.answered_at = clock
            believed = [option for option in item.wrong if option.misconception_id in beliefs]
            if believed and rng.random() < BELIEVER_PICKS:
                row.is_correct = False
                row.certainty = Certainty.HIGH if rng.random() < 0.7 else Certainty.MEDIUM
                picks.append((row, [rng.choice(believed)]))
            else:
                p_right = logistic(item.a * (ability - item.b))
                row.is_correct = rng.random() < p_right
                row.certainty = certainty_for(is_right=row.is_correct, p_right=p_right, rng=rng)
                if believed and row.certainty == Certainty.HIGH:
                    row.certainty = Certainty.MEDIUM  # a believer is never sure of the other answer
                picks.append((row, chosen_options(item, is_right=row.is_correct, rng=rng)))
        rows.append(row)
    attempt.last_answered_at = clock
    attempt.submitted_at = clock + dt.timedelta(seconds=rng.uniform(5, 60))
    groups = breakdown(rows)
    scores.append(
        AttemptScore(
            correct=sum(group.correct for group in groups),
            total=len(rows),
            verdict=verdict_for(groups),
            scored_at=attempt.submitted_at,
        )
    )
    attempts.append((attempt, rows))
    attempt_items.extend(rows)


def simulate_reviews(user, topics, first, stopped, ability, rng, states, logs):
    """Rate some of the cards of the topics the learner tested, a few times each, with FSRS."""
    for topic in topics:
        cards = [card for card in topic.demo_cards if rng.random() < 0.5]
        for card in cards:
            moment = first + dt.timedelta(hours=rng.uniform(0, 72))
            fsrs_card = fsrs.Card(card_id=card.pk, due=moment.astimezone(dt.UTC))
            count = 0
            for _ in range(rng.randint(1, 4)):
                if moment > stopped:
                    break
                before = fsrs_card.to_dict() if count else None
                again = rng.random() < logistic(-1.0 - ability)
                rating = 1 if again else rng.choice([2, 3, 3, 3, 4])
                fsrs_card, _ = SCHEDULER.review_card(
                    fsrs_card, fsrs.Rating(rating), review_datetime=moment.astimezone(dt.UTC)
                )
                count += 1
                logs.append(
                    CardReviewLog(
                        learner=user,
                        flashcard=card,
                        rating=rating,
                        reviewed_at=moment,
                        number=count,
                        state_before=before,
                    )
                )
                # The next review comes when it is due, a little late on average.
                moment = max(fsrs_card.due, moment) + dt.timedelta(hours=rng.uniform(0, 36))
            if count:
                state = CardReviewState(learner=user, flashcard=card, review_count=count)
                state.set_from_fsrs(fsrs_card)
                states.append(state)


def simulate_lab(user, first, stopped, ability, rng, runs):
    from live_lab.experiments import EXPERIMENTS  # the catalog imports the lab's tasks

    # The shared worker's experiments only: the demo's seeded figures predate the sandbox ones.
    experiments = [experiment for experiment in EXPERIMENTS.values() if experiment.sandbox is None]
    for _ in range(rng.randint(0, 6)):
        experiment = rng.choice(experiments)
        is_right = rng.random() < logistic(0.3 + ability)
        prediction = (
            list(experiment.lane1) if is_right else ["PENDING", "SUCCESS", "FAILURE"][: rng.randint(1, 3)]
        )
        if not is_right and prediction == list(experiment.lane1):
            prediction = ["PENDING", "STARTED"]
        sent_at = first + dt.timedelta(seconds=rng.uniform(0, max((stopped - first).total_seconds(), 60)))
        runs.append(
            LabRun(
                owner=user,
                experiment=experiment.id,
                task_id=str(uuid.uuid4()),
                prediction=prediction,
                is_prediction_right=is_right,
                status=LabRun.Status.FINISHED,
                sent_at=sent_at,
                finished_at=sent_at + dt.timedelta(seconds=rng.uniform(0.1, 5)),
            )
        )
