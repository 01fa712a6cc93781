"""Item analysis of a cohort's test answers, in the manner of Moodle's quiz statistics.

What counts: every question of every *submitted* test attempt ("response") by a learner of the
cohort; an unanswered question is a wrong response, as in grading (docs/scoring.md).

- Facility index F = correct responses / responses.
- Discrimination index D, upper and lower 27 % (Kelley): per topic, each learner's total test
  score is all their correct answers on that topic's tests divided by all the questions they
  were asked there. Learners are ranked by it (ties broken by user id); the upper group is the
  top g = max(1, round(0.27 × n)) learners, the lower group the bottom g, for the n learners who
  took a test on the topic. D = (correct responses of the upper group / responses of the upper
  group) − (the same for the lower group). None when n < 2 or either group never met the
  question (tests draw questions at random).
- Median time to answer: see ANSWER_TIME_NOTE.
- Certainty-based figures (docs/scoring.md), over the responses that state a certainty: the
  average CBM mark (quizzes.certainty.MARKS) and the share answered wrong at high certainty
  ("confident wrong"). Older answers and unanswered questions state none and are left out.
- Flags: facility below FACILITY_LOW or above FACILITY_HIGH, discrimination below
  DISCRIMINATION_LOW; only for questions with FLAG_MIN_RESPONSES responses or more. A
  confident-wrong share of CONFIDENT_WRONG_HIGH or more, once FLAG_MIN_RESPONSES responses
  state a certainty.

The statistics come from three SQL statements (two with window functions: SQLite ≥ 3.25, which
every supported Python ships, and PostgreSQL) and the questions with their options from two ORM
queries: five queries in all, whatever the number of learners or responses. The SQL is the same
on both databases but for one expression, a timestamp in seconds (EPOCH_SECONDS). Written as
SQL because each step (rank within a topic, then aggregate per question) needs the result of
the previous window, which the ORM cannot nest, and because each statement starts from the
cohort's learners and follows indexes down to their answers, rather than from every option or
question up.
"""

from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Prefetch, Q

from instructor.models import Cohort
from quizzes.certainty import MARKS
from quizzes.models import Certainty, Option, Question

GROUP_SHARE = 0.27
FACILITY_LOW = 0.3
FACILITY_HIGH = 0.95
DISCRIMINATION_LOW = 0.2
# A third of the answers wrong at high certainty: many learners are sure of a wrong belief.
CONFIDENT_WRONG_HIGH = 1 / 3
# Below this many responses a share says more about chance than about the question: no flags.
FLAG_MIN_RESPONSES = 5

ANSWER_TIME_NOTE = (
    "Time to answer is measured from the learner's previous saved answer in the same test (or "
    "from the test's start, for the first one) to the moment this answer was saved. The app "
    "stores when each answer was last saved, not when the question was first shown, so a "
    "learner who skips around or changes an answer later makes that time longer than the "
    "reading and thinking it stands for. The median keeps such outliers from moving it much."
)

