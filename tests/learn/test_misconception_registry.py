"""The misconception registry (content/misconceptions/) in `content check` and `content sync`."""

from pathlib import Path

import pytest
from django.conf import settings

from learn.models import Misconception
from quizzes.models import Option
from tests.learn.test_content_check import GOOD_TOPIC, check, line_of, problems_for, sync, write_topic

MISCONCEPTION = """\
---
id: ready-means-success
statement: "`ready()` is true only when the task succeeded."
refuted_by: ready-is-true-after-failure
source: https://github.com/celery/celery/issues/1
lab: failure
---

`ready()` is true for SUCCESS, FAILURE and REVOKED.
"""

# Option A of the first question tagged; option B of the second is not (1 of 2 wrong options).
HALF_TAGGED_TOPIC = GOOD_TOPIC.replace(
    "- Reading ready as succeeded.\n",
    "- Reading ready as succeeded.\n\n#### Misconceptions\n\n- A: ready-means-success\n",
)
TAGGED_TOPIC = HALF_TAGGED_TOPIC.replace(
    "- Expecting an error.\n",
    "- Expecting an error.\n\n#### Misconceptions\n\n- B: ready-means-success\n",
)


def write_misconception(
    folder: Path, text: str = MISCONCEPTION, name: str = "ready-means-success.md"
) -> Path:
    (folder / "misconceptions").mkdir(parents=True, exist_ok=True)
    path = folder / "misconceptions" / name
    path.write_text(text)
    return path


def test_the_shipped_curriculum_reports_its_misconceptions_and_tagged_share():
    out, _ = check(settings.CONTENT_DIR)

    assert "Misconceptions: " in out
    assert " wrong options (" in out


def test_a_tagged_question_with_its_misconception_passes_and_is_counted(tmp_path):
    write_topic(tmp_path, TAGGED_TOPIC)
    write_misconception(tmp_path)

    out, _ = check(tmp_path)

    assert (
        "Misconceptions: 1 misconception (0 named by no option); "
        "2 of 2 wrong options (100%) name one (at least 90% needed)" in out
    )


def test_a_tag_naming_an_unknown_misconception_is_reported_at_its_line(tmp_path):
    path = write_topic(tmp_path, TAGGED_TOPIC.replace("- A: ready-means-success", "- A: ready-means-succes"))
    write_misconception(tmp_path)

    assert problems_for(tmp_path) == [
        f'{path}:{line_of(path, "- A: ready-means-succes")}: question "demo-question" tags option A with '
        'unknown misconception "ready-means-succes": '
        "add content/misconceptions/ready-means-succes.md or fix the id"
    ]


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        (
            "- B: ready-means-success",
            "option B of question 'demo-question' is correct: only wrong options embody a misconception",
        ),
        ("- E: ready-means-success", "question 'demo-question' has no option E to tag"),
        ("- A ready-means-success", "expected a tag like '- B: misconception-id' (a wrong option's letter)"),
    ],
    ids=["correct-option", "missing-letter", "malformed"],
)
def test_a_tag_on_a_correct_or_missing_option_is_reported_at_its_line(tmp_path, tag, message):
    path = write_topic(tmp_path, TAGGED_TOPIC.replace("- A: ready-means-success", tag))
    write_misconception(tmp_path)

    assert problems_for(path) == [f"{path}:{line_of(path, tag)}: {message}"]


def test_an_option_tagged_twice_is_reported_at_the_second_tag(tmp_path):
    path = write_topic(
        tmp_path,
        TAGGED_TOPIC.replace(
            "- A: ready-means-success", "- A: ready-means-success\n- A: ready-means-success"
        ),
    )
    write_misconception(tmp_path)

    second = line_of(path, "- A: ready-means-success") + 1
    assert problems_for(path) == [
        f"{path}:{second}: option A is tagged twice (first at line {second - 1}): "
        "one misconception per option"
    ]


def test_a_misconception_refuted_by_an_unknown_claim_is_reported_at_its_field(tmp_path):
    write_topic(tmp_path, TAGGED_TOPIC)
    path = write_misconception(
        tmp_path,
        MISCONCEPTION.replace("refuted_by: ready-is-true-after-failure", "refuted_by: no-such-claim"),
    )

    assert problems_for(tmp_path) == [
        f'{path}:{line_of(path, "refuted_by:")}: misconception "ready-means-success" is refuted by unknown '
        'claim "no-such-claim": name a claim of content/claims/'
    ]


