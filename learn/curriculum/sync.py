"""Load a checked curriculum into the database: all or nothing, by stable id, never deleting."""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from learn.curriculum.check import load_curriculum
from learn.curriculum.parse import Problem, TopicSource
from learn.curriculum.render import section_anchor
from learn.models import Claim, Flashcard, Misconception, Topic
from quizzes.models import ExplainPrompt, KeyConcept, Option, Question, WrongClaim

# Where an item stands in its file. A change of these alone is reported as "moved": the text a
# learner sees is the same.
LOCATION_FIELDS = {"source_path", "source_line", "position"}


class ContentError(Exception):
    """The curriculum has problems; nothing was written."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the content")


@dataclass
class SyncReport:
    counts: Counter = field(default_factory=Counter)  # ("created", "question") -> n

    @property
    def changed(self) -> bool:
        return any(self.counts.values())

    def summary(self) -> str:
        if not self.changed:
            return "Content is up to date: nothing changed."
        parts = [f"{action} {count} {kind}(s)" for (action, kind), count in sorted(self.counts.items())]
        return "Content synced: " + ", ".join(parts) + "."


class RowSync:
    """Create, update, restore and archive the rows of one model, keyed by a stable id."""

    def __init__(self, report: SyncReport, kind: str, model, key: str, now, rows=None):
        self.report, self.kind, self.model, self.key, self.now = report, kind, model, key, now
        rows = model.objects.all() if rows is None else rows
        self.existing = {getattr(row, key): row for row in rows}
        self.seen: dict = {}  # id -> the row put in this sync
        self.reported: set = set()  # ids already counted as created, updated or restored

    def put(self, key_value, **values):
        """Make the row with this id hold exactly `values` (and be active); return it."""
        row = self.existing.get(key_value)
        if row is None:
            row = self.model.objects.create(**{self.key: key_value}, **values)
            self.seen[key_value] = row
            self.report.counts["created", self.kind] += 1
            self.reported.add(key_value)
            return row
        changed = [name for name, value in values.items() if getattr(row, name) != value]
        if row.archived_at is not None:
            row.archived_at = None
            changed.append("archived_at")
            self.report.counts["restored", self.kind] += 1
            self.reported.add(key_value)
        elif set(changed) - LOCATION_FIELDS:
            self.report.counts["updated", self.kind] += 1
            self.reported.add(key_value)
        elif changed:
            self.report.counts["moved", self.kind] += 1
        if changed:
            for name in changed:
                if name != "archived_at":
                    setattr(row, name, values[name])
            row.save(update_fields=changed)
        self.seen[key_value] = row
        return row

    def mark_updated(self, key_value):
        """Count the row as updated for a change made elsewhere (its claim links), once."""
        if key_value not in self.reported:
            self.report.counts["updated", self.kind] += 1
            self.reported.add(key_value)

    def archive_missing(self):
        for key_value, row in self.existing.items():
            if key_value not in self.seen and row.archived_at is None:
                row.archived_at = self.now
                row.save(update_fields=["archived_at"])
                self.report.counts["archived", self.kind] += 1


@transaction.atomic
def sync_curriculum(path: Path) -> SyncReport:
    """Load the content at `path` (a folder). Raises ContentError, writing nothing, on problems.

    Idempotent: a second run with the same files changes no row and reports so.
    """
    if not path.is_dir():
        raise ContentError([Problem(str(path), 0, "sync needs the content folder, not a file")])
    curriculum = load_curriculum(path)
    if not curriculum.is_valid:
        raise ContentError(curriculum.problems)

    now = timezone.now()
    report = SyncReport()
    claims = RowSync(report, "claim", Claim, "slug", now)
    for position, claim in enumerate(curriculum.claims):
        claims.put(
            claim.id,
            statement=claim.statement,
            check_path=claim.check,
            modes=claim.modes,
            since=claim.since,
            source_path=claim.path,
            source_line=claim.line,
            position=position,
        )
    # Misconceptions before questions: options point at them.
    misconceptions = RowSync(report, "misconception", Misconception, "slug", now)
    for position, misconception in enumerate(curriculum.misconceptions):
        misconceptions.put(
            misconception.id,
            statement=misconception.statement,
            why_wrong=misconception.why_wrong,
            refuted_by_id=claims.seen[misconception.refuted_by].pk,
            source_url=misconception.source,
            lab_slug=misconception.lab,
            source_path=misconception.path,
            source_line=misconception.line,
            position=position,
        )
    topics = RowSync(report, "topic", Topic, "slug", now)
    cards = RowSync(report, "flashcard", Flashcard, "slug", now)
    questions = RowSync(report, "question", Question, "slug", now)
    prompts = RowSync(report, "explain prompt", ExplainPrompt, "slug", now)
    options_by_question = group_by(Option.objects.all(), "question_id")
    concepts_by_prompt = group_by(KeyConcept.objects.all(), "prompt_id")
    wrong_claims_by_prompt = group_by(WrongClaim.objects.all(), "prompt_id")

    for source in curriculum.topics:
        topic = put_topic(topics, source)
        for position, item in enumerate(source.of_kind("card")):
            cards.put(
                item.id,
                topic=topic,
                position=position,
                source_path=source.path,
                source_line=item.line,
                level=item.fields["level"],
                front=item.text,
                back=item.sections["Back"],
            )
        for position, item in enumerate(source.of_kind("question")):
            question = questions.put(
                item.id,
                topic=topic,
                position=position,
                source_path=source.path,
                source_line=item.line,
                difficulty=item.fields["difficulty"],
                stem=item.text,
                explanation=item.sections["Explanation"],
                hint=item.sections["Hint"],
                solution=item.sections["Solution"],
                common_mistakes=item.sections["Common mistakes"],
                lab_experiment=item.fields.get("lab", ""),
            )
            options = RowSync(report, "option", Option, "key", now, options_by_question.get(question.pk, []))
            tags = {tag.key: misconceptions.seen[tag.id].pk for tag in item.misconceptions}
            for position_, option in enumerate(item.options):
                options.put(
                    option.key,
                    question=question,
                    text=option.text,
                    is_correct=option.is_correct,
                    misconception_id=tags.get(option.key),
                    position=position_,
                )
            options.archive_missing()
        for position, item in enumerate(source.of_kind("explain")):
            prompt = prompts.put(
                item.id,
                topic=topic,
                position=position,
                source_path=source.path,
                source_line=item.line,
                prompt=item.text,
                hint=item.sections["Hint"],
                model_answer=item.sections["Model answer"],
            )
            concepts = RowSync(
                report, "key concept", KeyConcept, "key", now, concepts_by_prompt.get(prompt.pk, [])
            )
            for position_, concept in enumerate(item.concepts):
                concepts.put(
                    concept.key,
                    prompt=prompt,
                    name=concept.name,
                    phrasings=concept.phrasings,
                    section_heading=concept.section,
                    section_anchor=section_anchor(concept.section),
                    position=position_,
                )
            concepts.archive_missing()
            wrong_claims = RowSync(
                report, "wrong claim", WrongClaim, "key", now, wrong_claims_by_prompt.get(prompt.pk, [])
            )
            concept_keys = {concept.name: concept.key for concept in item.concepts}
            for position_, wrong in enumerate(item.wrong_claims):
                wrong_claims.put(
                    wrong.key,
                    prompt=prompt,
                    name=wrong.name,
                    misconception_id=misconceptions.seen[wrong.misconception].pk,
                    contradicts_id=concepts.seen[concept_keys[wrong.contradicts]].pk,
                    phrasings=wrong.phrasings,
                    position=position_,
                )
            wrong_claims.archive_missing()

    for sync in (cards, questions, prompts, topics, misconceptions, claims):
        sync.archive_missing()
    citations = {item.id: item.claims for topic in curriculum.topics for item in topic.items}
    claim_pks = {slug: row.pk for slug, row in claims.seen.items()}
    for field_name, rows in (("flashcards", cards), ("questions", questions), ("explain_prompts", prompts)):
        through = Claim._meta.get_field(field_name).remote_field.through
        link_claims(through, rows, {slug: [claim_pks[c] for c in citations[slug]] for slug in rows.seen})
    return report


def link_claims(through, rows: RowSync, cited: dict[str, list[int]]) -> None:
    """Make the (claim, item) links of one kind match the items' `claims:` fields.

    Links are derived from the content on every sync: an archived item loses its links and a
    restored one gets them back. An item whose citations changed counts as updated.
    """
    item_column = next(f.attname for f in through._meta.fields if f.attname not in ("id", "claim_id"))
    slug_of = {row.pk: slug for slug, row in rows.seen.items()}
    wanted = {(claim_pk, row.pk) for slug, row in rows.seen.items() for claim_pk in cited[slug]}
    existing = set(through.objects.values_list("claim_id", item_column))
    extra, missing = existing - wanted, wanted - existing
    for claim_pk, item_pk in sorted(extra):
        through.objects.filter(claim_id=claim_pk, **{item_column: item_pk}).delete()
    through.objects.bulk_create(
        [through(claim_id=claim_pk, **{item_column: item_pk}) for claim_pk, item_pk in sorted(missing)]
    )
    for item_pk in sorted({item_pk for _, item_pk in extra | missing}):
        if item_pk in slug_of:
            rows.mark_updated(slug_of[item_pk])


def put_topic(topics: RowSync, source: TopicSource) -> Topic:
    return topics.put(
        source.id,
        title=source.title,
        summary=source.summary,
        minutes=source.minutes,
        tags=source.tags,
        order=source.order,
        body=source.body,
        source_path=source.path,
        source_line=1,
        position=source.order,
    )


def group_by(queryset, attribute: str) -> dict:
    groups: dict = {}
    for row in queryset:
        groups.setdefault(getattr(row, attribute), []).append(row)
    return groups
