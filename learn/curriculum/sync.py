"""Load a checked curriculum into the database: all or nothing, by stable id, never deleting."""

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from learn.curriculum.check import Curriculum, load_curriculum
from learn.curriculum.kept import new_content_version
from learn.curriculum.parse import Problem, TopicSource, lab_lines
from learn.curriculum.registry import item_syncs, lab_experiments
from learn.curriculum.render import section_anchor
from learn.models import Claim, ExperimentLink, Flashcard, Misconception, Topic

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


@dataclass
class SyncContext:
    """What an item sync registered by an app above (registry.py) gets: the checked curriculum
    and the rows this sync put, to point at."""

    curriculum: Curriculum
    report: SyncReport
    now: dt.datetime
    topics: dict[str, Topic]  # topic id -> its row
    claims: "RowSync"
    misconceptions: "RowSync"


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
    # Misconceptions before the items synced by the apps above (registry.py): options point at them.
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
    context = SyncContext(curriculum, report, now, topics.seen, claims, misconceptions)
    for sync_items in item_syncs():
        sync_items(context)

    for sync in (cards, topics, misconceptions, claims):
        sync.archive_missing()
    link_cited_claims(curriculum, claims, "flashcards", cards)
    link_experiments(curriculum, topics.seen)
    new_content_version()  # web processes read what they kept of the content again
    return report


def link_experiments(curriculum: Curriculum, topics: dict[str, Topic]) -> None:
    """Make the ExperimentLink rows match the content's `lab:` lines: each topic's cheat-sheet
    sections, then its questions. Derived data, like the claim links: not counted in the report,
    and rows no line names any more are deleted."""
    wanted = {}
    for source in curriculum.topics:
        places = [
            (ExperimentLink.Kind.SECTION, section_anchor(section.heading), section.heading, experiment)
            for section in source.section_labs
            for experiment in section.experiments
        ] + [
            (ExperimentLink.Kind.QUESTION, item.id, first_paragraph(item.text), item.fields["lab"])
            for item in source.of_kind("question")
            if item.fields.get("lab")
        ]
        for position, (kind, target, title, experiment) in enumerate(places):
            # A section's anchor is unique in its topic only ("Chords" may head two cheat sheets).
            wanted[experiment, source.id, kind, target] = {"title": title, "position": position}
    existing = {
        (link.experiment, link.topic.slug, link.kind, link.target): link
        for link in ExperimentLink.objects.select_related("topic")
    }
    for key, link in existing.items():
        if key not in wanted:
            link.delete()
    for key, values in wanted.items():
        link = existing.get(key)
        if link is None:
            experiment, topic_id, kind, target = key
            topic = topics[topic_id]
            ExperimentLink.objects.create(
                experiment=experiment, topic=topic, kind=kind, target=target, **values
            )
        elif any(getattr(link, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(link, name, value)
            link.save()


def first_paragraph(markdown: str) -> str:
    """A question's first paragraph on one line: what a link to it says."""
    return " ".join(markdown.strip().split("\n\n")[0].split())


def body_with_lab_links(body: str) -> str:
    """The cheat sheet with each `lab:` line turned into links to the experiments it names."""
    titles = lab_experiments()
    lines = body.split("\n")
    for index, experiments in lab_lines(lines):
        links = " · ".join(
            f"[{titles[experiment]}]({reverse('live_lab:experiment', args=[experiment])})"
            for experiment in experiments
        )
        lines[index] = f"**See it live in the lab:** {links}"
    return "\n".join(lines)


def link_cited_claims(curriculum: Curriculum, claims: RowSync, field_name: str, rows: RowSync) -> None:
    """Link the rows put by `rows` to the claims their items cite; `field_name` is the many-to-many
    relation's name on Claim ("flashcards", "questions", "explain_prompts")."""
    citations = {item.id: item.claims for topic in curriculum.topics for item in topic.items}
    claim_pks = {slug: row.pk for slug, row in claims.seen.items()}
    through = Claim._meta.get_field(field_name).remote_field.through
    link_claims(through, rows, {slug: [claim_pks[c] for c in citations[slug]] for slug in rows.seen})


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
        body=body_with_lab_links(source.body),
        source_path=source.path,
        source_line=1,
        position=source.order,
    )


def group_by(queryset, attribute: str) -> dict:
    groups: dict = {}
    for row in queryset:
        groups.setdefault(getattr(row, attribute), []).append(row)
    return groups
