"""Item analysis: the certainty-based figures per question, worked out by hand."""

import csv
import io

import pytest

from instructor.item_analysis import item_analysis
from tests.factories import make_learner
from tests.instructor.factories import answer_test, make_abc_topic, make_cohort

pytestmark = pytest.mark.django_db

# One question (A right). Seven learners:
#   L1 A high +3 · L2 B high −6 · L3 C high −6 · L4 A medium +2 · L5 B low 0
#   L6 A, no certainty (answered before CBM): left out · L7 unanswered: left out
# Five responses state a certainty: CBM total 3 − 6 − 6 + 2 + 0 = −7, average −7/5 = −1.40;
# wrong at high certainty: L2, L3, 2 of 5 = 0.40, at least a third: flagged.
ANSWERS = [("A", "high"), ("B", "high"), ("C", "high"), ("A", "medium"), ("B", "low"), ("A", ""), (None, "")]


@pytest.fixture
def cohort(instructor):
    topic, (question,) = make_abc_topic(1, slug="beliefs")
    learners = []
    for key, certainty in ANSWERS:
        learner = make_learner()
        answer_test(topic, learner, {question: key}, {question: certainty})
        learners.append(learner)
    return make_cohort(instructor, learners=learners)


def test_each_question_gets_its_average_cbm_mark_and_confident_wrong_share(cohort):
    (item,) = item_analysis(cohort)

    assert (item.responses, item.correct) == (7, 3)  # the plain figures still count everyone
    assert (item.certain_responses, item.cbm_total, item.confident_wrong) == (5, -7, 2)
    assert item.cbm_average == pytest.approx(-1.4)
    assert item.confident_wrong_share == pytest.approx(0.4)
    assert "2 of 5 answers wrong at high certainty: learners are sure of a wrong belief" in item.flags


def test_a_question_answered_without_certainty_has_no_certainty_figures_and_no_such_flag(instructor):
    topic, (question,) = make_abc_topic(1)
    learners = [make_learner() for _ in range(5)]
    for learner in learners:
        answer_test(topic, learner, {question: "B"})

    (item,) = item_analysis(make_cohort(instructor, learners=learners))

    assert item.certain_responses == 0
    assert item.cbm_average is None
    assert item.confident_wrong_share is None
    assert not any("high certainty" in flag for flag in item.flags)


def test_the_page_and_items_csv_show_the_certainty_figures(client, cohort):
    page = client.get(f"/instructor/cohorts/{cohort.pk}/items/").content.decode()

    assert '<td class="figure cbm-average">-1.40<br><span class="meta">-7 over 5</span></td>' in page
    assert '<td class="figure confident-wrong">0.40 <span class="meta">2/5</span></td>' in page
    assert "<strong>confident wrong</strong> is the share" in page
    response = client.get(f"/instructor/cohorts/{cohort.pk}/items.csv")
    (row,) = csv.DictReader(io.StringIO(response.content.decode()))
    assert (row["responses with certainty"], row["CBM average"], row["confident wrong"]) == (
        "5",
        "-1.40",
        "0.400",
    )


def test_the_learner_drill_down_shows_each_answers_certainty(client, cohort):
    learner = cohort.memberships.order_by("pk")[1].learner  # L2: B at high certainty, wrong

    page = client.get(f"/instructor/cohorts/{cohort.pk}/learners/{learner.pk}/").content.decode()

    assert '<td class="certainty">high <span class="tag tag-missed">confident wrong</span></td>' in page
