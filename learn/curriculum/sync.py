"""Load a checked curriculum into the database: all or nothing, by stable id, never deleting."""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from learn.curriculum.check import load_curriculum
from learn.curriculum.parse import Problem, TopicSource
from learn.models import Flashcard, Topic
from quizzes.models import ExplainPrompt, KeyConcept, Option, Question

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
        self.seen: set = set()

    def put(self, key_value, **values):
        """Make the row with this id hold exactly `values` (and be active); return it."""
        self.seen.add(key_value)
        row = self.existing.get(key_value)
        if row is None:
            row = self.model.objects.create(**{self.key: key_value}, **values)
            self.report.counts["created", self.kind] += 1
            return row
        changed = [name for name, value in values.items() if getattr(row, name) != value]
        if row.archived_at is not None:
            row.archived_at = None
            changed.append("archived_at")
            self.report.counts["restored", self.kind] += 1
        elif set(changed) - LOCATION_FIELDS:
            self.report.counts["updated", self.kind] += 1
        elif changed:
            self.report.counts["moved", self.kind] += 1
        if changed:
            for name in changed:
                if name != "archived_at":
                    setattr(row, name, values[name])
            row.save(update_fields=changed)
        return row

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
    topics = RowSync(report, "topic", Topic, "slug", now)
    cards = RowSync(report, "flashcard", Flashcard, "slug", now)
    questions = RowSync(report, "question", Question, "slug", now)
    prompts = RowSync(report, "explain prompt", ExplainPrompt, "slug", now)
    options_by_question = group_by(Option.objects.all(), "question_id")
    concepts_by_prompt = group_by(KeyConcept.objects.all(), "prompt_id")

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
            for position_, option in enumerate(item.options):
                options.put(
                    option.key,
                    question=question,
                    text=option.text,
                    is_correct=option.is_correct,
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
                    position=position_,
                )
            concepts.archive_missing()

    for sync in (cards, questions, prompts, topics):
        sync.archive_missing()
    return report


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
