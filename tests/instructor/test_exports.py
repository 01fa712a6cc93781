"""grades.csv and items.csv: the figures of the pages, as spreadsheets read them."""

import csv
import io

import pytest

from tests.factories import make_learner
from tests.instructor.factories import answer_test, make_abc_topic, make_cohort

pytestmark = pytest.mark.django_db


def read_csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_grades_csv_has_a_row_per_learner_and_columns_per_topic(client, instructor):
    topic, questions = make_abc_topic(5, slug="results")
    ada, bob = make_learner("ada"), make_learner("bob")
    answer_test(topic, ada, dict(zip(questions, "AAAAB", strict=True)))  # 80 %
    cohort = make_cohort(instructor, learners=[ada, bob])

    response = client.get(f"/instructor/cohorts/{cohort.pk}/grades.csv")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="cohort-{cohort.pk}-grades-')
    rows = read_csv(response)
    assert [row["learner"] for row in rows] == ["ada", "bob"]
    assert rows[0]["results best test %"] == "80"
    assert rows[0]["results mastery"] == "Strong"
    assert rows[0]["results cards reviewed"] == "0"
    assert rows[1]["results best test %"] == ""
    assert rows[1]["results mastery"] == "Not started"


def test_a_user_name_that_looks_like_a_formula_is_exported_as_text(client, instructor):
    cohort = make_cohort(instructor, learners=[make_learner("+cmd")])

    rows = read_csv(client.get(f"/instructor/cohorts/{cohort.pk}/grades.csv"))

    assert rows[0]["learner"] == "'+cmd"


def test_a_user_name_starting_with_a_tab_or_carriage_return_is_exported_as_text(client, instructor):
    # Sign-up refuses such names, but an admin or an import may create them; some spreadsheets
    # skip the leading tab or carriage return and then run the formula that follows.
    cohort = make_cohort(instructor, learners=[make_learner("\t=1+2"), make_learner("\r=HYPERLINK(0)")])

    rows = read_csv(client.get(f"/instructor/cohorts/{cohort.pk}/grades.csv"))

    assert sorted(row["learner"] for row in rows) == ["'\t=1+2", "'\r=HYPERLINK(0)"]


def test_a_question_from_content_that_looks_like_a_formula_is_exported_as_text(client, instructor):
    topic, (question,) = make_abc_topic(1, slug="-results")
    learner = make_learner()
    answer_test(topic, learner, {question: "A"})
    cohort = make_cohort(instructor, learners=[learner])

    (row,) = read_csv(client.get(f"/instructor/cohorts/{cohort.pk}/items.csv"))

    assert (row["topic"], row["question"]) == ("'-results", "'-results-q1")


def test_items_csv_has_the_item_analysis_figures(client, instructor):
    topic, (question,) = make_abc_topic(1, slug="results")
    learners = [make_learner() for _ in range(4)]
    for learner, key in zip(learners, "AABC", strict=True):
        answer_test(topic, learner, {question: key})
    cohort = make_cohort(instructor, learners=learners)

    (row,) = read_csv(client.get(f"/instructor/cohorts/{cohort.pk}/items.csv"))

    # 2 of 4 right: F = 0.5. Scores 1, 1, 0, 0: n = 4, g = round(1.08) = 1; upper is the first
    # learner (1/1), lower the last (0/1): D = 1.
    assert row["question"] == "results-q1"
    assert row["source"] == "content/test.md:10"
    assert (row["responses"], row["correct"], row["facility"], row["discrimination"]) == (
        "4",
        "2",
        "0.500",
        "1.000",
    )
    assert row["options chosen"] == "A*=2; B=1; C=1"
    assert row["flags"] == ""
