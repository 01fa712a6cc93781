"""The misconception map of a cohort: which wrong beliefs its learners hold, how confidently,
and which questions and explain prompts revealed them (docs/misconceptions.md).

Built on quizzes/misconceptions.py's rule, with a fixed number of queries whatever the size of
the cohort (tests pin the count; bench/misconception_map.py times it for 500 learners).
"""

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.urls import reverse
from django.utils.html import format_html, format_html_join

from instructor.models import Cohort, Membership
from instructor.queries import member_ids
from learn.models import Misconception
from quizzes.misconceptions import Holding, beliefs_of
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
    link: str = ""  # to the learner's page (HTML)

    @property
    def learner(self):
        return self.membership.learner


@dataclass
class MapRow:
    """One misconception: the learners who hold it and the items whose answers showed it."""

    misconception: Misconception
    holders: list[Holder]
    questions: list[tuple[Question, int]] = field(default_factory=list)  # with answers that showed it
    prompts: list[tuple[ExplainPrompt, int]] = field(default_factory=list)
    cohort_learners: int = 0

    @property
    def learners(self) -> int:
        return len(self.holders)

    @property
    def weighted(self) -> int:
        """The sum of the holders' weights: 3 for a learner who was confidently wrong, 1 for one
        who said they were unsure."""
        return sum(holder.holding.weight for holder in self.holders)

    @property
    def share(self) -> int:
        """The holders as a percentage of the cohort."""
        return round(100 * self.learners / self.cohort_learners) if self.cohort_learners else 0

    @property
    def confident(self) -> int:
        return sum(1 for holder in self.holders if holder.holding.is_confident)

    def learner_links(self) -> str:
        """The holders as links to their learner pages, most confident first, the confident ones
        in bold. Built here rather than in the template: in a large cohort a belief may have
        hundreds of holders, and each learner's link is built once for the whole map."""
        return format_html_join(", ", "{}", ((holder.link,) for holder in self.holders))


@dataclass
class MisconceptionMap:
    rows: list[MapRow]
    learners: int  # in the cohort
    untouched: int  # active misconceptions no learner holds


def misconception_map(cohort: Cohort, *, sort: str = DEFAULT_SORT) -> MisconceptionMap:
    """Every misconception some learner of the cohort holds now, sorted by `sort` (a key of
    SORTS). Eight queries (ten when explain answers showed some)."""
    found = beliefs_of(member_ids(cohort)).open
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
    learner_base = reverse("instructor:learner_detail", args=[cohort.pk, 0]).removesuffix("0/")
    links = {}  # (learner id, is confident) -> the link, built once for every row it appears in
    rows = []
    for misconception_id, holdings in by_misconception.items():
        holders = []
        for holding in holdings:
            membership = members[holding.learner_id]
            key = (holding.learner_id, holding.is_confident)
            if key not in links:
                links[key] = format_html(
                    '<a href="{}{}/" class="holder{}">{}</a>',
                    learner_base,
                    holding.learner_id,
                    " confident" if holding.is_confident else "",
                    membership.learner.username,
                )
            holders.append(Holder(membership, holding, links[key]))
        holders.sort(key=lambda holder: (-holder.holding.weight, holder.learner.username.lower()))
        rows.append(
            MapRow(
                misconception=misconceptions[misconception_id],
                holders=holders,
                questions=by_count(question_counts[misconception_id], questions),
                prompts=by_count(prompt_counts[misconception_id], prompts),
                cohort_learners=len(members),
            )
        )
    sort_map(rows, sort)
    untouched = Misconception.active.exclude(pk__in=list(by_misconception)).count()
    return MisconceptionMap(rows=rows, learners=len(members), untouched=untouched)


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
            cleared_at=cleared_at,
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
