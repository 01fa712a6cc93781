"""Which wrong beliefs (learn.Misconception) a learner holds, read from their answers.

The rule (docs/misconceptions.md):
- A learner *holds* misconception M when they chose an option tagged M (in practice, or in a
  submitted test), or when an explain answer of theirs contains a wrong claim tagged M. Each such
  answer is *evidence*, weighed by the certainty stated with it: high 3, medium 2, low 1, not
  stated 2 (older answers, and explain answers, which ask for no certainty).
- M is *cleared* when, after the last evidence, the learner answers a question that tests M (one
  of its options is tagged M) right with high certainty. Evidence after that opens it again.
- How strongly a learner holds M is the weight of their most confident evidence since it was
  last cleared: a confident wrong answer is a belief, a low-certainty one may be a guess.

`beliefs()` applies the rule to plain rows; the functions below it read those rows for one
learner or a whole cohort with a fixed number of queries.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from django.db.models import CharField, Max
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from learn.models import Misconception
from quizzes.models import (
    Attempt,
    AttemptQuestion,
    Certainty,
    ExplainAnswer,
    Option,
    PracticeAnswer,
    WrongClaim,
)

CERTAINTY_WEIGHT = {Certainty.HIGH: 3, Certainty.MEDIUM: 2, Certainty.LOW: 1, "": 2}
CONFIDENT_WEIGHT = CERTAINTY_WEIGHT[Certainty.HIGH]


class Evidence(NamedTuple):
    """One answer that showed the belief: a tagged option chosen, or a tagged wrong claim made.
    (A tuple: a cohort of 500 has tens of thousands.) `at` is a Stamp."""

    learner_id: int
    misconception_id: int
    at: str
    certainty: str = ""
    question_id: int | None = None
    prompt_id: int | None = None

    @property
    def weight(self) -> int:
        return CERTAINTY_WEIGHT[self.certainty]


@dataclass
class Holding:
    """One learner's belief in one misconception: the evidence since it was last cleared."""

    learner_id: int
    misconception_id: int
    evidence: list[Evidence] = field(default_factory=list)

    @cached_property
    def weight(self) -> int:
        return max(CERTAINTY_WEIGHT[each.certainty] for each in self.evidence)

    @property
    def is_confident(self) -> bool:
        return self.weight >= CONFIDENT_WEIGHT

    @property
    def last_seen_at(self) -> dt.datetime:
        return moment(max(each.at for each in self.evidence))


@dataclass
class Beliefs:
    """`open`: what the learners hold now; `cleared`: what they held before their last clearing
    and have not shown since. Both keyed by (learner id, misconception id); `cleared` gives the
    Holding before the clearing and when it was cleared."""

    open: dict[tuple[int, int], Holding]
    cleared: dict[tuple[int, int], tuple[Holding, str]]


def beliefs(evidence: Iterable[Evidence], last_cleared: dict[tuple[int, int], str]) -> Beliefs:
    """Apply the rule to the learners' evidence and, per (learner id, misconception id), the
    moment of their latest high-certainty right answer to a question testing it.

    Only the latest clearing matters: evidence before it was cleared, evidence after it is held
    (an earlier clearing only cleared evidence that the latest one clears too). Evidence at the
    very moment of the clearing is held: the clearing must come after it.
    """
    held: dict[tuple[int, int], Holding] = {}
    before: dict[tuple[int, int], Holding] = {}
    for each in evidence:
        pair = (each.learner_id, each.misconception_id)
        cleared_at = last_cleared.get(pair)
        side = before if cleared_at is not None and each.at < cleared_at else held
        side.setdefault(pair, Holding(*pair)).evidence.append(each)
    cleared = {pair: (holding, last_cleared[pair]) for pair, holding in before.items() if pair not in held}
    return Beliefs(open=held, cleared=cleared)


# --- Reads ------------------------------------------------------------------------------------

# The rule only compares moments. The reads below fetch them as the database's own text
# (`stamp()`), which sorts as time on both backends: SQLite stores "YYYY-MM-DD HH:MM:SS[.ffffff]"
# in UTC, PostgreSQL prints timestamptz in the connection's time zone, UTC (Django sets it), as
# "YYYY-MM-DD HH:MM:SS[.f…]+00"; a missing fraction sorts first, as it should. Turning 40,000
# moments of a 500-learner cohort into aware datetimes was a quarter of the map's time
# (bench/misconception_map.py); the few shown are parsed by `moment()`.