RESPONSE_SQL = """
WITH member AS (
    SELECT learner_id FROM instructor_membership WHERE cohort_id = %(cohort)s
),
learner_score AS (
    SELECT a.learner_id, a.topic_id, 1.0 * SUM(s.correct) / SUM(s.total) AS score
    FROM quizzes_attempt a
    JOIN quizzes_attemptscore s ON s.attempt_id = a.id
    WHERE a.status = 'submitted' AND a.learner_id IN (SELECT learner_id FROM member)
    GROUP BY a.learner_id, a.topic_id
),
ranked AS (
    SELECT learner_id, topic_id,
        ROW_NUMBER() OVER (PARTITION BY topic_id ORDER BY score DESC, learner_id ASC) AS from_top,
        ROW_NUMBER() OVER (PARTITION BY topic_id ORDER BY score ASC, learner_id DESC) AS from_bottom,
        COUNT(*) OVER (PARTITION BY topic_id) AS learners
    FROM learner_score
),
grouped AS (
    -- g = max(1, round(share × learners)) in integer arithmetic, the same on both databases:
    -- (percent × learners + 50) / 100 rounds half up, and "= 1 OR" makes g at least 1.
    SELECT learner_id, topic_id, learners,
        CASE
            WHEN learners < 2 THEN NULL
            WHEN from_top = 1 OR from_top <= (%(percent)s * learners + 50) / 100 THEN 'upper'
            WHEN from_bottom = 1 OR from_bottom <= (%(percent)s * learners + 50) / 100 THEN 'lower'
        END AS grp
    FROM ranked
)
SELECT aq.question_id,
    COUNT(*) AS responses,
    SUM(CASE WHEN aq.is_correct THEN 1 ELSE 0 END) AS correct,
    SUM(CASE WHEN aq.answered_at IS NULL THEN 1 ELSE 0 END) AS unanswered,
    SUM(CASE WHEN g.grp = 'upper' THEN 1 ELSE 0 END) AS upper_responses,
    SUM(CASE WHEN g.grp = 'upper' AND aq.is_correct THEN 1 ELSE 0 END) AS upper_correct,
    SUM(CASE WHEN g.grp = 'lower' THEN 1 ELSE 0 END) AS lower_responses,
    SUM(CASE WHEN g.grp = 'lower' AND aq.is_correct THEN 1 ELSE 0 END) AS lower_correct,
    MAX(g.learners) AS learners,
    SUM(CASE WHEN aq.certainty <> '' THEN 1 ELSE 0 END) AS certain_responses,
    SUM({cbm_mark}) AS cbm_total,
    SUM(CASE WHEN aq.certainty = '{high}' AND NOT aq.is_correct THEN 1 ELSE 0 END) AS confident_wrong
FROM grouped g
-- Every learner with a submitted test is in `grouped`, so this inner join keeps every response.
-- The unary + stops SQLite from reaching attempts through the topic index (hundreds of
-- attempts per topic, for each learner) instead of the learner index (a few each): 40x faster.
-- (PostgreSQL's planner is not led by it.)
JOIN quizzes_attempt a ON a.learner_id = g.learner_id AND +a.topic_id = g.topic_id
JOIN quizzes_attemptquestion aq ON aq.attempt_id = a.id
WHERE a.status = 'submitted'
GROUP BY aq.question_id
"""


def cbm_mark_sql() -> str:
    """The CBM mark of `aq` as a CASE expression, from quizzes.certainty.MARKS (our own constants,
    never user input); 0 for a response without a certainty, which `certain_responses` leaves out."""
    whens = " ".join(
        f"WHEN aq.certainty = '{level.value}' THEN CASE WHEN aq.is_correct THEN {right} ELSE {wrong} END"
        for level, (right, wrong) in MARKS.items()
    )
    return f"CASE {whens} ELSE 0 END"


# A timestamp column in seconds: the one expression the two databases spell differently
# (SQLite keeps datetimes as text; its julianday() counts days).
EPOCH_SECONDS = {
    "sqlite": "julianday({}) * 86400.0",
    "postgresql": "EXTRACT(EPOCH FROM {})",
}

MEDIAN_TIME_SQL = """
WITH answer AS (
    SELECT aq.question_id, aq.attempt_id, aq.id,
        {answered} AS answered, {started} AS started
    FROM quizzes_attemptquestion aq
    JOIN quizzes_attempt a ON a.id = aq.attempt_id
    WHERE a.status = 'submitted' AND aq.answered_at IS NOT NULL
        AND a.learner_id IN (SELECT learner_id FROM instructor_membership WHERE cohort_id = %(cohort)s)
),
timed AS (
    SELECT question_id,
        answered - COALESCE(LAG(answered) OVER (PARTITION BY attempt_id ORDER BY answered, id), started)
        AS seconds
    FROM answer
),
ordered AS (
    SELECT question_id, seconds,
        ROW_NUMBER() OVER (PARTITION BY question_id ORDER BY seconds) AS place,
        COUNT(*) OVER (PARTITION BY question_id) AS answers
    FROM timed
)
-- The middle row, or the mean of the two middle rows: integer division picks them.
SELECT question_id, AVG(seconds) FROM ordered
WHERE place IN ((answers + 1) / 2, (answers + 2) / 2)
GROUP BY question_id
"""


CHOSEN_SQL = """
SELECT chosen.option_id, COUNT(*)
FROM instructor_membership m
JOIN quizzes_attempt a ON a.learner_id = m.learner_id
JOIN quizzes_attemptquestion aq ON aq.attempt_id = a.id
JOIN quizzes_attemptquestion_chosen chosen ON chosen.attemptquestion_id = aq.id
WHERE m.cohort_id = %(cohort)s AND a.status = 'submitted'
GROUP BY chosen.option_id
"""


