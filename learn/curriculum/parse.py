"""Read the markdown curriculum (format: content/README.md) into plain objects.

Parsing never stops at the first problem: every problem found is collected with its file and
line, so that an author fixes a whole file in one pass.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from django.conf import settings
from django.utils.text import slugify

from learn.curriculum.registry import check_claim_syntax

SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
FENCE_RE = re.compile(r"^\s*(```|~~~)")
HEADING_RE = re.compile(r"^(#{1,4}) (.+?)\s*$")
ITEM_HEADING_RE = re.compile(r"^(card|question|explain): (\S+)$")
FIELD_RE = re.compile(r"^([a-z_]+):\s*(.*?)\s*$")
OPTION_RE = re.compile(r"^- \[([ xX])\] ([A-Z])\. (.*)$")
CONCEPT_RE = re.compile(r"^- ([^:]+):(.*)$")
# A concept's or wrong claim's own fields, indented under its bullet: `  section: Retrying`.
BULLET_FIELD_RE = re.compile(r"^ {2,}([a-z_]+):\s*(.*?)\s*$")
MISCONCEPTION_TAG_RE = re.compile(r"^- ([A-Z]):\s*(\S+)\s*$")
# Images: ![alt](src "title"), ![alt][ref] or ![ref] with a definition "[ref]: src", <img src=...>.
IMAGE_RE = re.compile(r"!\[[^\]]*\]\(\s*<?([^\s)>]+)")
IMAGE_REFERENCE_RE = re.compile(r"!\[([^\]]*)\](?!\()(?:\[([^\]]*)\])?")
IMG_TAG_RE = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*[\"']?([^\"'\s>]+)", re.IGNORECASE)
DEFINITION_RE = re.compile(r"^ {0,3}\[([^\]]+)\]:\s*<?([^\s>]+)")
CODE_SPAN_RE = re.compile(r"(`+).*?\1")
# In the cheat sheet, a line naming the lab experiments that show the section above it live:
# `lab: revoke-queued, revoke-running`. The topic page shows it as links (sync.py).
SECTION_LAB_RE = re.compile(r"^lab:\s*(.*?)\s*$")

SECTIONS = {"Flashcards": "card", "Questions": "question", "Explain prompts": "explain"}
FRONT_MATTER_KEYS = {"id", "title", "summary", "minutes", "tags", "order"}
LEVELS = ("beginner", "intermediate", "advanced")
DIFFICULTIES = ("easy", "medium", "hard")
# Every kind may cite claims of the registry (content/claims/): `claims: id, other-id`.
FIELDS = {"card": {"level", "claims"}, "question": {"difficulty", "lab", "claims"}, "explain": {"claims"}}
KIND_NAMES = {"card": "card", "question": "question", "explain": "explain prompt"}
SUBSECTIONS = {
    "card": {"Back"},
    "question": {"Options", "Explanation", "Hint", "Solution", "Common mistakes", "Misconceptions"},
    "explain": {"Hint", "Concepts", "Wrong claims", "Model answer"},
}
# Subsections an item may leave out.
OPTIONAL_SUBSECTIONS = {"Misconceptions", "Wrong claims"}
# The fields under a concept's bullet and under a wrong claim's (all required).
CONCEPT_FIELDS = ("section",)
WRONG_CLAIM_FIELDS = ("misconception", "contradicts")
MIN_OPTIONS, MAX_OPTIONS = 2, 6
MIN_CONCEPTS, MAX_CONCEPTS = 3, 6


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self):
        if not self.line:  # a problem with a whole file or folder
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class OptionSource:
    key: str
    text: str
    is_correct: bool
    line: int


@dataclass
class ConceptSource:
    """A key concept: its name, the claims that make it (`phrasings`) and its fields."""

    key: str
    name: str
    phrasings: list[str]
    line: int
    fields: dict[str, str] = field(default_factory=dict)
    field_lines: dict[str, int] = field(default_factory=dict)

    @property
    def section(self) -> str:
        """The cheat-sheet heading that teaches this concept."""
        return self.fields.get("section", "")

    @property
    def misconception(self) -> str:
        return self.fields.get("misconception", "")

    @property
    def contradicts(self) -> str:
        return self.fields.get("contradicts", "")


@dataclass
class MisconceptionTag:
    """`- B: pending-means-queued`: option B embodies that misconception."""

    key: str
    id: str
    line: int


@dataclass
class ItemSource:
    """One card, question or explain prompt, as written."""

    kind: str
    id: str
    line: int
    fields: dict[str, str] = field(default_factory=dict)
    field_lines: dict[str, int] = field(default_factory=dict)
    text: str = ""
    sections: dict[str, str] = field(default_factory=dict)
    section_lines: dict[str, int] = field(default_factory=dict)
    options: list[OptionSource] = field(default_factory=list)
    concepts: list[ConceptSource] = field(default_factory=list)
    # An explain prompt's wrong claims: same shape as concepts, with other fields.
    wrong_claims: list[ConceptSource] = field(default_factory=list)
    misconceptions: list[MisconceptionTag] = field(default_factory=list)

    @property
    def claims(self) -> list[str]:
        """The claim ids this item cites, in the order written."""
        return claim_ids(self.fields.get("claims", ""))


def claim_ids(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@dataclass
class SectionLab:
    """A cheat-sheet `lab:` line: the experiments that show its section live."""

    heading: str  # the heading above the line, as written
    experiments: list[str]
    line: int


def lab_lines(lines: list[str]):
    """(index, experiment ids) of every `lab:` line outside fenced code."""
    fence = None
    for index, line in enumerate(lines):
        match = FENCE_RE.match(line)
        if match:
            if fence is None:
                fence = match.group(1)
            elif match.group(1) == fence:
                fence = None
            continue
        lab = SECTION_LAB_RE.match(line) if fence is None else None
        if lab:
            yield index, claim_ids(lab.group(1))


@dataclass
class TopicSource:
    path: str
    id: str = ""
    id_line: int = 1
    title: str = ""
    summary: str = ""
    minutes: int = 0
    tags: list[str] = field(default_factory=list)
    order: int = 0
    body: str = ""
    # The cheat sheet's headings (`##` to `####`) as written, without the hashes.
    headings: list[str] = field(default_factory=list)
    items: list[ItemSource] = field(default_factory=list)
    section_labs: list["SectionLab"] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[ItemSource]:
        return [item for item in self.items if item.kind == kind]


@dataclass
class FrontMatter:
    """A file's YAML front matter: `data` (None when it is missing or broken), `end` (the index of
    its closing '---', None when there is none), each key's line index, and what is wrong."""

    data: dict | None
    end: int | None
    key_lines: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)