@pytest.mark.parametrize(
    ("broken", "replacement", "at", "message"),
    [
        (
            'statement: "`ready()` is true only when the task succeeded."\n',
            "",
            "---",
            "front matter is missing 'statement'",
        ),
        (
            "id: ready-means-success",
            "id: ready-is-success",
            "id:",
            "id 'ready-is-success' must match the file name: name the file ready-is-success.md",
        ),
        (
            "id: ready-means-success",
            "id: Ready Means Success",
            "id:",
            "'id' must be a slug (lowercase letters, digits, hyphens)",
        ),
        (
            "source: https://github.com/celery/celery/issues/1",
            "source: the docs",
            "source:",
            "'source' must be an http(s) address (a Celery doc or issue)",
        ),
        (
            "lab: failure",
            "owner: me",
            "owner:",
            "unknown front matter key 'owner' (allowed: id, lab, refuted_by, source, statement)",
        ),
        ("lab: failure", "lab: no-such-experiment", "lab:", None),
        (
            "`ready()` is true for SUCCESS, FAILURE and REVOKED.\n",
            "",
            "---",
            "no explanation: below the front matter, write why the belief is wrong",
        ),
    ],
    ids=[
        "no-statement",
        "id-not-file-name",
        "id-not-slug",
        "bad-source",
        "unknown-key",
        "unknown-lab",
        "no-body",
    ],
)
def test_a_broken_misconception_file_is_reported_at_its_line(tmp_path, broken, replacement, at, message):
    assert broken in MISCONCEPTION
    write_topic(tmp_path, TAGGED_TOPIC)
    path = write_misconception(tmp_path, MISCONCEPTION.replace(broken, replacement))

    problems = problems_for(tmp_path)

    # The front matter's closing line, for what is missing from it; otherwise the field's line.
    closing = [number for number, text in enumerate(path.read_text().splitlines(), 1) if text == "---"][1]
    line = closing if at == "---" else line_of(path, at)
    if message is None:
        message = (
            'misconception "ready-means-success" names lab experiment "no-such-experiment", '
            "which the lab does not have"
        )
    assert [p for p in problems if p.startswith(f"{path}:{line}: {message}")], problems


def test_a_misconception_without_front_matter_is_reported_at_line_one(tmp_path):
    topic = write_topic(tmp_path, GOOD_TOPIC)
    path = write_misconception(tmp_path, "PENDING means queued.\n")

    # A topic file checked alone: the registry beside it is checked, the tagged share is not.
    assert problems_for(topic) == [
        f"{path}:1: a misconception file must start with YAML front matter between two '---' lines"
    ]


def test_a_misconception_id_used_by_an_item_is_a_duplicate(tmp_path):
    path = write_topic(tmp_path, GOOD_TOPIC)
    first = write_misconception(
        tmp_path, MISCONCEPTION.replace("id: ready-means-success", "id: demo-card"), "demo-card.md"
    )

    assert problems_for(path) == [
        f"{path}:{line_of(path, '### card: demo-card')}: duplicate id 'demo-card': already used at "
        f"{first}:{line_of(first, 'id:')}"
    ]


def test_under_the_tagged_share_the_check_fails_and_lists_each_untagged_option(tmp_path):
    path = write_topic(tmp_path, HALF_TAGGED_TOPIC)
    write_misconception(tmp_path)

    assert problems_for(tmp_path) == [
        f"{tmp_path}: only 50% of the wrong options (1 of 2) name a misconception; at least 90% must: "
        "add '#### Misconceptions' tags to the 1 untagged options listed here",
        f"{path}:{line_of(path, '- [ ] B. FAILURE')}: "
        'option B of question "demo-second-question" names no misconception',
    ]

    write_topic(tmp_path, TAGGED_TOPIC)
    out, _ = check(tmp_path)
    assert "2 of 2 wrong options (100%) name one (at least 90% needed)" in out


@pytest.mark.django_db
def test_sync_stores_misconceptions_tags_options_and_archives_a_removed_one(tmp_path):
    write_topic(tmp_path, TAGGED_TOPIC)
    path = write_misconception(tmp_path)

    assert "created 1 misconception(s)" in sync(tmp_path)

    misconception = Misconception.objects.get()
    assert misconception.statement == "`ready()` is true only when the task succeeded."
    assert misconception.why_wrong == "`ready()` is true for SUCCESS, FAILURE and REVOKED."
    assert misconception.refuted_by.slug == "ready-is-true-after-failure"
    assert (misconception.source_url, misconception.lab_slug) == (
        "https://github.com/celery/celery/issues/1",
        "failure",
    )
    assert misconception.source_path.endswith("misconceptions/ready-means-success.md")
    assert [str(o) for o in misconception.options.all()] == ["demo-question A", "demo-second-question B"]
    assert Option.objects.filter(misconception__isnull=True).count() == 2  # the correct ones
    assert sync(tmp_path) == "Content is up to date: nothing changed."

    write_topic(tmp_path, GOOD_TOPIC)
    path.unlink()
    report = sync(tmp_path)

    misconception.refresh_from_db()
    assert "archived 1 misconception(s)" in report
    assert "updated 2 option(s)" in report  # their tags are gone
    assert misconception.is_archived
    assert not misconception.options.exists()


def test_without_a_misconception_registry_the_tagging_rule_does_not_apply(tmp_path):
    write_topic(tmp_path, GOOD_TOPIC)

    out, _ = check(tmp_path)

    assert (
        "Misconceptions: 0 misconceptions (0 named by no option); 0 of 2 wrong options (0%) name one\n" in out
    )