@dataclass
class ItemStats:
    question: Question
    options: list[Option]  # each with `chosen_count`
    responses: int = 0
    correct: int = 0
    unanswered: int = 0
    upper_responses: int = 0
    upper_correct: int = 0
    lower_responses: int = 0
    lower_correct: int = 0
    learners: int = 0
    median_seconds: float | None = None
    certain_responses: int = 0
    cbm_total: int = 0
    confident_wrong: int = 0
    flags: list[str] = field(default_factory=list)

    @property
    def cbm_average(self) -> float | None:
        """Average CBM mark of the responses that state a certainty, from −6 to 3."""
        return self.cbm_total / self.certain_responses if self.certain_responses else None

    @property
    def confident_wrong_share(self) -> float | None:
        """Share of the responses that state a certainty which were wrong at high certainty."""
        return self.confident_wrong / self.certain_responses if self.certain_responses else None

    @property
    def facility(self) -> float | None:
        return self.correct / self.responses if self.responses else None

    @property
    def discrimination(self) -> float | None:
        if not self.upper_responses or not self.lower_responses:
            return None
        return self.upper_correct / self.upper_responses - self.lower_correct / self.lower_responses

    @property
    def source(self) -> str:
        """Where to fix it: `content/03-states.md:41`."""
        return f"{self.question.source_path}:{self.question.source_line}"

    @property
    def flag_names(self) -> list[str]:
        """Each flag without its reason ("facility above 0.95"), for the table: the flagged list
        above it says why."""
        return [flag.split(":")[0] for flag in self.flags]

    def flag(self) -> list[str]:
        """The reasons to look at this question again, by the thresholds above."""
        flags = []
        if self.responses < FLAG_MIN_RESPONSES:
            return flags
        facility, discrimination = self.facility, self.discrimination
        if facility is not None and facility < FACILITY_LOW:
            flags.append(f"facility below {FACILITY_LOW}: too hard, or a wrong key?")
        if facility is not None and facility > FACILITY_HIGH:
            flags.append(f"facility above {FACILITY_HIGH}: too easy to tell anyone apart")
        if discrimination is not None and discrimination < DISCRIMINATION_LOW:
            flags.append(f"discrimination below {DISCRIMINATION_LOW}: strong learners do no better")
        share = self.confident_wrong_share
        if self.certain_responses >= FLAG_MIN_RESPONSES and share >= CONFIDENT_WRONG_HIGH:
            flags.append(
                f"{self.confident_wrong} of {self.certain_responses} answers wrong at high certainty: "
                "learners are sure of a wrong belief"
            )
        return flags


def fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def item_analysis(cohort: Cohort) -> list[ItemStats]:
    """Every active question, and any archived one the cohort answered, in topic order. Five queries."""
    percent = round(GROUP_SHARE * 100)
    response_sql = RESPONSE_SQL.format(cbm_mark=cbm_mark_sql(), high=Certainty.HIGH.value)
    responses = {row[0]: row[1:] for row in fetch(response_sql, {"cohort": cohort.pk, "percent": percent})}
    seconds = EPOCH_SECONDS[connection.vendor]
    median_sql = MEDIAN_TIME_SQL.format(
        answered=seconds.format("aq.answered_at"), started=seconds.format("a.started_at")
    )
    # float(): PostgreSQL's AVG of seconds is a Decimal.
    medians = {question: float(median) for question, median in fetch(median_sql, {"cohort": cohort.pk})}
    chosen = dict(fetch(CHOSEN_SQL, {"cohort": cohort.pk}))
    questions = (
        Question.objects.filter(
            Q(archived_at__isnull=True, topic__archived_at__isnull=True) | Q(pk__in=list(responses))
        )
        .select_related("topic")
        .prefetch_related(Prefetch("options", queryset=Option.objects.all(), to_attr="counted_options"))
        .order_by("topic__order", "topic__slug", "position", "pk")
    )
    items = []
    for question in questions:
        for option in question.counted_options:
            option.chosen_count = chosen.get(option.pk, 0)
        item = ItemStats(question, question.counted_options, median_seconds=medians.get(question.pk))
        if question.pk in responses:
            (
                item.responses,
                item.correct,
                item.unanswered,
                item.upper_responses,
                item.upper_correct,
                item.lower_responses,
                item.lower_correct,
                item.learners,
                item.certain_responses,
                item.cbm_total,
                item.confident_wrong,
            ) = (value or 0 for value in responses[question.pk])
        item.flags = item.flag()
        items.append(item)
    return items
