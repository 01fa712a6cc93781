"""Check a whole curriculum: every file's own problems, then what spans files (duplicate ids,
cited claims and misconceptions, the share of questions that cite a claim, the share of wrong
options that name a misconception)."""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from learn.curriculum.claims import (
    MIN_QUESTION_SHARE,
    ClaimSource,
    load_registry,
    registry_folder,
)
from learn.curriculum.misconceptions import (
    MIN_TAGGED_SHARE,
    MisconceptionSource,
    load_misconceptions,
    misconceptions_folder,
)
from learn.curriculum.parse import DIFFICULTIES, KIND_NAMES, Problem, TopicSource, display_path, parse_file
from learn.curriculum.registry import lab_experiments


@dataclass
class Curriculum:
    topics: list[TopicSource]
    problems: list[Problem]
    claims: list[ClaimSource] = field(default_factory=list)
    misconceptions: list[MisconceptionSource] = field(default_factory=list)
    is_whole: bool = False  # a folder was checked, not one topic file
    has_tagging_rule: bool = False  # a whole folder with a misconception registry

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
    claims, registry_problems = load_registry(registry_folder(path))
    problems.extend(registry_problems)
    misconceptions, misconception_problems = load_misconceptions(misconceptions_folder(path))
    problems.extend(misconception_problems)
    problems.extend(duplicate_ids(topics, misconceptions))
    claim_ids = {claim.id for claim in claims}
    problems.extend(unknown_claims(topics, claim_ids))
    problems.extend(unknown_refuting_claims(misconceptions, claim_ids))
    problems.extend(unknown_misconceptions(topics, {m.id for m in misconceptions}))
    problems.extend(unknown_experiments(topics, misconceptions))
    if path.is_dir():
        # The shares are rules for the whole curriculum: one topic alone may be below them.
        problems.extend(too_few_citing(path, topics))
    # A curriculum without misconceptions has nothing to tag its options with.
    has_tagging_rule = path.is_dir() and any(misconceptions_folder(path).glob("*.md"))
    if has_tagging_rule:
        problems.extend(too_few_tagged(path, topics))
    problems.sort(key=lambda p: (p.path, p.line))
    return Curriculum(
        topics,
        problems,
        claims,
        misconceptions,
        is_whole=path.is_dir(),
        has_tagging_rule=has_tagging_rule,
    )


def unknown_experiments(
    topics: list[TopicSource], misconceptions: list[MisconceptionSource]
) -> list[Problem]:
    """A `lab:` field must name an experiment of the live lab's catalog."""
    catalog = lab_experiments()  # the catalog is code, registered by live_lab (registry.py)

    problems = []
    for misconception in misconceptions:
        if misconception.lab and misconception.lab not in catalog:
            message = (
                f'misconception "{misconception.id}" names lab experiment "{misconception.lab}", which the '
                f"lab does not have (known: {', '.join(sorted(catalog))})"
            )
            problems.append(Problem(misconception.path, misconception.key_lines["lab"], message))
    for topic in topics:
        for section in topic.section_labs:
            for experiment in section.experiments:
                if experiment not in catalog:
                    message = (
                        f'section "{section.heading}" names lab experiment "{experiment}", which the lab '
                        f"does not have (known: {', '.join(sorted(catalog))})"
                    )
                    problems.append(Problem(topic.path, section.line, message))
        for item in topic.items:
            lab = item.fields.get("lab")
            if not lab or lab in catalog:
                continue
            line = item.field_lines.get("lab", item.line)
            message = (
                f'{KIND_NAMES[item.kind]} "{item.id}" names lab experiment "{lab}", which the lab '
                f"does not have (known: {', '.join(sorted(catalog))})"
            )
            problems.append(Problem(topic.path, line, message))
    return problems


def unknown_claims(topics: list[TopicSource], known: set[str]) -> list[Problem]:
    problems = []
    for topic in topics:
        for item in topic.items:
            for claim_id in item.claims:
                if claim_id not in known:
                    message = f'{KIND_NAMES[item.kind]} "{item.id}" cites unknown claim "{claim_id}"'
                    problems.append(Problem(topic.path, item.field_lines["claims"], message))
    return problems


def unknown_refuting_claims(misconceptions: list[MisconceptionSource], known: set[str]) -> list[Problem]:
    return [
        Problem(
            m.path,
            m.key_lines["refuted_by"],
            f'misconception "{m.id}" is refuted by unknown claim "{m.refuted_by}": '
            "name a claim of content/claims/",
        )
        for m in misconceptions
        if m.refuted_by and m.refuted_by not in known
    ]


def unknown_misconceptions(topics: list[TopicSource], known: set[str]) -> list[Problem]:
    problems = []
    for topic in topics:
        for question in topic.of_kind("question"):
            for tag in question.misconceptions:
                if tag.id not in known:
                    message = (
                        f'question "{question.id}" tags option {tag.key} with unknown misconception '
                        f'"{tag.id}": add content/misconceptions/{tag.id}.md or fix the id'
                    )
                    problems.append(Problem(topic.path, tag.line, message))
        for prompt in topic.of_kind("explain"):
            for wrong in prompt.wrong_claims:
                if wrong.misconception and wrong.misconception not in known:
                    message = (
                        f'explain prompt "{prompt.id}" has wrong claim "{wrong.name}" naming unknown '
                        f'misconception "{wrong.misconception}": add '
                        f"content/misconceptions/{wrong.misconception}.md or fix the id"
                    )
                    problems.append(Problem(topic.path, wrong.field_lines["misconception"], message))
    return problems


