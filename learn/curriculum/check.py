"""Check a whole curriculum: every file's own problems, then what spans files (duplicate ids)."""

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from learn.curriculum.parse import DIFFICULTIES, Problem, TopicSource, display_path, parse_file


@dataclass
class Curriculum:
    topics: list[TopicSource]
    problems: list[Problem]

    @property
    def is_valid(self) -> bool:
        return not self.problems


def topic_files(path: Path) -> list[Path]:
    """The topic files at `path`: the file itself, or every .md in the folder but README.md."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.glob("*.md") if p.name != "README.md")


def load_curriculum(path: Path) -> Curriculum:
    if not path.exists():
        return Curriculum([], [Problem(display_path(path), 0, "no such file or folder")])
    files = topic_files(path)
    if not files:
        return Curriculum([], [Problem(display_path(path), 0, "no topic files (*.md) found")])
    topics, problems = [], []
    for file in files:
        topic, file_problems = parse_file(file)
        topics.append(topic)
        problems.extend(file_problems)
    problems.extend(duplicate_ids(topics))
    problems.sort(key=lambda p: (p.path, p.line))
    return Curriculum(topics, problems)


def duplicate_ids(topics: list[TopicSource]) -> list[Problem]:
    """Ids are unique across the whole curriculum, whatever their kind."""
    first_seen: dict[str, str] = {}
    problems = []
    for topic in topics:
        places = [(topic.id, topic.id_line)] + [(item.id, item.line) for item in topic.items]
        for item_id, line in places:
            if not item_id:
                continue
            where = f"{topic.path}:{line}"
            if item_id in first_seen:
                message = f"duplicate id {item_id!r}: already used at {first_seen[item_id]}"
                problems.append(Problem(topic.path, line, message))
            else:
                first_seen[item_id] = where
    return problems


def totals_line(topics: list[TopicSource]) -> str:
    cards = sum(len(t.of_kind("card")) for t in topics)
    questions = [q for t in topics for q in t.of_kind("question")]
    prompts = sum(len(t.of_kind("explain")) for t in topics)
    by_difficulty = Counter(q.fields.get("difficulty") for q in questions)
    split = ", ".join(f"{d} {by_difficulty[d]}" for d in DIFFICULTIES)
    return (
        f"{plural(cards, 'flashcard')}, {plural(len(questions), 'question')} ({split}), "
        f"{plural(prompts, 'explain prompt')}"
    )


def totals_report(curriculum: Curriculum) -> list[str]:
    lines = [f"{topic.path} [{topic.id}]: {totals_line([topic])}" for topic in curriculum.topics]
    lines.append(f"Total: {plural(len(curriculum.topics), 'topic')}, {totals_line(curriculum.topics)}")
    return lines


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