def read_front_matter(lines: list[str], *, what: str) -> FrontMatter:
    """The front matter between the first two '---' lines of a topic or registry file (`what`
    names the file in the messages); problems are (line index, message)."""
    if not lines or lines[0].strip() != "---":
        message = f"{what} must start with YAML front matter between two '---' lines"
        return FrontMatter(None, None, problems=[(0, message)])
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        return FrontMatter(None, None, problems=[(0, "the front matter has no closing '---' line")])
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        # Point at where the broken construct began (an unclosed '[' ...) when YAML says so;
        # the place it noticed the problem is often the next line.
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        index = 1 + mark.line if mark is not None else 0
        reason = ", ".join(filter(None, [getattr(exc, "context", None), getattr(exc, "problem", None)]))
        return FrontMatter(None, end, problems=[(index, f"front matter is not valid YAML: {reason or exc}")])
    if not isinstance(data, dict):
        return FrontMatter(None, end, problems=[(1, "front matter must be a mapping of keys to values")])
    key_lines = {}
    for index in range(1, end):
        match = FIELD_RE.match(lines[index])
        if match:
            key_lines[match.group(1)] = index
    return FrontMatter(data, end, key_lines)


def display_path(path: Path) -> str:
    """The path as an author would type it: relative to the project when inside it."""
    try:
        return str(path.resolve().relative_to(settings.BASE_DIR))
    except ValueError:
        return str(path)


