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
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.urls import reverse

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


@dataclass(frozen=True)
class Evidence:
    """One answer that showed the belief: a tagged option chosen, or a tagged wrong claim made."""

    learner_id: int
    misconception_id: int
    at: dt.datetime
    certainty: str = ""
    question_id: int | None = None
    prompt_id: int | None = None

    @property
    def weight(self) -> int:
        return CERTAINTY_WEIGHT[self.certainty]


@dataclass(frozen=True)
class RightAnswer:
    """A right answer given with high certainty to a question that tests some misconception."""

    learner_id: int
    question_id: int
    at: dt.datetime


@dataclass
class Holding:
    """One learner's belief in one misconception: the evidence since it was last cleared."""

    learner_id: int
    misconception_id: int
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def weight(self) -> int:
        return max(each.weight for each in self.evidence)

    @property
    def is_confident(self) -> bool:
        return self.weight >= CONFIDENT_WEIGHT

    @property
    def last_seen_at(self) -> dt.datetime:
        return max(each.at for each in self.evidence)


@dataclass
class Beliefs:
    """`open`: what the learners hold now; `cleared`: what they held and then answered right
    (learner id, misconception id) -> the last Holding before it was cleared, and when."""

    open: dict[tuple[int, int], Holding]
    cleared: dict[tuple[int, int], tuple[Holding, dt.datetime]]


def beliefs(
    evidence: Iterable[Evidence], right_answers: Iterable[RightAnswer], *, tested_by: dict[int, set[int]]
) -> Beliefs:
    """Apply the rule to the learners' evidence and high-certainty right answers, in time order.

    `tested_by` maps a question id to the misconceptions its options are tagged with. A right
    answer at the same moment as a piece of evidence comes first, so it does not clear it.
    """
    # (moment, 0 for a right answer / 1 for evidence, the row): sorting puts ties in that order.
    events = [(answer.at, 0, answer) for answer in right_answers]
    events += [(each.at, 1, each) for each in evidence]
    events.sort(key=lambda event: (event[0], event[1]))
    held: dict[tuple[int, int], Holding] = {}
    cleared: dict[tuple[int, int], tuple[Holding, dt.datetime]] = {}
    for at, kind, row in events:
        if kind == 1:
            pair = (row.learner_id, row.misconception_id)
            held.setdefault(pair, Holding(row.learner_id, row.misconception_id)).evidence.append(row)
            continue
        for misconception_id in tested_by.get(row.question_id, ()):
            pair = (row.learner_id, misconception_id)
            holding = held.pop(pair, None)
            if holding is not None:
                cleared[pair] = (holding, at)
    for pair in held:
        cleared.pop(pair, None)  # held again after it was cleared
    return Beliefs(open=held, cleared=cleared)


# --- Reads ------------------------------------------------------------------------------------


def tested_by() -> dict[int, set[int]]:
    """Question id -> the misconceptions its options are tagged with (archived ones too: old
    answers point at them). One query."""
    tags = defaultdict(set)
    rows = Option.objects.filter(misconception__isnull=False).values_list("question_id", "misconception_id")
    for question_id, misconception_id in rows:
        tags[question_id].add(misconception_id)
    return dict(tags)


def read_evidence(learner_ids) -> list[Evidence]:
    """The evidence of the learners `learner_ids` (a list or a subquery of ids). Two queries:
    tagged options chosen in practice and in submitted tests (one UNION), explain answers with
    wrong claims; a third reads those claims' tags when there are any."""
    practice = PracticeAnswer.options.through.objects.filter(
        practiceanswer__learner_id__in=learner_ids, option__misconception__isnull=False
    ).values_list(
        "practiceanswer__learner_id",
        "option__misconception_id",
        "practiceanswer__answered_at",
        "practiceanswer__certainty",
        "option__question_id",
    )
    tests = AttemptQuestion.chosen.through.objects.filter(
        attemptquestion__attempt__learner_id__in=learner_ids,
        attemptquestion__attempt__status=Attempt.Status.SUBMITTED,
        option__misconception__isnull=False,
    ).values_list(
        "attemptquestion__attempt__learner_id",
        "option__misconception_id",
        "attemptquestion__answered_at",
        "attemptquestion__certainty",
        "option__question_id",
    )
    # UNION ALL: the same option chosen twice is two answers.
    evidence = [
        Evidence(learner_id, misconception_id, at, certainty, question_id=question_id)
        for learner_id, misconception_id, at, certainty, question_id in practice.union(tests, all=True)
    ]
    explained = list(
        ExplainAnswer.objects.filter(learner_id__in=learner_ids)
        .exclude(wrong_claim_keys=[])
        .values_list("learner_id", "prompt_id", "answered_at", "wrong_claim_keys")
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
                evidence.append(Evidence(learner_id, misconception_id, at, prompt_id=prompt_id))
    return evidence


def read_right_answers(learner_ids) -> list[RightAnswer]:
    """High-certainty right answers of the learners to questions that test a misconception, in
    practice and in submitted tests. One query (a UNION)."""
    testing = Option.objects.filter(misconception__isnull=False).values("question_id")
    practice = PracticeAnswer.objects.filter(
        learner_id__in=learner_ids, is_correct=True, certainty=Certainty.HIGH, question_id__in=testing
    ).values_list("learner_id", "question_id", "answered_at")
    tests = AttemptQuestion.objects.filter(
        attempt__learner_id__in=learner_ids,
        attempt__status=Attempt.Status.SUBMITTED,
        is_correct=True,
        certainty=Certainty.HIGH,
        question_id__in=testing,
    ).values_list("attempt__learner_id", "question_id", "answered_at")
    return [RightAnswer(*row) for row in practice.order_by().union(tests.order_by(), all=True)]


def beliefs_of(learner_ids) -> Beliefs:
    """The rule applied to the learners `learner_ids` (a list or a subquery). Two queries when
    they showed no misconception, four (five with explain wrong claims) when they did."""
    evidence = read_evidence(learner_ids)
    if not evidence:
        return Beliefs(open={}, cleared={})
    return beliefs(evidence, read_right_answers(learner_ids), tested_by=tested_by())


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
    """The learner's open misconceptions, most confident first, then most recent. Two queries
    when they have shown none, six when they hold some (seven with explain wrong claims)."""
    found = beliefs_of([learner.pk]).open
    if not found:
        return []
    ids = {misconception_id for _, misconception_id in found}
    misconceptions = Misconception.objects.select_related("refuted_by").in_bulk(ids)
    practice = {}
    testing = (
        Option.active.filter(misconception_id__in=ids, question__archived_at__isnull=True)
        .select_related("question__topic")
        .order_by("question__topic__order", "question__position")
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