def stamp(expression) -> Cast:
    return Cast(expression, CharField())


def moment(text: str) -> dt.datetime:
    """A stamp as an aware datetime."""
    value = parse_datetime(text)
    return value if timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)


def read_evidence(learner_ids, *, misconception_ids=None) -> list[Evidence]:
    """The evidence of the learners `learner_ids` (a list or a subquery of ids): the tagged
    options they chose in practice and in submitted tests, and the wrong claims their explain
    answers made; only of `misconception_ids` when given. Three queries, and one more for
    those claims' tags when there are any.

    Practice and tests are two queries rather than one UNION ALL: on SQLite the UNION took
    twice as long as its two parts for 500 learners (bench/misconception_map.py)."""
    tagged = {"option__misconception__isnull": False}
    if misconception_ids is not None:
        tagged = {"option__misconception_id__in": misconception_ids}
    practice = (
        PracticeAnswer.options.through.objects.filter(practiceanswer__learner_id__in=learner_ids, **tagged)
        .annotate(at=stamp("practiceanswer__answered_at"))
        .values_list(
            "practiceanswer__learner_id",
            "option__misconception_id",
            "at",
            "practiceanswer__certainty",
            "option__question_id",
        )
    )
    tests = (
        AttemptQuestion.chosen.through.objects.filter(
            attemptquestion__attempt__learner_id__in=learner_ids,
            attemptquestion__attempt__status=Attempt.Status.SUBMITTED,
            **tagged,
        )
        .annotate(at=stamp("attemptquestion__answered_at"))
        .values_list(
            "attemptquestion__attempt__learner_id",
            "option__misconception_id",
            "at",
            "attemptquestion__certainty",
            "option__question_id",
        )
    )
    # Each row is (learner id, misconception id, at, certainty, question id): an Evidence.
    evidence = [Evidence(*row) for rows in (practice, tests) for row in rows]
    explained = list(
        ExplainAnswer.objects.filter(learner_id__in=learner_ids)
        .exclude(wrong_claim_keys=[])
        .annotate(at=stamp("answered_at"))
        .values_list("learner_id", "prompt_id", "at", "wrong_claim_keys")
    )
    if explained:
        claims = {
            (prompt_id, key): misconception_id
            for prompt_id, key, misconception_id in WrongClaim.objects.filter(
                prompt_id__in={row[1] for row in explained}
            ).values_list("prompt_id", "key", "misconception_id")
        }
        for learner_id, prompt_id, at, keys in explained:
            for misconception_id in {claims[(prompt_id, key)] for key in keys if (prompt_id, key) in claims}:
                if misconception_ids is None or misconception_id in misconception_ids:
                    evidence.append(Evidence(learner_id, misconception_id, at, prompt_id=prompt_id))
    return evidence


def read_last_cleared(learner_ids, *, misconception_ids=None) -> dict[tuple[int, int], str]:
    """(learner id, misconception id) -> the learner's latest right answer with high certainty to
    a question that tests the misconception, in practice or in a submitted test. Two queries
    (GROUP BY: one row per pair, whatever the number of answers); only of `misconception_ids`
    when given."""
    testing = {"question__options__misconception__isnull": False}
    if misconception_ids is not None:
        testing = {"question__options__misconception_id__in": misconception_ids}
    practice = (
        PracticeAnswer.objects.filter(
            learner_id__in=learner_ids,
            is_correct=True,
            certainty=Certainty.HIGH,
            **testing,
        )
        .values_list("learner_id", "question__options__misconception_id")
        .annotate(last=stamp(Max("answered_at")))
        .order_by()
    )
    tests = (
        AttemptQuestion.objects.filter(
            attempt__learner_id__in=learner_ids,
            attempt__status=Attempt.Status.SUBMITTED,
            is_correct=True,
            certainty=Certainty.HIGH,
            **testing,
        )
        .values_list("attempt__learner_id", "question__options__misconception_id")
        .annotate(last=stamp(Max("answered_at")))
        .order_by()
    )
    last_cleared = {}
    for learner_id, misconception_id, at in [*practice, *tests]:
        pair = (learner_id, misconception_id)
        if pair not in last_cleared or at > last_cleared[pair]:
            last_cleared[pair] = at
    return last_cleared


