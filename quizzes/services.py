"""Everything that writes quiz rows: tests (attempts), practice answers, hints, explanations."""

import random
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from learn.models import Topic
from quizzes import explain
from quizzes.models import (
    Attempt,
    AttemptQuestion,
    AttemptScore,
    Certainty,
    ConceptMark,
    ExplainAnswer,
    ExplainPrompt,
    HintRequest,
    KeyConcept,
    Option,
    PracticeAnswer,
    Question,
    WrongClaim,
)
from quizzes.queries import attempt_items

Difficulty = Question.Difficulty

# The draw (docs/scoring.md): how many questions of each difficulty a test asks for, and where
# a short difficulty's places go, nearest difficulty first.
TEST_SIZE = 10
DRAW_TARGET = {Difficulty.EASY: 3, Difficulty.MEDIUM: 4, Difficulty.HARD: 3}
FILL_ORDER = {
    Difficulty.EASY: [Difficulty.MEDIUM, Difficulty.HARD],
    Difficulty.MEDIUM: [Difficulty.EASY, Difficulty.HARD],
    Difficulty.HARD: [Difficulty.MEDIUM, Difficulty.EASY],
}
DIFFICULTY_ORDER = [Difficulty.EASY, Difficulty.MEDIUM, Difficulty.HARD]

# The verdict (docs/scoring.md).
STRONG_OVERALL = 0.8
STRONG_GROUP_MINIMUM = 0.5


class AttemptClosed(Exception):
    """The attempt was submitted: its answers can no longer change."""


class NoQuestions(Exception):
    """The topic has no active question to draw."""


def draw_questions(questions: Iterable[Question], *, rng: random.Random | None = None) -> list[Question]:
    """Up to TEST_SIZE questions: DRAW_TARGET per difficulty, short places filled by FILL_ORDER.

    Returned easy first, then medium, then hard; random within a difficulty.
    """
    rng = rng or random.Random()
    pools = {difficulty: [] for difficulty in DIFFICULTY_ORDER}
    for question in questions:
        pools[question.difficulty].append(question)
    for pool in pools.values():
        rng.shuffle(pool)
    counts = {
        difficulty: min(DRAW_TARGET[difficulty], len(pools[difficulty])) for difficulty in DIFFICULTY_ORDER
    }
    for difficulty in DIFFICULTY_ORDER:
        # Never negative: a difficulty already filled above its target by an earlier one
        # must not give questions back.
        missing = max(0, DRAW_TARGET[difficulty] - counts[difficulty])
        for other in FILL_ORDER[difficulty]:
            extra = min(missing, len(pools[other]) - counts[other])
            counts[other] += extra
            missing -= extra
    return [
        question for difficulty in DIFFICULTY_ORDER for question in pools[difficulty][: counts[difficulty]]
    ]


@transaction.atomic
def start_attempt(topic: Topic, *, learner, rng: random.Random | None = None) -> Attempt:
    """The learner's open attempt on `topic`, or a new one with its questions drawn.

    At most one open attempt per learner and topic (a partial unique constraint): a second
    start, from a double click or another tab, returns the first. Raises NoQuestions.
    """
    existing = Attempt.objects.filter(learner=learner, topic=topic, status=Attempt.Status.IN_PROGRESS).first()
    if existing:
        return existing
    questions = draw_questions(Question.active.filter(topic=topic), rng=rng)
    if not questions:
        raise NoQuestions(topic.slug)
    try:
        with transaction.atomic():
            attempt = Attempt.objects.create(learner=learner, topic=topic)
    except IntegrityError:
        # Another request opened one between our check and our insert.
        return Attempt.objects.get(learner=learner, topic=topic, status=Attempt.Status.IN_PROGRESS)
    AttemptQuestion.objects.bulk_create(
        AttemptQuestion(attempt=attempt, question=question, position=position, difficulty=question.difficulty)
        for position, question in enumerate(questions, 1)
    )
    return attempt


@transaction.atomic
def record_answer(item: AttemptQuestion, *, options: list[Option], certainty: str = "") -> AttemptQuestion:
    """Replace the answer (and its certainty) to one question of an open attempt.

    Raises AttemptClosed after submit. `certainty` "" stores an answer without one, as before
    certainty-based marking; the answer form always asks for one.

    The first statement is a conditional write on the attempt, so a submit running at the same
    time either sees this answer or makes this call raise: never an answer after grading.
    """
    check_certainty(certainty)
    if any(option.question_id != item.question_id for option in options):
        raise ValueError("an option of another question")
    now = timezone.now()
    stored_now = connection.ops.adapt_datetimefield_value(now)
    # In SQL, not the ORM: building and compiling these four statements cost five times the CPU
    # of running them (1.7 against 0.3 ms), and half of a class's requests are answers
    # (config/plain_sql.py). The answer replaces the previous one: two statements, where
    # `item.chosen.set()` reads the old and the missing ids first (four).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE quizzes_attempt SET last_answered_at = %s WHERE id = %s AND status = %s",
            [stored_now, item.attempt_id, Attempt.Status.IN_PROGRESS.value],
        )
        if cursor.rowcount == 0:
            raise AttemptClosed(item.attempt_id)
        cursor.execute("DELETE FROM quizzes_attemptquestion_chosen WHERE attemptquestion_id = %s", [item.pk])
        if options:
            cursor.execute(
                "INSERT INTO quizzes_attemptquestion_chosen (attemptquestion_id, option_id) VALUES "
                + ", ".join(["(%s, %s)"] * len(options)),
                [value for option in options for value in (item.pk, option.pk)],
            )
        cursor.execute(
            "UPDATE quizzes_attemptquestion SET answered_at = %s, certainty = %s WHERE id = %s",
            [stored_now, certainty, item.pk],
        )
    item.answered_at = now
    item.certainty = certainty
    return item


