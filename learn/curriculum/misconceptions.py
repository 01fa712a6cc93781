"""Read the misconception registry (`content/misconceptions/<id>.md`, format: content/README.md).

A misconception is one wrong belief about Celery that learners hold: its statement, why it is
wrong (the file's body), the claim that refutes it, and where it shows (a Celery doc or issue, a
lab experiment). Whether the claim and the experiment exist is checked across files
(learn/curriculum/check.py); this module checks each file on its own.
"""

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from learn.curriculum.parse import Problem, display_path, is_slug, is_text, off_site_images, read_front_matter

MISCONCEPTIONS_FOLDER = "misconceptions"
KEYS = {"id", "statement", "refuted_by", "source", "lab"}
REQUIRED_KEYS = ("id", "statement", "refuted_by")
# At least this share of all wrong options must name the misconception they embody (issue 15).
MIN_TAGGED_SHARE = 0.9


@dataclass
class MisconceptionSource:
    id: str
    path: str
    line: int = 1
    statement: str = ""
    refuted_by: str = ""
    source: str = ""
    lab: str = ""
    why_wrong: str = ""
    key_lines: dict[str, int] = field(default_factory=dict)  # front matter key -> 1-based line


def misconceptions_folder(content_path: Path) -> Path:
    """`misconceptions/` beside the topics: in the content folder, or beside a single topic file."""
    folder = content_path if content_path.is_dir() else content_path.parent
    return folder / MISCONCEPTIONS_FOLDER


def load_misconceptions(folder: Path) -> tuple[list[MisconceptionSource], list[Problem]]:
    """Every misconception in `folder/*.md`, with every problem found. No folder: an empty registry."""
    found: list[MisconceptionSource] = []
    problems: list[Problem] = []
    if not folder.is_dir():
        return found, problems
    for path in sorted(folder.glob("*.md")):
        misconception, file_problems = parse_misconception_file(path)
        problems.extend(file_problems)
        if misconception is not None:
            found.append(misconception)
    return found, problems


def parse_misconception_file(path: Path) -> tuple[MisconceptionSource | None, list[Problem]]:
    shown = display_path(path)
    problems: list[Problem] = []

    def problem(index: int, message: str) -> None:
        problems.append(Problem(shown, index + 1, message))

    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as exc:
        return None, [Problem(shown, 1, f"not valid UTF-8 ({exc.reason})")]
    front = read_front_matter(lines, what="a misconception file")
    for index, message in front.problems:
        problem(index, message)
    if front.data is None:
        return None, problems
    data, end, key_lines = front.data, front.end, front.key_lines
    misconception = MisconceptionSource(
        id="", path=shown, key_lines={key: index + 1 for key, index in key_lines.items()}
    )
    for key in sorted(set(data) - KEYS):
        problem(
            key_lines.get(key, 1), f"unknown front matter key {key!r} (allowed: {', '.join(sorted(KEYS))})"
        )
    for key in REQUIRED_KEYS:
        if key not in data:
            problem(end, f"front matter is missing {key!r}")

    def text(key: str, ok, expected: str) -> str:
        value = data.get(key)
        if key not in data:
            return ""
        if not ok(value):
            problem(key_lines.get(key, 1), f"{key!r} must be {expected}")
            return ""
        return value.strip()

    misconception.id = text("id", is_slug, "a slug (lowercase letters, digits, hyphens)")
    misconception.line = key_lines.get("id", 0) + 1
    if misconception.id and misconception.id != path.stem:
        problem(
            key_lines["id"],
            f"id {misconception.id!r} must match the file name: name the file {misconception.id}.md",
        )
    misconception.statement = text("statement", is_text, "non-empty text: the belief as a learner holds it")
    misconception.refuted_by = text("refuted_by", is_slug, "a claim id from content/claims/")
    misconception.source = text("source", is_web_address, "an http(s) address (a Celery doc or issue)")
    misconception.lab = text("lab", is_slug, "a live-lab experiment id (a slug)")
    misconception.why_wrong = "\n".join(lines[end + 1 :]).strip("\n")
    if not misconception.why_wrong.strip():
        problem(end, "no explanation: below the front matter, write why the belief is wrong")
    for index, message in off_site_images(lines, end + 1):
        problem(index, message)
    return misconception, problems


def is_web_address(value) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value.strip()