def beliefs_of(learner_ids, *, misconception_ids=None) -> Beliefs:
    """The rule applied to the learners `learner_ids` (a list or a subquery), for every
    misconception or only `misconception_ids`. Three queries when
    they showed no misconception, five (six with explain wrong claims) when they did."""
    evidence = read_evidence(learner_ids, misconception_ids=misconception_ids)
    if not evidence:
        return Beliefs(open={}, cleared={})
    return beliefs(evidence, read_last_cleared(learner_ids, misconception_ids=misconception_ids))


# --- For the learner's pages -----------------------------------------------------------------


def belief_markdown(statement: str) -> str:
    """ "You may be thinking that the broker stores results." from "The broker stores results."

    The first word loses its capital only when it is an ordinary capitalised word ("The",
    "While"): a state, a code span or a name ("PENDING", "`get()`", "Celery") keeps it."""
    statement = statement.strip()
    first = statement.split(" ", 1)[0]
    if first[:1].isupper() and first[1:].islower() and first.rstrip(",:") not in PROPER_NAMES:
        statement = statement[0].lower() + statement[1:]
    return f"You may be thinking that {statement}"


# Names a belief may start with, which keep their capital.
PROPER_NAMES = {"Celery", "Django", "Redis", "Kombu", "Python", "Flower", "Beat"}


def lab_url(misconception: Misconception) -> str | None:
    """The live lab's page for the experiment that shows the belief wrong (by URL name: quizzes
    does not import the lab)."""
    if not misconception.lab_slug:
        return None
    return reverse("live_lab:experiment", args=[misconception.lab_slug])


@dataclass
class Named:
    """A misconception as the learner's feedback names it: the belief, the claim that refutes it,
    the lab experiment that shows it."""

    misconception: Misconception
    belief: str  # markdown
    lab_url: str | None


def name(misconception: Misconception) -> Named:
    return Named(misconception, belief_markdown(misconception.statement), lab_url(misconception))


def revealed_by(options: Iterable[Option]) -> dict[int, Misconception]:
    """Option id -> the misconception it is tagged with, with its refuting claim. One query, none
    when no option is tagged."""
    options = [option for option in options if option.misconception_id]
    if not options:
        return {}
    misconceptions = Misconception.objects.select_related("refuted_by").in_bulk(
        {option.misconception_id for option in options}
    )
    return {option.pk: misconceptions[option.misconception_id] for option in options}


def feedback_for_options(options: Iterable[Option]) -> list[Named]:
    """The misconceptions the chosen options embody, each once, in the options' order."""
    found = revealed_by(options)
    return [name(each) for each in dict.fromkeys(found.values())]


def attach_feedback(items: list[AttemptQuestion]) -> None:
    """Set `item.misconceptions` (a list of Named) on each item of a submitted attempt, from its
    `chosen_options`. One query for the whole attempt."""
    found = revealed_by(option for item in items for option in item.chosen_options)
    for item in items:
        unique = dict.fromkeys(found[option.pk] for option in item.chosen_options if option.pk in found)
        item.misconceptions = [name(each) for each in unique]


@dataclass
class OpenMisconception:
    """One misconception the learner holds, for their dashboard: how it showed, and a question to
    practise that tests it (answering it right with high certainty clears it)."""

    named: Named
    holding: Holding
    practice_url: str | None


def open_misconceptions_for(learner) -> list[OpenMisconception]:
    """The learner's open misconceptions, most confident first, then most recent. Three queries
    when they have shown none, seven when they hold some (eight with explain wrong claims)."""
    found = beliefs_of([learner.pk]).open
    if not found:
        return []
    ids = {misconception_id for _, misconception_id in found}
    misconceptions = Misconception.objects.select_related("refuted_by").in_bulk(ids)
    practice = {}
    testing = (
        Option.active.filter(misconception_id__in=ids, question__archived_at__isnull=True)
        .select_related("question__topic")
        # The question's id breaks ties, so every database picks the same question.
        .order_by("question__topic__order", "question__position", "question_id")
    )
    for option in testing:
        question = option.question
        url = reverse("quizzes:practice", args=[question.topic.slug])
        practice.setdefault(option.misconception_id, f"{url}?q={question.slug}")
    rows = [
        OpenMisconception(
            name(misconceptions[holding.misconception_id]),
            holding,
            practice.get(holding.misconception_id),
        )
        for holding in found.values()
    ]
    rows.sort(key=lambda row: (-row.holding.weight, -row.holding.last_seen_at.timestamp()))
    return rows