def check_certainty(certainty: str) -> None:
    """Raises ValueError for anything but a certainty level or "" (not stated): the form let it through."""
    if certainty and certainty not in Certainty.values:
        raise ValueError(f"not a certainty level: {certainty!r}")


def is_correct_choice(chosen: Iterable[Option], options: Iterable[Option]) -> bool:
    """Correct only when the chosen set equals the set of correct options."""
    return {option.key for option in chosen} == {option.key for option in options if option.is_correct}


@dataclass(frozen=True)
class GroupScore:
    difficulty: str
    label: str
    correct: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.correct / self.total) if self.total else 0


def breakdown(items: Iterable[AttemptQuestion]) -> list[GroupScore]:
    """Correct / total per difficulty that the attempt asked, easy first."""
    items = list(items)
    groups = []
    for difficulty in DIFFICULTY_ORDER:
        group = [item for item in items if item.difficulty == difficulty]
        if group:
            correct = sum(1 for item in group if item.is_correct)
            groups.append(GroupScore(difficulty, difficulty.label, correct, len(group)))
    return groups


def verdict_for(groups: list[GroupScore]) -> str:
    """Strong: at least 80 % overall and no difficulty group under 50 %."""
    correct = sum(group.correct for group in groups)
    total = sum(group.total for group in groups)
    if (
        total
        and correct >= STRONG_OVERALL * total
        and all(group.correct >= STRONG_GROUP_MINIMUM * group.total for group in groups)
    ):
        return AttemptScore.Verdict.STRONG
    return AttemptScore.Verdict.NEEDS_WORK


@transaction.atomic
def submit_attempt(attempt: Attempt) -> AttemptScore:
    """Close and grade the attempt once; a replayed submit returns the first score.

    The conditional update on `status` lets one request through; the one-to-one
    `AttemptScore.attempt` makes a second score row impossible even so. Unanswered questions
    count as wrong.
    """
    now = timezone.now()
    closed = Attempt.objects.filter(pk=attempt.pk, status=Attempt.Status.IN_PROGRESS).update(
        status=Attempt.Status.SUBMITTED, submitted_at=now
    )
    if not closed:
        return AttemptScore.objects.get(attempt=attempt)
    items = attempt_items(attempt)
    for item in items:
        options = item.question.active_options
        item.is_correct = item.is_answered and is_correct_choice(item.chosen_options, options)
    # One short statement, where bulk_update writes a CASE with every item.
    right = [item.pk for item in items if item.is_correct]
    AttemptQuestion.objects.filter(attempt=attempt).update(is_correct=Q(pk__in=right) if right else False)
    groups = breakdown(items)
    score = AttemptScore.objects.create(
        attempt=attempt,
        correct=sum(group.correct for group in groups),
        total=len(items),
        verdict=verdict_for(groups),
    )
    attempt.status, attempt.submitted_at = Attempt.Status.SUBMITTED, now  # as just written
    return score


# --- Practice ---------------------------------------------------------------------------------


@transaction.atomic
def record_practice_answer(
    question: Question, *, learner, options: list[Option], certainty: str = ""
) -> PracticeAnswer:
    """Grade and store one practice answer with its certainty; `hint_taken` when a hint was asked
    since the last one."""
    check_certainty(certainty)
    previous = (
        PracticeAnswer.objects.filter(learner=learner, question=question).order_by("-answered_at").first()
    )
    hints = HintRequest.objects.filter(learner=learner, question=question)
    if previous:
        hints = hints.filter(requested_at__gt=previous.answered_at)
    answer = PracticeAnswer.objects.create(
        learner=learner,
        question=question,
        is_correct=is_correct_choice(options, Option.active.filter(question=question)),
        hint_taken=hints.exists(),
        certainty=certainty,
    )
    answer.options.set(options)
    return answer


def request_hint(question: Question, *, learner) -> HintRequest:
    return HintRequest.objects.create(learner=learner, question=question)


# --- Explain ----------------------------------------------------------------------------------


def record_explanation(
    prompt: ExplainPrompt,
    *,
    learner,
    text: str,
    concepts: list[KeyConcept],
    wrong_claims: list[WrongClaim] = (),
) -> ExplainAnswer:
    """Score `text` against the prompt's active concepts and wrong claims, and store it with the
    concepts that count (a concept a wrong claim contradicts does not) and the wrong claims made."""
    scoring = explain.score_explanation(text, concepts, wrong_claims)
    found = scoring.found_keys
    return ExplainAnswer.objects.create(
        learner=learner,
        prompt=prompt,
        text=text,
        found_keys=found,
        wrong_claim_keys=[wrong.key for wrong in scoring.wrong_claims],
        found_count=len(found),
        total=len(scoring.concepts),
    )


def mark_concept_covered(answer: ExplainAnswer, *, concept: KeyConcept) -> ConceptMark:
    """Record the learner's own mark; marking twice keeps one row (unique per answer and concept)."""
    mark, _ = ConceptMark.objects.get_or_create(answer=answer, concept=concept)
    return mark