def structure_lines(lines: list[str], start: int) -> list[tuple[int, int, str]]:
    """(index, level, text) of every #, ##, ### and #### heading outside fenced code."""
    headings = []
    fence = None
    for index in range(start, len(lines)):
        line = lines[index]
        match = FENCE_RE.match(line)
        if match:
            if fence is None:
                fence = match.group(1)
            elif match.group(1) == fence:
                fence = None
            continue
        if fence is None:
            heading = HEADING_RE.match(line)
            if heading:
                headings.append((index, len(heading.group(1)), heading.group(2)))
    return headings


def block(lines: list[str], start: int, end: int) -> str:
    return "\n".join(lines[start:end]).strip("\n")


class FileParser:
    def __init__(self, path: Path):
        self.path = path
        self.shown = display_path(path)
        self.problems: list[Problem] = []

    def problem(self, index: int, message: str) -> None:
        """Record a problem at 0-based line `index`."""
        self.problems.append(Problem(self.shown, index + 1, message))

    def parse(self) -> TopicSource:
        topic = TopicSource(path=self.shown)
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            self.problem(0, f"not valid UTF-8 ({exc.reason})")
            return topic
        lines = text.split("\n")
        body_start = self.parse_front_matter(lines, topic)
        if body_start is None:
            return topic
        self.parse_body(lines, body_start, topic)
        self.check_sections(topic)
        self.check_images(lines, body_start)
        return topic

    def check_images(self, lines: list[str], start: int) -> None:
        for index, message in off_site_images(lines, start):
            self.problem(index, message)

    def parse_front_matter(self, lines: list[str], topic: TopicSource) -> int | None:
        front = read_front_matter(lines, what="the file")
        for index, message in front.problems:
            self.problem(index, message)
        if front.end is None:
            return None
        if front.data is None:
            return front.end + 1
        data, end, key_lines = front.data, front.end, front.key_lines
        for key in sorted(set(data) - FRONT_MATTER_KEYS):
            self.problem(key_lines.get(key, 1), f"unknown front matter key {key!r}")
        for key in sorted(FRONT_MATTER_KEYS - set(data)):
            self.problem(end, f"front matter is missing {key!r}")

        def check(key, ok, expected):
            value = data.get(key)
            if key in data and not ok(value):
                self.problem(key_lines.get(key, 1), f"front matter {key!r} must be {expected}")
                return None
            return value

        topic.id_line = key_lines.get("id", 1) + 1
        topic.id = check("id", is_slug, "a slug (lowercase letters, digits, hyphens)") or ""
        topic.title = check("title", is_text, "non-empty text") or ""
        topic.summary = check("summary", is_text, "non-empty text") or ""
        topic.minutes = check("minutes", lambda v: is_int(v) and v >= 1, "a whole number ≥ 1") or 0
        topic.order = check("order", is_int, "a whole number") or 0
        topic.tags = (
            check("tags", lambda v: isinstance(v, list) and all(is_text(t) for t in v), "a list of text")
            or []
        )
        return end + 1

    def parse_body(self, lines: list[str], start: int, topic: TopicSource) -> None:
        headings = structure_lines(lines, start)
        sections = [(i, text) for i, level, text in headings if level == 2 and text in SECTIONS]
        cheat_sheet_end = sections[0][0] if sections else len(lines)
        topic.body = block(lines, start, cheat_sheet_end)
        # (a `#` heading is reported on its own below; it still counts here, to report it once)
        topic.headings = [text for i, level, text in headings if i < cheat_sheet_end]
        self.parse_section_labs(lines, start, cheat_sheet_end, headings, topic)
        if not topic.body.strip():
            self.problem(start, "the cheat sheet is empty: write it before the first section")
        for index, level, _ in headings:
            if level == 1:
                self.problem(index, "use '##' or deeper: the page shows the title as its only '#' heading")

        level2 = [(i, text) for i, level, text in headings if level == 2 and i >= cheat_sheet_end]
        seen: dict[str, int] = {}
        for number, (index, text) in enumerate(level2):
            end = level2[number + 1][0] if number + 1 < len(level2) else len(lines)
            if text not in SECTIONS:
                self.problem(
                    index,
                    f"unknown section {text!r} after the cheat sheet; sections are "
                    + ", ".join(repr(name) for name in SECTIONS),
                )
            elif text in seen:
                self.problem(index, f"section {text!r} appears twice (first at line {seen[text] + 1})")
            else:
                seen[text] = index
                inner = [h for h in headings if index < h[0] < end]
                self.parse_section(lines, index, end, SECTIONS[text], inner, topic)

    def parse_section_labs(self, lines, start, end, headings, topic: TopicSource) -> None:
        """The cheat sheet's `lab:` lines, each under the heading of the section it links."""
        for offset, experiments in lab_lines(lines[start:end]):
            index = start + offset
            above = [text for i, level, text in headings if i < index and level >= 2]
            if not above:
                self.problem(index, "a 'lab:' line links a section: put it under the section's '##' heading")
            elif not experiments:
                self.problem(index, "'lab:' names no experiment: write 'lab: <experiment id>, ...'")
            else:
                topic.section_labs.append(SectionLab(above[-1], experiments, index + 1))

    def parse_section(self, lines, start, end, kind, headings, topic) -> None:
        items = [h for h in headings if h[1] == 3]
        first_item = items[0][0] if items else end
        if block(lines, start + 1, first_item).strip():
            self.problem(start + 1, f"text outside an item: start each item with '### {kind}: <id>'")
        for number, (index, _, text) in enumerate(items):
            item_end = items[number + 1][0] if number + 1 < len(items) else end
            match = ITEM_HEADING_RE.match(text)
            if not match:
                self.problem(index, f"item heading must be '### {kind}: <id>', not '### {text}'")
                continue
            if match.group(1) != kind:
                self.problem(
                    index, f"a {match.group(1)} cannot stand in this section; use '### {kind}: <id>'"
                )
                continue
            subheadings = [h for h in headings if index < h[0] < item_end and h[1] == 4]
            topic.items.append(self.parse_item(lines, index, item_end, kind, match.group(2), subheadings))

    def parse_item(self, lines, start, end, kind, item_id, subheadings) -> ItemSource:
        item = ItemSource(kind=kind, id=item_id, line=start + 1)
        if not is_slug(item_id):
            self.problem(start, f"id {item_id!r} is not a slug (lowercase letters, digits, hyphens)")

        index = start + 1
        while index < end and FIELD_RE.match(lines[index]):
            key, value = FIELD_RE.match(lines[index]).groups()
            if key not in FIELDS[kind]:
                allowed = ", ".join(sorted(FIELDS[kind])) or "none"
                self.problem(index, f"unknown field {key!r} for a {kind} (allowed: {allowed})")
            elif key in item.fields:
                self.problem(index, f"field {key!r} appears twice")
            else:
                item.fields[key] = value
                item.field_lines[key] = index + 1
            index += 1

        text_end = subheadings[0][0] if subheadings else end
        item.text = block(lines, index, text_end)
        for number, (sub_index, _, name) in enumerate(subheadings):
            sub_end = subheadings[number + 1][0] if number + 1 < len(subheadings) else end
            if name not in SUBSECTIONS[kind]:
                allowed = ", ".join(repr(s) for s in sorted(SUBSECTIONS[kind]))
                self.problem(sub_index, f"unknown subsection {name!r} for a {kind} (allowed: {allowed})")
            elif name in item.sections:
                self.problem(sub_index, f"subsection {name!r} appears twice")
            else:
                item.sections[name] = block(lines, sub_index + 1, sub_end)
                item.section_lines[name] = sub_index + 1
                if name == "Options":
                    item.options = self.parse_options(lines, sub_index + 1, sub_end)
                elif name == "Concepts":
                    item.concepts = self.parse_concepts(lines, sub_index + 1, sub_end, CONCEPT_FIELDS)
                elif name == "Wrong claims":
                    item.wrong_claims = self.parse_concepts(lines, sub_index + 1, sub_end, WRONG_CLAIM_FIELDS)
                elif name == "Misconceptions":
                    item.misconceptions = self.parse_misconception_tags(lines, sub_index + 1, sub_end)

        self.check_item(item, start)
        return item

    def parse_options(self, lines, start, end) -> list[OptionSource]:
        options: list[OptionSource] = []
        continuation: list[str] = []

        def close():
            if options and continuation:
                extra = "\n".join(line[2:] for line in continuation).rstrip()
                options[-1].text = (options[-1].text + "\n" + extra).strip()
            continuation.clear()

        for index in range(start, end):
            line = lines[index]
            match = OPTION_RE.match(line)
            if match:
                close()
                mark, key, text = match.groups()
                options.append(OptionSource(key, text.strip(), mark != " ", index + 1))
            elif not line.strip() or (options and line.startswith("  ")):
                continuation.append(line)
            else:
                self.problem(index, "expected an option like '- [ ] A. text' or '- [x] B. text'")
        close()
        return options

    def parse_concepts(self, lines, start, end, field_names) -> list[ConceptSource]:
        """Concepts or wrong claims: `- Name: claim | claim`, then indented `name: value` fields."""
        kind = "concept" if field_names == CONCEPT_FIELDS else "wrong claim"
        fields_example = [f"'{name}: ...'" for name in field_names]
        example = "\n  ".join(["'- Name: claim | another claim'", *fields_example])
        concepts: list[ConceptSource] = []
        for index in range(start, end):
            line = lines[index]
            if not line.strip():
                continue
            field_match = BULLET_FIELD_RE.match(line)
            if field_match and concepts:
                key, value = field_match.groups()
                if key not in field_names:
                    allowed = ", ".join(field_names)
                    self.problem(index, f"unknown field {key!r} for a {kind} (allowed: {allowed})")
                elif key in concepts[-1].fields:
                    self.problem(index, f"field {key!r} appears twice")
                elif not value:
                    self.problem(index, f"field {key!r} is empty")
                else:
                    concepts[-1].fields[key] = value
                    concepts[-1].field_lines[key] = index + 1
                continue
            match = CONCEPT_RE.match(line)
            phrasings = [p.strip() for p in match.group(2).split("|")] if match else []
            if not match or not all(phrasings):
                self.problem(index, f"expected a {kind} like {example}")
                continue
            for phrasing in phrasings:
                try:
                    check_claim_syntax(phrasing)  # the syntax belongs to quizzes' scorer
                except ValueError as exc:
                    self.problem(index, str(exc))
            name = match.group(1).strip()
            concepts.append(ConceptSource(slugify(name), name, phrasings, index + 1))
        for concept in concepts:
            for name in field_names:
                if name not in concept.fields:
                    self.problem(concept.line - 1, f"{kind} {concept.name!r} has no '{name}:' field")
        return concepts

    def parse_misconception_tags(self, lines, start, end) -> list[MisconceptionTag]:
        tags = []
        for index in range(start, end):
            line = lines[index]
            if not line.strip():
                continue
            match = MISCONCEPTION_TAG_RE.match(line)
            if not match:
                self.problem(index, "expected a tag like '- B: misconception-id' (a wrong option's letter)")
                continue
            tags.append(MisconceptionTag(match.group(1), match.group(2), index + 1))
        return tags

    def check_item(self, item: ItemSource, index: int) -> None:
        for name in sorted(SUBSECTIONS[item.kind] - OPTIONAL_SUBSECTIONS - set(item.sections)):
            self.problem(index, f"{item.kind} {item.id!r} has no '#### {name}' subsection")
        for name, text in item.sections.items():
            if not text.strip() and name not in ("Options", "Concepts", "Misconceptions", "Wrong claims"):
                self.problem(item.section_lines[name] - 1, f"subsection {name!r} is empty")
        if not item.text.strip():
            what = {"card": "front", "question": "stem", "explain": "prompt"}[item.kind]
            self.problem(index, f"{item.kind} {item.id!r} has no {what}")

        self.check_claim_ids(item)
        if item.kind == "card":
            self.check_choice(item, "level", LEVELS, index)
        elif item.kind == "question":
            self.check_choice(item, "difficulty", DIFFICULTIES, index)
            lab = item.fields.get("lab")
            if lab is not None and not is_slug(lab):
                self.problem(index, f"lab {lab!r} is not an experiment id (a slug)")
            self.check_options(item)
            self.check_misconception_tags(item)
        else:
            self.check_concepts(item)

    def check_claim_ids(self, item: ItemSource) -> None:
        """Only the form of the ids here: whether the registry has them is checked across files."""
        if "claims" not in item.fields:
            return
        line = item.field_lines["claims"] - 1
        if not item.claims:
            self.problem(line, "the 'claims' field is empty: list claim ids, or remove the field")
        for claim_id in item.claims:
            if not is_slug(claim_id):
                self.problem(
                    line, f"claim id {claim_id!r} is not a slug (lowercase letters, digits, hyphens)"
                )
        repeated = sorted({c for c in item.claims if item.claims.count(c) > 1})
        for claim_id in repeated:
            self.problem(line, f"claim {claim_id!r} is cited twice")

    def check_choice(self, item: ItemSource, key: str, allowed: tuple, index: int) -> None:
        value = item.fields.get(key)
        if value is None:
            self.problem(index, f"{item.kind} {item.id!r} has no {key!r} field")
        elif value not in allowed:
            self.problem(
                index + 1 + list(item.fields).index(key),
                f"unknown {key} {value!r}: use one of " + ", ".join(allowed),
            )

    def check_options(self, item: ItemSource) -> None:
        if "Options" not in item.sections:
            return
        line = item.section_lines["Options"] - 1
        if not MIN_OPTIONS <= len(item.options) <= MAX_OPTIONS:
            self.problem(
                line,
                f"question {item.id!r} has {len(item.options)} options; "
                f"it needs {MIN_OPTIONS} to {MAX_OPTIONS}",
            )
        for position, option in enumerate(item.options):
            expected = "ABCDEF"[position] if position < MAX_OPTIONS else None
            if option.key != expected:
                self.problem(
                    option.line - 1,
                    f"option {option.key} is out of order: options are lettered A, B, C, … "
                    f"and this one should be {expected or 'removed'}",
                )
            if not option.text:
                self.problem(option.line - 1, f"option {option.key} has no text")
        if item.options and not any(option.is_correct for option in item.options):
            self.problem(line, f"question {item.id!r} has no correct option: mark one with [x]")

    def check_misconception_tags(self, item: ItemSource) -> None:
        """Each tag names a wrong option of this question, once. Whether the registry has the
        misconception is checked across files."""
        options = {option.key: option for option in item.options}
        tagged: dict[str, int] = {}
        for tag in item.misconceptions:
            option = options.get(tag.key)
            if option is None:
                self.problem(tag.line - 1, f"question {item.id!r} has no option {tag.key} to tag")
            elif option.is_correct:
                self.problem(
                    tag.line - 1,
                    f"option {tag.key} of question {item.id!r} is correct: "
                    "only wrong options embody a misconception",
                )
            if tag.key in tagged:
                self.problem(
                    tag.line - 1,
                    f"option {tag.key} is tagged twice (first at line {tagged[tag.key]}): "
                    "one misconception per option",
                )
            tagged.setdefault(tag.key, tag.line)
            if not is_slug(tag.id):
                self.problem(
                    tag.line - 1,
                    f"misconception id {tag.id!r} is not a slug (lowercase letters, digits, hyphens)",
                )
        if "Misconceptions" in item.sections and not item.sections["Misconceptions"].strip():
            self.problem(
                item.section_lines["Misconceptions"] - 1,
                "subsection 'Misconceptions' is empty: tag wrong options or remove it",
            )

    def check_concepts(self, item: ItemSource) -> None:
        if "Concepts" not in item.sections:
            return
        line = item.section_lines["Concepts"] - 1
        if not MIN_CONCEPTS <= len(item.concepts) <= MAX_CONCEPTS:
            self.problem(
                line,
                f"explain prompt {item.id!r} has {len(item.concepts)} concepts; "
                f"it needs {MIN_CONCEPTS} to {MAX_CONCEPTS}",
            )
        seen = {}
        for concept in item.concepts:
            if concept.key in seen:
                self.problem(
                    concept.line - 1,
                    f"concept {concept.name!r} repeats the concept at line {seen[concept.key]}",
                )
            seen.setdefault(concept.key, concept.line)
        self.check_wrong_claims(item, seen)

    def check_wrong_claims(self, item: ItemSource, concept_lines: dict[str, int]) -> None:
        """Each wrong claim contradicts a concept of its prompt (by name), once per name. Whether
        its misconception exists is checked across files."""
        if "Wrong claims" in item.sections and not item.wrong_claims:
            self.problem(
                item.section_lines["Wrong claims"] - 1,
                "subsection 'Wrong claims' is empty: list the wrong claims or remove it",
            )
        names = {concept.name: concept.key for concept in item.concepts}
        seen: dict[str, int] = {}
        for wrong in item.wrong_claims:
            if wrong.key in seen or wrong.key in concept_lines:
                first = seen.get(wrong.key) or concept_lines[wrong.key]
                self.problem(wrong.line - 1, f"wrong claim {wrong.name!r} repeats the name at line {first}")
            seen.setdefault(wrong.key, wrong.line)
            if wrong.contradicts and wrong.contradicts not in names:
                self.problem(
                    wrong.field_lines["contradicts"] - 1,
                    f"wrong claim {wrong.name!r} contradicts {wrong.contradicts!r}, which is not a concept "
                    f"of {item.id!r} (concepts: {', '.join(repr(name) for name in names)})",
                )
            if wrong.misconception and not is_slug(wrong.misconception):
                self.problem(
                    wrong.field_lines["misconception"] - 1,
                    f"misconception id {wrong.misconception!r} is not a slug "
                    "(lowercase letters, digits, hyphens)",
                )

    def check_sections(self, topic: TopicSource) -> None:
        """A concept's `section:` names a heading of its topic's cheat sheet, as written."""
        for item in topic.of_kind("explain"):
            for concept in item.concepts:
                if concept.section and concept.section not in topic.headings:
                    known = "; ".join(repr(heading) for heading in topic.headings) or "none"
                    self.problem(
                        concept.field_lines["section"] - 1,
                        f"concept {concept.name!r} names section {concept.section!r}, which is not a "
                        f"heading of this topic's cheat sheet (headings: {known})",
                    )


