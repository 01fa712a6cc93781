"""`content check` and `content sync`: every problem as file:line, and all-or-nothing loading."""

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import CommandError, call_command

from learn.curriculum.registry import lab_experiments
from learn.models import Claim, Flashcard, Topic
from quizzes.models import Option, PracticeAnswer, Question
from tests.factories import make_learner

GOOD_TOPIC = """\
---
id: demo-topic
title: A demo topic
summary: For the tests.
minutes: 5
tags: [demo]
order: 1
---

## Cheat sheet

`ready()` is true for SUCCESS, FAILURE and REVOKED.

## Flashcards

### card: demo-card
level: beginner

Which states are ready?

#### Back

SUCCESS, FAILURE and REVOKED.

## Questions

### question: demo-question
difficulty: medium
claims: ready-is-true-after-failure

What does `ready()` return after FAILURE?

#### Options

- [ ] A. `False`
- [x] B. `True`

#### Explanation

FAILURE is a ready state.

#### Hint

Look at READY_STATES.

#### Solution

1. FAILURE is in READY_STATES.

#### Common mistakes

- Reading ready as succeeded.

### question: demo-second-question
difficulty: easy
claims: unknown-id-reports-pending

Which state does an unknown id report?

#### Options

- [x] A. PENDING
- [ ] B. FAILURE

#### Explanation

Nothing is stored for it.

#### Hint

What is the default?

#### Solution

1. No record means PENDING.

#### Common mistakes

- Expecting an error.

## Explain prompts

### explain: demo-prompt

Explain `ready()`.

#### Hint

Which states count?

#### Concepts

- Failure is ready: failure/failed ready
  section: Cheat sheet
- Revoked is ready: revoked ready
  section: Cheat sheet
- Success is ready: success/succeeded ready
  section: Cheat sheet

#### Model answer

SUCCESS, FAILURE and REVOKED are the ready states: `ready()` is true for each.
"""


REGISTRY = """\
# Claims for the tests

### claim: ready-is-true-after-failure
check: tests/claims/test_asyncresult.py::test_ready_is_true_after_failure
modes: both

`ready()` is true after FAILURE.

### claim: unknown-id-reports-pending
check: tests/claims/test_asyncresult.py::test_an_id_that_never_existed_reports_pending
modes: both
since: 5.7.0

An id that never existed reports PENDING.
"""


