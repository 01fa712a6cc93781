"""The misconception map of a cohort: which wrong beliefs its learners hold, how confidently,
and which questions and explain prompts revealed them (docs/misconceptions.md).

Built on quizzes/misconceptions.py's rule, with a fixed number of queries whatever the size of
the cohort (tests pin the count; bench/misconception_map.py times it for 500 learners).
"""

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.shortcuts import get_object_or_404

from instructor.models import Cohort, Membership
from instructor.queries import member_ids
from learn.models import Misconception
from quizzes.misconceptions import Holding, beliefs_of, moment
from quizzes.models import ExplainPrompt, Question

# The orders the page offers (`?sort=`): most weighted first, most learners first, by id.
SORTS = {
    "weighted": "weighted score",
    "learners": "learners",
    "name": "name",
}
DEFAULT_SORT = "weighted"


@dataclass
class Holder:
    membership: Membership
    holding: Holding

    @property
    def learner(self):
        return self.membership.learner


@dataclass
class MapRow:
    """One misconception: how many learners hold it and how strongly, and the items whose
    answers showed it. The holders themselves are on the misconception's own page."""

    misconception: Misconception
    holdings: list[Holding]
    questions: list[tuple[Question, int]] = field(default_factory=list)  # with answers that showed it
    prompts: list[tuple[ExplainPrompt, int]] = field(default_factory=list)
    cohort_learners: int = 0
    learners: int = field(init=False)
    weighted: int = field(init=False)
    confident: int = field(init=False)

    def __post_init__(self):
        self.learners = len(self.holdings)
        # 3 for a learner who was confidently wrong, 1 for one who said they were unsure.
        self.weighted = sum(holding.weight for holding in self.holdings)
        self.confident = sum(1 for holding in self.holdings if holding.is_confident)

    @property
    def share(self) -> int:
        """The holders as a percentage of the cohort."""
        return round(100 * self.learners / self.cohort_learners) if self.cohort_learners else 0


@dataclass
class MisconceptionMap:
    rows: list[MapRow]
    members: dict[int, Membership]  # learner id -> membership, with the learner
    untouched: int  # active misconceptions no learner holds

    @property
    def learners(self) -> int:
        return len(self.members)

    def holders(self, row: MapRow) -> list[Holder]:
        """The row's holders, most confident first, then by name."""
        holders = [Holder(self.members[holding.learner_id], holding) for holding in row.holdings]
        holders.sort(key=lambda holder: (-holder.holding.weight, holder.learner.username.lower()))
        return holders


def misconception_map(
    cohort: Cohort, *, sort: str = DEFAULT_SORT, misconception: Misconception | None = None
) -> MisconceptionMap:
    """Every misconception some learner of the cohort holds now, sorted by `sort` (a key of
    SORTS); only `misconception` when given. Nine queries (eleven when explain answers showed
    some)."""
    only = [misconception.pk] if misconception else None
    found = beliefs_of(member_ids(cohort), misconception_ids=only).open
    members = {
        membership.learner_id: membership
        for membership in Membership.objects.filter(cohort=cohort).select_related("learner")
    }
    by_misconception: dict[int, list[Holding]] = {}
    for holding in found.values():
        by_misconception.setdefault(holding.misconception_id, []).append(holding)
    misconceptions = Misconception.objects.select_related("refuted_by").in_bulk(by_misconception)
    question_counts, prompt_counts = {}, {}
    for misconception_id, holdings in by_misconception.items():
        evidence = [each for holding in holdings for each in holding.evidence]
        question_counts[misconception_id] = Counter(e.question_id for e in evidence if e.question_id)
        prompt_counts[misconception_id] = Counter(e.prompt_id for e in evidence if e.prompt_id)
    questions = Question.objects.select_related("topic").in_bulk(
        {pk for counts in question_counts.values() for pk in counts}
    )
    prompts = ExplainPrompt.objects.select_related("topic").in_bulk(
        {pk for counts in prompt_counts.values() for pk in counts}
    )
    rows = [
        MapRow(
            misconception=misconceptions[misconception_id],
            holdings=holdings,
            questions=by_count(question_counts[misconception_id], questions),
            prompts=by_count(prompt_counts[misconception_id], prompts),
            cohort_learners=len(members),
        )
        for misconception_id, holdings in by_misconception.items()
    ]
    sort_map(rows, sort)
    untouched = 0 if misconception else Misconception.active.exclude(pk__in=list(by_misconception)).count()
    return MisconceptionMap(rows=rows, members=members, untouched=untouched)


def get_misconception(slug: str) -> Misconception:
    """Any misconception, archived ones too (learners' answers may still show them); 404 else."""
    return get_object_or_404(Misconception.objects.select_related("refuted_by"), slug=slug)


def by_count(counts: Counter, items: dict) -> list[tuple]:
    """(item, count) pairs, the most counted first, ties by slug."""
    return sorted(
        ((items[pk], count) for pk, count in counts.items()), key=lambda pair: (-pair[1], pair[0].slug)
    )


def sort_map(rows: list[MapRow], sort: str) -> None:
    """Most weighted first, most learners first, or by id; ties by the other figure, then id."""
    if sort == "learners":
        rows.sort(key=lambda row: (-row.learners, -row.weighted, row.misconception.slug))
    elif sort == "name":
        rows.sort(key=lambda row: row.misconception.slug)
    else:
        rows.sort(key=lambda row: (-row.weighted, -row.learners, row.misconception.slug))


# --- One learner ---------------------------------------------------------------------------


@dataclass
class LearnerBelief:
    """A misconception one learner holds or held, for their page in the instructor's reports."""

    misconception: Misconception
    holding: Holding
    cleared_at: dt.datetime | None
    questions: list[Question]  # whose answers showed it
    prompts: list[ExplainPrompt]

    @property
    def is_open(self) -> bool:
        return self.cleared_at is None


def learner_misconceptions(learner) -> list[LearnerBelief]:
    """The learner's open misconceptions (most confident first), then the cleared ones (latest
    cleared first). Two queries when there are none, seven at most."""
    found = beliefs_of([learner.pk])
    holdings = [(holding, None) for holding in found.open.values()]
    holdings += list(found.cleared.values())
    if not holdings:
        return []
    misconceptions = Misconception.objects.select_related("refuted_by").in_bulk(
        {holding.misconception_id for holding, _ in holdings}
    )
    evidence = [each for holding, _ in holdings for each in holding.evidence]
    questions = Question.objects.select_related("topic").in_bulk(
        {e.question_id for e in evidence if e.question_id}
    )
    prompts = ExplainPrompt.objects.in_bulk({e.prompt_id for e in evidence if e.prompt_id})
    rows = [
        LearnerBelief(
            misconception=misconceptions[holding.misconception_id],
            holding=holding,
            cleared_at=moment(cleared_at) if cleared_at else None,
            questions=[questions[pk] for pk in dict.fromkeys(e.question_id for e in holding.evidence) if pk],
            prompts=[prompts[pk] for pk in dict.fromkeys(e.prompt_id for e in holding.evidence) if pk],
        )
        for holding, cleared_at in holdings
    ]
    rows.sort(
        key=lambda row: (
            not row.is_open,
            -row.holding.weight if row.is_open else 0,
            -(row.cleared_at or row.holding.last_seen_at).timestamp(),
        )
    )
    return rows
