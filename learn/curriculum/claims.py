"""Read the claims registry (`content/claims/*.md`, format: content/README.md).

A claim is one behavioural fact about Celery that the content relies on, with the pytest test
that proves it (`check`). Checks are looked up with `ast`, never imported: `content check` must
not start Celery or touch a broker.
"""

import ast
import importlib.metadata
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.conf import settings

from learn.curriculum.parse import (
    FIELD_RE,
    Problem,
    display_path,
    is_slug,
    off_site_images,
    structure_lines,
)

CLAIMS_FOLDER = "claims"
CLAIM_HEADING_RE = re.compile(r"^claim: (\S+)$")
CHECK_RE = re.compile(r"^(tests/[\w/.-]+\.py)::(\w+)$")
VERSION_RE = re.compile(r"^\d+\.\d+(\.\d+)?$")
MODES = ("both", "redis", "embedded")
# The marker a check of a one-mode claim carries, so that the other mode deselects it.
MODE_MARKERS = {"redis": "redis_only", "embedded": "embedded_only"}
CLAIM_FIELDS = {"check", "modes", "since"}
REQUIRED_FIELDS = ("check", "modes")
# At least this share of all questions must cite a claim (issue 6).
MIN_QUESTION_SHARE = 0.6


@dataclass
class ClaimSource:
    id: str
    path: str
    line: int
    check: str = ""
    modes: str = ""
    since: str = ""
    statement: str = ""


@cache
def installed_celery_version() -> str:
    """The version of the Celery package installed here: the one the claims were checked against.
    Once per process (0.6 ms a call: it reads the installed packages' metadata), as an upgrade
    restarts the processes."""
    return importlib.metadata.version("celery")


def registry_folder(content_path: Path) -> Path:
    """`claims/` beside the topics: in the content folder, or beside a single topic file."""
    folder = content_path if content_path.is_dir() else content_path.parent
    return folder / CLAIMS_FOLDER


def load_registry(folder: Path) -> tuple[list[ClaimSource], list[Problem]]:
    """Every claim in `folder/*.md`, with every problem found. A missing folder is an empty registry."""
    claims: list[ClaimSource] = []
    problems: list[Problem] = []
    if not folder.is_dir():
        return claims, problems
    checks = CheckIndex()
    for path in sorted(folder.glob("*.md")):
        file_claims, file_problems = parse_claims_file(path, checks)
        claims.extend(file_claims)
        problems.extend(file_problems)
    first_seen: dict[str, str] = {}
    for claim in claims:
        where = f"{claim.path}:{claim.line}"
        if claim.id in first_seen:
            problems.append(
                Problem(
                    claim.path,
                    claim.line,
                    f"duplicate claim id {claim.id!r}: already used at {first_seen[claim.id]}",
                )
            )
        else:
            first_seen[claim.id] = where
    return claims, problems