def write_topic(folder: Path, text: str, name: str = "01-demo.md") -> Path:
    """Write a topic file, and the claims registry it cites unless the folder has one."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "claims").exists():
        write_registry(folder, REGISTRY)
    path = folder / name
    path.write_text(text)
    return path


def write_registry(folder: Path, text: str, name: str = "demo.md") -> Path:
    (folder / "claims").mkdir(parents=True, exist_ok=True)
    path = folder / "claims" / name
    path.write_text(text)
    return path


def check(path: Path) -> tuple[str, str]:
    """Run `content check` and return (stdout, stderr); raises CommandError on problems."""
    out, err = StringIO(), StringIO()
    try:
        call_command("content", "check", str(path), stdout=out, stderr=err)
    finally:
        check.stderr = err.getvalue()
    return out.getvalue(), err.getvalue()


def problems_for(path: Path) -> list[str]:
    with pytest.raises(CommandError):
        check(path)
    return check.stderr.splitlines()


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_the_shipped_curriculum_passes_the_check_and_reports_totals():
    out, _ = check(settings.CONTENT_DIR)

    assert "content/01-task-results-in-django.md [task-results-in-django]:" in out
    assert "Total: " in out
    assert "questions (easy " in out


def test_a_question_without_a_correct_option_is_reported_at_its_options(tmp_path):
    path = write_topic(tmp_path, GOOD_TOPIC.replace("- [x] B. `True`", "- [ ] B. `True`"))

    line = line_of(path, "#### Options")
    assert problems_for(path) == [
        f"{path}:{line}: question 'demo-question' has no correct option: mark one with [x]"
    ]


def test_a_duplicate_id_is_reported_where_it_repeats_with_the_first_place(tmp_path):
    write_topic(tmp_path, GOOD_TOPIC)
    second = (
        GOOD_TOPIC.replace("id: demo-topic", "id: other-topic")
        .replace("### explain: demo-prompt", "### explain: other-prompt")
        .replace("card: demo-card", "card: other-card")
        .replace("question: demo-second-question", "question: other-question")
    )
    other = write_topic(tmp_path, second, "02-other.md")

    line = line_of(other, "### question: demo-question")
    first = tmp_path / "01-demo.md"
    assert problems_for(tmp_path) == [
        f"{other}:{line}: duplicate id 'demo-question': already used at {first}:{line}"
    ]


def test_broken_yaml_is_reported_at_its_line(tmp_path):
    path = write_topic(tmp_path, GOOD_TOPIC.replace("title: A demo topic", "title: [unclosed"))

    problems = problems_for(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:{line_of(path, 'title:')}: front matter is not valid YAML")


def test_an_unknown_difficulty_is_reported_at_its_field(tmp_path):
    path = write_topic(tmp_path, GOOD_TOPIC.replace("difficulty: medium", "difficulty: tricky"))

    line = line_of(path, "difficulty: tricky")
    assert problems_for(path) == [
        f"{path}:{line}: unknown difficulty 'tricky': use one of easy, medium, hard"
    ]


def test_a_level_one_heading_in_the_cheat_sheet_is_reported(tmp_path):
    path = write_topic(tmp_path, GOOD_TOPIC.replace("## Cheat sheet", "# Cheat sheet"))

    line = line_of(path, "# Cheat sheet")
    assert problems_for(path) == [
        f"{path}:{line}: use '##' or deeper: the page shows the title as its only '#' heading"
    ]


def test_every_problem_in_a_file_is_reported_in_one_run(tmp_path):
    text = (
        GOOD_TOPIC.replace("difficulty: medium", "difficulty: tricky")
        .replace("- [x] A. PENDING", "- [ ] A. PENDING")
        .replace("level: beginner", "level: expert")
    )
    path = write_topic(tmp_path, text)

    problems = problems_for(path)
    assert len(problems) == 3
    assert all(problem.startswith(f"{path}:") for problem in problems)


def test_the_check_command_exits_non_zero_and_prints_file_and_line(tmp_path):
    path = write_topic(tmp_path, GOOD_TOPIC.replace("difficulty: medium", "difficulty: tricky"))

    done = subprocess.run(
        [sys.executable, "manage.py", "content", "check", str(path)],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 1
    assert f"{path}:{line_of(path, 'difficulty: tricky')}: unknown difficulty 'tricky'" in done.stderr


@pytest.mark.parametrize(
    ("broken", "replacement"),
    [
        ("- [x] B. `True`", "- [ ] B. `True`"),
        ("title: A demo topic", "title: [unclosed"),
        ("difficulty: medium", "difficulty: tricky"),
        ("### question: demo-second-question", "### question: demo-question"),
    ],
    ids=["no-correct-option", "broken-yaml", "unknown-difficulty", "duplicate-id"],
)
@pytest.mark.django_db
def test_a_sync_of_broken_content_leaves_the_database_exactly_as_it_was(tmp_path, broken, replacement):
    good = tmp_path / "good"
    write_topic(good, GOOD_TOPIC)
    call_command("content", "sync", str(good), stdout=StringIO())
    # A second, valid file beside the broken one: nothing of it may be written either.
    edited = tmp_path / "edited"
    write_topic(
        edited, GOOD_TOPIC.replace("Which states are ready?", "Edited front").replace(broken, replacement)
    )
    write_topic(edited, GOOD_TOPIC.replace("demo", "new"), "02-new.md")
    before = snapshot()

    with pytest.raises(CommandError, match="Nothing was written"):
        call_command("content", "sync", str(edited), stdout=StringIO(), stderr=StringIO())

    assert snapshot() == before


def snapshot() -> dict:
    # Every row but the content version, which each sync renews (learn/curriculum/kept.py).
    models = [
        m
        for app in ("learn", "quizzes")
        for m in apps.get_app_config(app).get_models()
        if m.__name__ != "ContentVersion"
    ]
    return {m.__name__: sorted(map(repr, m.objects.values_list())) for m in models}


def sync(folder: Path) -> str:
    out = StringIO()
    call_command("content", "sync", str(folder), stdout=out)
    return out.getvalue().strip()


@pytest.mark.django_db
def test_a_second_sync_changes_nothing_and_says_so(tmp_path):
    write_topic(tmp_path, GOOD_TOPIC)

    first = sync(tmp_path)
    before = snapshot()
    second = sync(tmp_path)

    assert "created 2 question(s)" in first
    assert second == "Content is up to date: nothing changed."
    assert snapshot() == before


@pytest.mark.django_db
def test_editing_a_question_keeps_every_answer_recorded_against_it(tmp_path):
    write_topic(tmp_path, GOOD_TOPIC)
    sync(tmp_path)
    question = Question.objects.get(slug="demo-question")
    answers = [
        PracticeAnswer.objects.create(learner=make_learner(), question=question, is_correct=ok)
        for ok in (True, False)
    ]
    answers[0].options.set([question.options.get(key="B")])

    write_topic(
        tmp_path,
        GOOD_TOPIC.replace("What does `ready()` return after FAILURE?", "After FAILURE, `ready()` is?"),
    )
    report = sync(tmp_path)

    edited = Question.objects.get(slug="demo-question")
    assert report == "Content synced: updated 1 question(s)."
    assert edited.pk == question.pk
    assert edited.stem == "After FAILURE, `ready()` is?"
    assert set(edited.practice_answers.all()) == set(answers)
    assert list(answers[0].options.values_list("key", flat=True)) == ["B"]


@pytest.mark.django_db
def test_removing_a_question_archives_it_and_keeps_its_answers(tmp_path, client):
    write_topic(tmp_path, GOOD_TOPIC)
    sync(tmp_path)
    question = Question.objects.get(slug="demo-second-question")
    answer = PracticeAnswer.objects.create(learner=make_learner(), question=question, is_correct=True)
    without = (
        GOOD_TOPIC[: GOOD_TOPIC.index("### question: demo-second-question")]
        + GOOD_TOPIC[GOOD_TOPIC.index("## Explain prompts") :]
    )

    write_topic(tmp_path, without)
    report = sync(tmp_path)

    question.refresh_from_db()
    assert report == "Content synced: archived 1 question(s), moved 1 explain prompt(s)."
    assert question.is_archived
    assert PracticeAnswer.objects.get(pk=answer.pk).question == question
    stems = " ".join(Question.active.filter(topic__slug="demo-topic").values_list("stem", flat=True))
    assert "Which state does an unknown id report?" not in stems
    assert "What does `ready()` return after FAILURE?" in stems


@pytest.mark.django_db
def test_an_archived_item_that_comes_back_is_restored_in_place(tmp_path):
    write_topic(tmp_path, GOOD_TOPIC)
    sync(tmp_path)
    card = Flashcard.objects.get(slug="demo-card")
    start = GOOD_TOPIC.index("### card: demo-card")
    write_topic(tmp_path, GOOD_TOPIC[:start] + GOOD_TOPIC[GOOD_TOPIC.index("## Questions") :])
    sync(tmp_path)

    write_topic(tmp_path, GOOD_TOPIC)
    report = sync(tmp_path)

    assert (
        report == "Content synced: moved 1 explain prompt(s), moved 2 question(s), restored 1 flashcard(s)."
    )
    restored = Flashcard.objects.get(slug="demo-card")
    assert restored.pk == card.pk
    assert not restored.is_archived


@pytest.mark.django_db
def test_a_removed_option_is_archived_and_a_changed_answer_key_updated(tmp_path):
    write_topic(tmp_path, GOOD_TOPIC)
    sync(tmp_path)
    three = GOOD_TOPIC.replace("- [ ] B. FAILURE", "- [ ] B. FAILURE\n- [ ] C. STARTED")
    write_topic(tmp_path, three)
    sync(tmp_path)

    write_topic(tmp_path, GOOD_TOPIC)
    sync(tmp_path)

    options = Option.objects.filter(question__slug="demo-second-question")
    assert [(o.key, o.is_archived) for o in options] == [("A", False), ("B", False), ("C", True)]
    assert Topic.active.count() == 1


# --- The claims registry (content/claims/) and the items' `claims:` fields ------------------


def test_the_check_reports_claims_and_the_share_of_questions_citing_one(tmp_path):
    write_topic(tmp_path, GOOD_TOPIC)

    out, _ = check(tmp_path)

    assert "2 of 2 questions cite a claim (100%)" in out
    assert (
        "Claims: 2 claims (0 not cited here), cited by 2 items; 2 of 2 questions (100%) cite a claim" in out
    )


def test_the_shipped_curriculum_reports_its_claims():
    out, _ = check(settings.CONTENT_DIR)

    assert "Claims: " in out
    assert "(at least 60% needed)" in out


def test_an_item_citing_an_unknown_claim_is_reported_at_its_claims_field(tmp_path):
    path = write_topic(
        tmp_path, GOOD_TOPIC.replace("claims: ready-is-true-after-failure", "claims: no-such-claim")
    )

    line = line_of(path, "claims: no-such-claim")
    assert problems_for(path) == [
        f'{path}:{line}: question "demo-question" cites unknown claim "no-such-claim"'
    ]


def test_a_claim_id_that_is_not_a_slug_is_reported(tmp_path):
    path = write_topic(
        tmp_path, GOOD_TOPIC.replace("claims: unknown-id-reports-pending", "claims: Not_A_Slug")
    )

    line = line_of(path, "claims: Not_A_Slug")
    assert problems_for(path) == [
        f"{path}:{line}: claim id 'Not_A_Slug' is not a slug (lowercase letters, digits, hyphens)",
        f'{path}:{line}: question "demo-second-question" cites unknown claim "Not_A_Slug"',
    ]


def test_too_few_questions_citing_a_claim_fail_the_check_of_a_folder(tmp_path):
    write_topic(tmp_path, GOOD_TOPIC.replace("claims: unknown-id-reports-pending\n", ""))

    assert problems_for(tmp_path) == [
        f"{tmp_path}: only 50% of the questions (1 of 2) cite a claim; "
        "at least 60% must: add 'claims:' fields"
    ]


def test_one_topic_file_below_the_share_still_passes_its_own_check(tmp_path):
    path = write_topic(tmp_path, GOOD_TOPIC.replace("claims: unknown-id-reports-pending\n", ""))

    out, _ = check(path)

    assert "1 of 2 questions cite a claim (50%)" in out


@pytest.mark.parametrize(
    ("broken", "replacement", "message"),
    [
        (
            "modes: both\nsince",
            "modes: sometimes\nsince",
            "unknown modes 'sometimes': use one of both, redis, embedded",
        ),
        ("since: 5.7.0", "since: soon", "since 'soon' is not a Celery version like 5.7.0"),
        ("since: 5.7.0", "owner: me", "unknown field 'owner' for a claim (allowed: check, modes, since)"),
        (
            "check: tests/claims/test_asyncresult.py::test_an_id_that_never_existed_reports_pending",
            "check: tests/claims/test_nowhere.py::test_an_id_that_never_existed_reports_pending",
            "check 'tests/claims/test_nowhere.py::test_an_id_that_never_existed_reports_pending': "
            "no such file",
        ),
        (
            "check: tests/claims/test_asyncresult.py::test_an_id_that_never_existed_reports_pending",
            "check: tests/claims/test_asyncresult.py::test_nothing_like_this",
            "check 'tests/claims/test_asyncresult.py::test_nothing_like_this': "
            "tests/claims/test_asyncresult.py defines no test function 'test_nothing_like_this'",
        ),
        (
            "check: tests/claims/test_asyncresult.py::test_an_id_that_never_existed_reports_pending",
            "check: test_asyncresult.py",
            "check 'test_asyncresult.py' must be 'tests/<path>.py::<test_function>'",
        ),
        (
            "modes: both\nsince",
            "modes: redis\nsince",
            "check 'tests/claims/test_asyncresult.py::test_an_id_that_never_existed_reports_pending' "
            "holds in redis mode only, so it must be marked @pytest.mark.redis_only",
        ),
    ],
    ids=[
        "bad-modes",
        "bad-since",
        "unknown-field",
        "missing-file",
        "missing-function",
        "bad-check",
        "no-marker",
    ],
)
def test_a_broken_claim_field_is_reported_at_its_line(tmp_path, broken, replacement, message):
    assert broken in REGISTRY
    registry = write_registry(tmp_path, REGISTRY.replace(broken, replacement))
    write_topic(tmp_path, GOOD_TOPIC)

    # A missing marker is the check's fault: it is reported at the check field.
    at = "check: tests/claims/test_asyncresult.py::test_an_id" if "must be marked" in message else replacement
    line = line_of(registry, at.split("\n")[0])
    assert problems_for(tmp_path) == [f"{registry}:{line}: {message}"]


def test_a_claim_without_check_modes_or_statement_is_reported_at_its_heading(tmp_path):
    registry = write_registry(tmp_path, REGISTRY + "\n### claim: empty-claim\n")
    write_topic(tmp_path, GOOD_TOPIC)

    line = line_of(registry, "### claim: empty-claim")
    assert problems_for(tmp_path) == [
        f"{registry}:{line}: claim 'empty-claim' has no 'check' field",
        f"{registry}:{line}: claim 'empty-claim' has no 'modes' field",
        f"{registry}:{line}: claim 'empty-claim' has no statement: write it below the fields",
    ]


def test_a_claim_id_repeated_in_another_registry_file_is_reported_with_the_first_place(tmp_path):
    first = write_registry(tmp_path, REGISTRY)
    second = write_registry(tmp_path, REGISTRY[REGISTRY.index("### claim: unknown-id") :], "more.md")
    write_topic(tmp_path, GOOD_TOPIC)

    assert problems_for(tmp_path) == [
        f"{second}:1: duplicate claim id 'unknown-id-reports-pending': "
        f"already used at {first}:{line_of(first, '### claim: unknown-id-reports-pending')}"
    ]


@pytest.mark.django_db
def test_sync_stores_claims_links_citing_items_and_archives_a_removed_claim(tmp_path):
    write_topic(tmp_path, GOOD_TOPIC)
    first = sync(tmp_path)

    claim = Claim.objects.get(slug="unknown-id-reports-pending")
    assert "created 2 claim(s)" in first
    assert (claim.check_path, claim.modes, claim.since) == (
        "tests/claims/test_asyncresult.py::test_an_id_that_never_existed_reports_pending",
        "both",
        "5.7.0",
    )
    assert claim.statement == "An id that never existed reports PENDING."
    assert list(claim.questions.values_list("slug", flat=True)) == ["demo-second-question"]

    write_topic(
        tmp_path,
        GOOD_TOPIC.replace("claims: unknown-id-reports-pending\n", "claims: ready-is-true-after-failure\n"),
    )
    write_registry(tmp_path, REGISTRY[: REGISTRY.index("### claim: unknown-id")])
    report = sync(tmp_path)

    claim.refresh_from_db()
    assert report == "Content synced: archived 1 claim(s), updated 1 question(s)."
    assert claim.is_archived
    assert not claim.questions.exists()
    assert Claim.active.get().questions.count() == 2
    assert sync(tmp_path) == "Content is up to date: nothing changed."


def test_a_lab_link_to_an_experiment_the_lab_does_not_have_is_reported(tmp_path):
    path = write_topic(
        tmp_path,
        GOOD_TOPIC.replace(
            "### question: demo-question\n", "### question: demo-question\nlab: no-such-lab\n"
        ),
    )

    line = line_of(path, "lab: no-such-lab")
    [problem] = problems_for(path)
    assert problem.startswith(
        f'{path}:{line}: question "demo-question" names lab experiment "no-such-lab", '
        "which the lab does not have"
    )
    assert "known: " + ", ".join(sorted(lab_experiments())) in problem


def test_a_section_lab_line_is_checked_at_its_line(tmp_path):
    sheet = "`ready()` is true for SUCCESS, FAILURE and REVOKED."
    text = GOOD_TOPIC.replace("## Cheat sheet", "lab: failure\n\n## Cheat sheet").replace(
        sheet, f"{sheet}\n\nlab: failure, no-such-lab\n"
    )
    path = write_topic(tmp_path, text)

    above, unknown = problems_for(path)
    assert above == (
        f"{path}:{line_of(path, 'lab: failure')}: a 'lab:' line links a section: "
        "put it under the section's '##' heading"
    )
    assert unknown.startswith(
        f'{path}:{line_of(path, "lab: failure, no-such-lab")}: section "Cheat sheet" names lab '
        'experiment "no-such-lab", which the lab does not have'
    )


def test_an_image_from_another_site_is_reported_at_its_line_and_one_of_our_own_passes(tmp_path):
    cheat_sheet = "`ready()` is true for SUCCESS, FAILURE and REVOKED."
    images = (
        "![our diagram](/static/diagrams/task-lifecycle.svg)\n\n"
        "![a tracker](https://tracker.example/pixel.png)\n\n"
        '<img alt="x" src="//tracker.example/p.gif">\n\n'
        "![by reference][logo]\n\n"
        "[logo]: http://images.example/logo.png\n\n"
        "![inline data](data:image/png;base64,AAAA)\n\n"
        "Quoted, not shown: `![x](https://example.org/x.png)`\n\n"
        "```\n![in a code block](https://example.org/x.png)\n```\n"
    )
    path = write_topic(tmp_path, GOOD_TOPIC.replace(cheat_sheet, cheat_sheet + "\n\n" + images))

    advice = (
        "is not on this site: put the file under static/ and link it as /static/<path> "
        "(images from other origins are blocked by the Content-Security-Policy)"
    )
    assert problems_for(path) == [
        f"{path}:{line_of(path, 'pixel.png')}: image 'https://tracker.example/pixel.png' {advice}",
        f"{path}:{line_of(path, '<img')}: image '//tracker.example/p.gif' {advice}",
        f"{path}:{line_of(path, '[logo]:')}: image 'http://images.example/logo.png' {advice}",
        f"{path}:{line_of(path, 'inline data')}: image 'data:image/png;base64,AAAA' {advice}",
    ]


def test_an_image_from_another_site_in_a_claim_is_reported_at_its_line(tmp_path):
    statement = "`ready()` is true after FAILURE."
    registry = REGISTRY.replace(statement, statement + " ![x](https://tracker.example/p.png)")
    registry_path = write_registry(tmp_path, registry)
    write_topic(tmp_path, GOOD_TOPIC)

    problems = problems_for(tmp_path / "01-demo.md")

    line = line_of(registry_path, "tracker.example")
    expected = f"{registry_path}:{line}: image 'https://tracker.example/p.png' is not on this site"
    assert any(problem.startswith(expected) for problem in problems)