def off_site_images(lines: list[str], start: int) -> list[tuple[int, str]]:
    """(0-based line, message) of every image that is not a file of this site.

    The Content-Security-Policy (img-src 'self') would block any other in the browser, and a
    learner's browser should not call other sites. Code blocks and code spans are skipped.
    """
    found: list[tuple[int, str]] = []
    definitions: dict[str, tuple[int, str]] = {}
    referenced: set[str] = set()
    fence = None
    for index in range(start, len(lines)):
        match = FENCE_RE.match(lines[index])
        if match and fence is None:
            fence = match.group(1)
            continue
        if match and match.group(1) == fence:
            fence = None
            continue
        if fence is not None:
            continue
        line = CODE_SPAN_RE.sub("", lines[index])
        found.extend((index, src) for src in IMAGE_RE.findall(line) + IMG_TAG_RE.findall(line))
        for alt, label in IMAGE_REFERENCE_RE.findall(line):
            referenced.add((label or alt).strip().lower())
        definition = DEFINITION_RE.match(line)
        if definition:
            definitions[definition.group(1).strip().lower()] = (index, definition.group(2))
    found.extend(place for label, place in definitions.items() if label in referenced)
    return [
        (
            index,
            f"image {src!r} is not on this site: put the file under static/ and link it as "
            "/static/<path> (images from other origins are blocked by the Content-Security-Policy)",
        )
        for index, src in found
        if is_off_site(src)
    ]


def is_off_site(src: str) -> bool:
    parts = urlsplit(src)
    return bool(parts.scheme or parts.netloc) or src.startswith(("\\", "/\\"))


def is_slug(value) -> bool:
    return isinstance(value, str) and SLUG_RE.fullmatch(value) is not None


def is_text(value) -> bool:
    return isinstance(value, str) and value.strip() != ""


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_file(path: Path) -> tuple[TopicSource, list[Problem]]:
    parser = FileParser(path)
    topic = parser.parse()
    return topic, parser.problems