def parse_claims_file(path: Path, checks: "CheckIndex") -> tuple[list[ClaimSource], list[Problem]]:
    shown = display_path(path)
    problems: list[Problem] = []

    def problem(index: int, message: str) -> None:
        problems.append(Problem(shown, index + 1, message))

    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as exc:
        return [], [Problem(shown, 1, f"not valid UTF-8 ({exc.reason})")]

    headings = structure_lines(lines, 0)
    items = [(index, text) for index, level, text in headings if level == 3]
    first_item = items[0][0] if items else len(lines)
    for index, level, text in headings:
        if level == 1 and index < first_item:
            continue  # the optional title
        if level != 3:
            problem(
                index,
                f"unexpected heading {'#' * level + ' ' + text!r}: a registry holds '### claim: <id>' items",
            )
    for index in range(first_item):
        line = lines[index].strip()
        if line and not line.startswith("# "):
            problem(index, "text outside a claim: start each claim with '### claim: <id>'")
            break
    if not items:
        problem(0, "no claims in this file: add '### claim: <id>' items")

    claims = []
    for number, (index, text) in enumerate(items):
        end = items[number + 1][0] if number + 1 < len(items) else len(lines)
        match = CLAIM_HEADING_RE.match(text)
        if not match:
            problem(index, f"item heading must be '### claim: <id>', not '### {text}'")
            continue
        claim = ClaimSource(id=match.group(1), path=shown, line=index + 1)
        if not is_slug(claim.id):
            problem(index, f"claim id {claim.id!r} is not a slug (lowercase letters, digits, hyphens)")
        field_lines: dict[str, int] = {}
        cursor = index + 1
        while cursor < end and FIELD_RE.match(lines[cursor]):
            key, value = FIELD_RE.match(lines[cursor]).groups()
            if key not in CLAIM_FIELDS:
                problem(
                    cursor, f"unknown field {key!r} for a claim (allowed: {', '.join(sorted(CLAIM_FIELDS))})"
                )
            elif key in field_lines:
                problem(cursor, f"field {key!r} appears twice")
            else:
                setattr(claim, key, value)
                field_lines[key] = cursor
            cursor += 1
        claim.statement = "\n".join(lines[cursor:end]).strip("\n")
        for key in REQUIRED_FIELDS:
            if key not in field_lines:
                problem(index, f"claim {claim.id!r} has no {key!r} field")
        if not claim.statement.strip():
            problem(index, f"claim {claim.id!r} has no statement: write it below the fields")
        if "modes" in field_lines and claim.modes not in MODES:
            problem(field_lines["modes"], f"unknown modes {claim.modes!r}: use one of {', '.join(MODES)}")
        if "since" in field_lines and not VERSION_RE.match(claim.since):
            problem(field_lines["since"], f"since {claim.since!r} is not a Celery version like 5.7.0")
        if "check" in field_lines:
            message = checks.problem_with(claim.check, claim.modes)
            if message:
                problem(field_lines["check"], message)
        claims.append(claim)
    for index, message in off_site_images(lines, 0):
        problem(index, message)
    return claims, problems


class CheckIndex:
    """The test functions (and their pytest markers) of the check files, read once each with ast."""

    def __init__(self):
        self.files: dict[str, dict[str, set[str]] | str] = {}

    def problem_with(self, check: str, modes: str) -> str:
        """Why `check` cannot prove a claim that holds in `modes`, or "" when it can."""
        match = CHECK_RE.match(check)
        if not match:
            return f"check {check!r} must be 'tests/<path>.py::<test_function>'"
        path, function = match.groups()
        tests = self.tests_in(path)
        if isinstance(tests, str):
            return f"check {check!r}: {tests}"
        if function not in tests:
            return f"check {check!r}: {path} defines no test function {function!r}"
        marker = MODE_MARKERS.get(modes)
        if marker and marker not in tests[function]:
            return f"check {check!r} holds in {modes} mode only, so it must be marked @pytest.mark.{marker}"
        return ""

    def tests_in(self, path: str) -> dict[str, set[str]] | str:
        """{test function name: its pytest markers, the module's included}, or why there are none."""
        if path not in self.files:
            self.files[path] = read_tests(Path(settings.BASE_DIR) / path)
        return self.files[path]


def read_tests(path: Path) -> dict[str, set[str]] | str:
    if not path.is_file():
        return "no such file"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        return f"the file does not parse (line {exc.lineno}: {exc.msg})"
    module_markers: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytestmark" for target in node.targets
        ):
            module_markers |= marker_names(node.value)
    return {
        node.name: module_markers | marker_names(*node.decorator_list)
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


def marker_names(*nodes: ast.AST) -> set[str]:
    """The X of every `pytest.mark.X` inside `nodes`."""
    names = set()
    for node in nodes:
        for inner in ast.walk(node):
            if (
                isinstance(inner, ast.Attribute)
                and isinstance(inner.value, ast.Attribute)
                and inner.value.attr == "mark"
            ):
                names.add(inner.attr)
    return names
