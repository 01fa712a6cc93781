"""The CSV downloads, written with the csv module from the same figures the pages show."""

import csv

from instructor.item_analysis import ItemStats
from instructor.misconception_map import MisconceptionMap
from instructor.queries import Grid

# A cell starting with one of these is read as a formula by spreadsheets (OWASP "CSV
# injection", https://owasp.org/www-community/attacks/CSV_Injection): = + - @, and a tab or
# carriage return, which some spreadsheets skip before looking for the = that follows.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell_text(value) -> str:
    """A value as text a spreadsheet will not run: a leading quote makes a cell that starts a
    formula plain text. User names may start with + - or @."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def write_grades(grid: Grid, out) -> None:
    """A row per learner, then per topic its mastery, best test score and cards reviewed."""
    writer = csv.writer(out)
    header = ["learner", "joined", "last active", "lab predictions right", "lab predictions made"]
    for topic in grid.topics:
        header += [f"{topic.slug} mastery", f"{topic.slug} best test %", f"{topic.slug} cards reviewed"]
    writer.writerow(header)
    for row in grid.rows:
        line = [
            cell_text(row.learner.username),
            row.membership.joined_at.date().isoformat(),
            row.last_active_at.isoformat(timespec="seconds") if row.last_active_at else "",
            row.lab_right,
            row.lab_made,
        ]
        for cell in row.cells:
            line += [cell.mastery.label, cell.best_percent, cell.cards_reviewed]
        writer.writerow(line)


def ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def write_items(items: list[ItemStats], out) -> None:
    """A row per question: the figures of the item analysis page."""
    writer = csv.writer(out)
    writer.writerow(
        [
            "topic",
            "question",
            "source",
            "difficulty",
            "responses",
            "correct",
            "unanswered",
            "facility",
            "discrimination",
            "upper group correct/responses",
            "lower group correct/responses",
            "median seconds to answer",
            "options chosen",
            "flags",
            "responses with certainty",
            "CBM average",
            "confident wrong",
        ]
    )
    for item in items:
        question = item.question
        options = "; ".join(
            f"{option.key}{'*' if option.is_correct else ''}={option.chosen_count}" for option in item.options
        )
        writer.writerow(
            [
                cell_text(question.topic.slug),
                cell_text(question.slug),
                item.source,
                question.difficulty,
                item.responses,
                item.correct,
                item.unanswered,
                ratio(item.facility),
                ratio(item.discrimination),
                f"{item.upper_correct}/{item.upper_responses}",
                f"{item.lower_correct}/{item.lower_responses}",
                "" if item.median_seconds is None else f"{item.median_seconds:.1f}",
                options,
                " | ".join(item.flags),
                item.certain_responses,
                "" if item.cbm_average is None else f"{item.cbm_average:.2f}",
                ratio(item.confident_wrong_share),
            ]
        )


def write_misconceptions(found: MisconceptionMap, out) -> None:
    """A row per misconception the cohort holds: the figures of the misconception map, in its
    default order (weighted score first)."""
    writer = csv.writer(out)
    writer.writerow(
        [
            "misconception",
            "statement",
            "refuted by",
            "learners",
            "share of cohort %",
            "confident learners",
            "weighted score",
            "questions (answers that showed it)",
            "explain prompts (answers that showed it)",
            "learners (weight)",
        ]
    )
    for row in found.rows:
        writer.writerow(
            [
                cell_text(row.misconception.slug),
                cell_text(row.misconception.statement),
                cell_text(row.misconception.refuted_by.slug),
                row.learners,
                row.share,
                row.confident,
                row.weighted,
                "; ".join(f"{question.slug}={count}" for question, count in row.questions),
                "; ".join(f"{prompt.slug}={count}" for prompt, count in row.prompts),
                cell_text(
                    "; ".join(
                        f"{holder.learner.username}={holder.holding.weight}" for holder in found.holders(row)
                    )
                ),
            ]
        )