def wrong_options(topics: list[TopicSource]) -> list[tuple[TopicSource, object, object]]:
    """(topic, question, option) for every wrong option of every question."""
    return [
        (topic, question, option)
        for topic in topics
        for question in topic.of_kind("question")
        for option in question.options
        if not option.is_correct
    ]


def is_tagged(question, option) -> bool:
    return any(tag.key == option.key for tag in question.misconceptions)


def too_few_tagged(path: Path, topics: list[TopicSource]) -> list[Problem]:
    """Under MIN_TAGGED_SHARE of the wrong options name a misconception: the summary, then each
    untagged option at its line."""
    wrong = wrong_options(topics)
    untagged = [
        (topic, question, option) for topic, question, option in wrong if not is_tagged(question, option)
    ]
    if not wrong or len(wrong) - len(untagged) >= MIN_TAGGED_SHARE * len(wrong):
        return []
    tagged = len(wrong) - len(untagged)
    summary = (
        f"only {share(tagged, len(wrong))} of the wrong options ({tagged} of {len(wrong)}) name a "
        f"misconception; at least {MIN_TAGGED_SHARE:.0%} must: add '#### Misconceptions' tags to the "
        f"{len(untagged)} untagged options listed here"
    )
    return [Problem(display_path(path), 0, summary)] + [
        Problem(
            topic.path, option.line, f'option {option.key} of question "{question.id}" names no misconception'
        )
        for topic, question, option in untagged
    ]


def too_few_citing(path: Path, topics: list[TopicSource]) -> list[Problem]:
    questions = [q for t in topics for q in t.of_kind("question")]
    citing = [q for q in questions if q.claims]
    if not questions or len(citing) >= MIN_QUESTION_SHARE * len(questions):
        return []
    message = (
        f"only {share(len(citing), len(questions))} of the questions ({len(citing)} of {len(questions)}) "
        f"cite a claim; at least {MIN_QUESTION_SHARE:.0%} must: add 'claims:' fields"
    )
    return [Problem(display_path(path), 0, message)]


def share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "0%"


def duplicate_ids(topics: list[TopicSource], misconceptions: list[MisconceptionSource] = ()) -> list[Problem]:
    """Ids are unique across the whole curriculum, whatever their kind (claims are a namespace
    of their own)."""
    first_seen: dict[str, str] = {}
    problems = []
    for misconception in misconceptions:
        if misconception.id:
            first_seen[misconception.id] = f"{misconception.path}:{misconception.line}"
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
    citing = sum(1 for q in questions if q.claims)
    return (
        f"{plural(cards, 'flashcard')}, {plural(len(questions), 'question')} ({split}), "
        f"{plural(prompts, 'explain prompt')}; {citing} of {len(questions)} questions cite a claim "
        f"({share(citing, len(questions))})"
    )


def totals_report(curriculum: Curriculum) -> list[str]:
    lines = [f"{topic.path} [{topic.id}]: {totals_line([topic])}" for topic in curriculum.topics]
    lines.append(f"Total: {plural(len(curriculum.topics), 'topic')}, {totals_line(curriculum.topics)}")
    lines.append(claims_line(curriculum))
    lines.append(misconceptions_line(curriculum))
    return lines


def misconceptions_line(curriculum: Curriculum) -> str:
    wrong = wrong_options(curriculum.topics)
    tagged = sum(1 for _, question, option in wrong if is_tagged(question, option))
    named = {
        tag.id for topic in curriculum.topics for q in topic.of_kind("question") for tag in q.misconceptions
    }
    unused = sum(1 for m in curriculum.misconceptions if m.id not in named)
    rule = f" (at least {MIN_TAGGED_SHARE:.0%} needed)" if curriculum.has_tagging_rule else ""
    return (
        f"Misconceptions: {plural(len(curriculum.misconceptions), 'misconception')} "
        f"({unused} named by no option); "
        f"{tagged} of {len(wrong)} wrong options ({share(tagged, len(wrong))}) name one{rule}"
    )


def claims_line(curriculum: Curriculum) -> str:
    items = [item for topic in curriculum.topics for item in topic.items]
    cited = {claim_id for item in items for claim_id in item.claims}
    citing = sum(1 for item in items if item.claims)
    questions = [item for item in items if item.kind == "question"]
    citing_questions = sum(1 for q in questions if q.claims)
    uncited = sum(1 for claim in curriculum.claims if claim.id not in cited)
    rule = f" (at least {MIN_QUESTION_SHARE:.0%} needed)" if curriculum.is_whole else ""
    return (
        f"Claims: {plural(len(curriculum.claims), 'claim')} ({uncited} not cited here), "
        f"cited by {plural(citing, 'item')}; {citing_questions} of {len(questions)} questions "
        f"({share(citing_questions, len(questions))}) cite a claim{rule}"
    )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
