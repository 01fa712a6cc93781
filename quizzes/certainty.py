"""Certainty-based marking (CBM) and calibration: plain functions on answers (docs/scoring.md).

The scheme is Moodle's (and Tony Gardner-Medwin's, who designed it):
https://docs.moodle.org/en/Using_certainty-based_marking. A right answer earns 1, 2 or 3 marks
at low, medium or high certainty; a wrong one 0, −2 or −6. The break-even points of those marks
give the calibration ranges: answering at medium pays better than at low once the chance of
being right is above 2/3 (2p − 2(1 − p) > p), and at high better than at medium above 4/5
(3p − 6(1 − p) > 2p − 2(1 − p)). A learner right 67–80 % of the time at medium certainty, under
67 % at low and over 80 % at high is well calibrated: each level was the best bet.

An answer is a pair (is_correct, certainty). Certainty "" is an answer given before certainty
was asked: it keeps its plain score and is left out of every figure here.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from quizzes.models import Certainty

# (mark when right, mark when wrong) per certainty level.
MARKS = {
    Certainty.LOW: (1, 0),
    Certainty.MEDIUM: (2, -2),
    Certainty.HIGH: (3, -6),
}
LEVELS = [Certainty.LOW, Certainty.MEDIUM, Certainty.HIGH]
MAXIMUM_MARK = MARKS[Certainty.HIGH][0]
# The shares right at which the next level becomes the better bet (see the module docstring).
MEDIUM_FROM = Fraction(2, 3)
HIGH_FROM = Fraction(4, 5)
EXPECTED_RANGE = {
    Certainty.LOW: "under 67 %",
    Certainty.MEDIUM: "67–80 %",
    Certainty.HIGH: "over 80 %",
}
# The keyboard key that picks each level on the practice and test pages (static/js/certainty.js).
KEYS = {Certainty.LOW: "L", Certainty.MEDIUM: "M", Certainty.HIGH: "H"}


def certainty_mark(*, is_correct: bool, certainty: str) -> int:
    """The CBM mark of one answer. Raises ValueError for "" (not stated) or an unknown level."""
    if certainty not in MARKS:
        raise ValueError(f"no certainty-based mark without a certainty level: {certainty!r}")
    right, wrong = MARKS[Certainty(certainty)]
    return right if is_correct else wrong


def mark_of(answer) -> int | None:
    """The CBM mark of a graded answer row (`is_correct`, `certainty`); None without a certainty."""
    if answer is None or not answer.certainty:
        return None
    return certainty_mark(is_correct=bool(answer.is_correct), certainty=answer.certainty)


def with_marks(answers: list) -> list:
    """The same rows, each given `cbm_mark` (mark_of) for the page."""
    for answer in answers:
        answer.cbm_mark = mark_of(answer)
    return answers


@dataclass(frozen=True)
class CertaintyScore:
    """CBM over `counted` questions: `total` marks of at most `maximum`, `correct` of them right."""

    total: int
    counted: int
    correct: int

    @property
    def maximum(self) -> int:
        return MAXIMUM_MARK * self.counted

    @property
    def average(self) -> float:
        """Moodle's "CBM average": marks per question, from −6 to 3."""
        return self.total / self.counted if self.counted else 0.0

    @property
    def accuracy(self) -> int:
        """Per cent of the counted questions answered right."""
        return round(100 * self.correct / self.counted) if self.counted else 0


def score_answers(answers: Iterable[tuple[bool, str]]) -> CertaintyScore | None:
    """CBM of the answers that state a certainty; None when none does."""
    stated = [(is_correct, certainty) for is_correct, certainty in answers if certainty]
    if not stated:
        return None
    return CertaintyScore(
        total=sum(
            certainty_mark(is_correct=is_correct, certainty=certainty) for is_correct, certainty in stated
        ),
        counted=len(stated),
        correct=sum(1 for is_correct, _ in stated if is_correct),
    )


def score_test(items: Iterable) -> CertaintyScore | None:
    """CBM of a graded test's questions (AttemptQuestion rows: `is_correct`, `certainty`, `is_answered`).

    An unanswered question counts, at 0 marks (Moodle's "no response"), so that skipping a
    question never raises the average. An answer saved without a certainty (before CBM) is left
    out. None for a test with no certainty at all: one taken before CBM.
    """
    items = list(items)
    if not any(item.certainty for item in items):
        return None
    stated = score_answers((bool(item.is_correct), item.certainty) for item in items)
    unanswered = sum(1 for item in items if not item.is_answered)
    return CertaintyScore(total=stated.total, counted=stated.counted + unanswered, correct=stated.correct)


@dataclass(frozen=True)
class CalibrationRow:
    """How often the learner was right when they said `certainty`."""

    certainty: Certainty
    answers: int
    correct: int

    @property
    def label(self) -> str:
        return self.certainty.label

    @property
    def key(self) -> str:
        return KEYS[self.certainty]

    @property
    def percent(self) -> int | None:
        return round(100 * self.correct / self.answers) if self.answers else None

    @property
    def expected(self) -> str:
        return EXPECTED_RANGE[self.certainty]

    @property
    def verdict(self) -> str:
        """Well calibrated, over-confident or under-confident; "" with no answers at this level.

        Judged on the exact shares (2/3, 4/5), not on the rounded percentages shown.
        """
        if not self.answers:
            return ""
        share = Fraction(self.correct, self.answers)
        lowest, highest = {
            Certainty.LOW: (Fraction(0), MEDIUM_FROM),
            Certainty.MEDIUM: (MEDIUM_FROM, HIGH_FROM),
            Certainty.HIGH: (HIGH_FROM, Fraction(1)),
        }[self.certainty]
        if share < lowest:
            return "over-confident"
        # Low ends before 2/3 and medium before 4/5; high includes 100 %.
        if share > highest or (share == highest and self.certainty != Certainty.HIGH):
            return "under-confident"
        return "well calibrated"


def tally(answers: Iterable[tuple[bool, str]]) -> dict[str, tuple[int, int]]:
    """{certainty: (answers, correct)} of the answers that state a certainty."""
    counts = {}
    for is_correct, certainty in answers:
        if certainty:
            given, right = counts.get(certainty, (0, 0))
            counts[certainty] = (given + 1, right + int(bool(is_correct)))
    return counts


def calibration(counts: dict[str, tuple[int, int]]) -> list[CalibrationRow]:
    """One row per level, low to high, from `tally` or from counts read in the database."""
    return [CalibrationRow(level, *counts.get(level, (0, 0))) for level in LEVELS]


def score_from_counts(counts: dict[str, tuple[int, int]]) -> CertaintyScore | None:
    """CBM of answers given as `tally`'s counts; None when there are none."""
    if not counts:
        return None
    total = 0
    for certainty, (given, right) in counts.items():
        total += right * certainty_mark(is_correct=True, certainty=certainty)
        total += (given - right) * certainty_mark(is_correct=False, certainty=certainty)
    return CertaintyScore(
        total=total,
        counted=sum(given for given, _ in counts.values()),
        correct=sum(right for _, right in counts.values()),
    )


@dataclass(frozen=True)
class SchemeRow:
    """One certainty level as the pages state it."""

    value: str
    label: str
    key: str
    right: int
    wrong: int
    expected: str


SCHEME = [
    SchemeRow(level.value, level.label, KEYS[level], *MARKS[level], EXPECTED_RANGE[level]) for level in LEVELS
]
