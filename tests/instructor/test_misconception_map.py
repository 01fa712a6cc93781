"""The misconception map of a cohort: who holds which wrong belief, how confidently, and why."""

import csv
import io

import pytest

from quizzes.models import Certainty
from quizzes.services import record_practice_answer
from tests.factories import make_learner
from tests.instructor.factories import answer_test, make_abc_topic, make_cohort, make_instructor, query_counts
from tests.quizzes.factories import make_misconception

pytestmark = pytest.mark.django_db

HIGH, MEDIUM, LOW = Certainty.HIGH, Certainty.MEDIUM, Certainty.LOW


@pytest.fixture
def planted(instructor):
    """A cohort of ten with planted beliefs. In a topic of three questions (A right, B wrong
    tagged "pending-means-queued", C wrong tagged "broker-stores-results"):
    - six learners choose B everywhere with high certainty (pending-means-queued: 6 × 3 = 18);
    - ada chose C with low certainty, then in another test B once with high certainty;
    - three choose C with medium certainty (broker-stores-results, with ada: 3 × 2 + 1 = 7);
    - cy held pending-means-queued and cleared it with a confident right answer: not counted.
    """
    topic, questions = make_abc_topic(3, slug="states", title="States")
    pending = make_misconception("pending-means-queued", statement="PENDING means the task is queued.")
    broker = make_misconception("broker-stores-results", statement="The broker stores results.")
    for question in questions:
        question.options.filter(key="B").update(misconception=pending)
        question.options.filter(key="C").update(misconception=broker)
    make_misconception("nobody-believes-this")
    believers = [make_learner(f"believer{n}") for n in range(6)]
    for learner in believers:
        answer_test(topic, learner, dict.fromkeys(questions, "B"), certainty=HIGH)
    ada = make_learner("ada")
    answer_test(topic, ada, dict.fromkeys(questions, "C"), certainty=LOW)
    answer_test(topic, ada, {questions[0]: "B"}, certainty=HIGH)
    doubters = [make_learner(f"doubter{n}") for n in range(3)]
    for learner in doubters:
        answer_test(topic, learner, dict.fromkeys(questions, "C"), certainty=MEDIUM)
    cy = make_learner("cy")
    answer_test(topic, cy, dict.fromkeys(questions, "B"), certainty=HIGH)
    record_practice_answer(
        questions[0], learner=cy, options=[questions[0].options.get(key="A")], certainty=HIGH
    )
    outsider = make_learner("outsider")  # not in the cohort: never counted
    answer_test(topic, outsider, dict.fromkeys(questions, "C"), certainty=HIGH)
    cohort = make_cohort(instructor, learners=[*believers, ada, *doubters, cy])
    return cohort, questions, ada


def map_url(cohort, query: str = "") -> str:
    return f"/instructor/cohorts/{cohort.pk}/misconceptions/{query}"


def row_ids(page: str) -> list[str]:
    return [part.split('"', 1)[0] for part in page.split('<tr id="misconception-')[1:]]


def test_the_planted_beliefs_come_out_on_top_with_their_learners_and_weights(client, planted):
    cohort, questions, ada = planted

    page = client.get(map_url(cohort)).content.decode()

    assert row_ids(page) == ["pending-means-queued", "broker-stores-results"]
    rows = read_csv(client.get(f"/instructor/cohorts/{cohort.pk}/misconceptions.csv"))
    pending, broker = rows
    assert (pending["learners"], pending["confident learners"], pending["weighted score"]) == ("7", "7", "21")
    assert pending["share of cohort %"] == "64"  # 7 of 11
    assert (broker["learners"], broker["confident learners"], broker["weighted score"]) == ("4", "0", "7")
    assert "cy" not in pending["learners (weight)"].split("; ")[0], "cy cleared it"
    assert not any(name.startswith("cy=") for name in pending["learners (weight)"].split("; "))
    assert "outsider" not in broker["learners (weight)"]
    assert "1 other by nobody" in page


def test_the_map_names_the_questions_that_revealed_each_belief_with_their_counts(client, planted):
    cohort, questions, ada = planted

    rows = read_csv(client.get(f"/instructor/cohorts/{cohort.pk}/misconceptions.csv"))

    # Six believers × three questions, and ada's one B.
    assert rows[0]["questions (answers that showed it)"].split("; ") == sorted(
        [f"{questions[0].slug}=7", f"{questions[1].slug}=6", f"{questions[2].slug}=6"]
    )


def test_each_holder_links_to_their_learner_page_which_lists_their_misconceptions(client, planted):
    cohort, questions, ada = planted

    page = client.get(map_url(cohort)).content.decode()
    holders_url = f"/instructor/cohorts/{cohort.pk}/misconceptions/pending-means-queued/"
    assert f'<a href="{holders_url}">7 learners</a>' in page
    holders = client.get(holders_url).content.decode()
    assert (
        'Held by <strong class="learner-count">7</strong> of 11 learners (64 %), 7 of them confidently'
        in holders
    )
    assert (
        f'<a href="/instructor/cohorts/{cohort.pk}/learners/{ada.pk}/" class="holder confident">ada</a>'
        in holders
    )
    assert ">cy</a>" not in holders, "cy cleared it"
    assert ">doubter0</a>" not in holders, "a doubter holds another belief"

    detail = client.get(f"/instructor/cohorts/{cohort.pk}/learners/{ada.pk}/").content.decode()
    assert 'Misconceptions <span class="count">(2)</span>' in detail
    assert row_ids(detail) == ["pending-means-queued", "broker-stores-results"], "confident first"
    assert "low certainty" in detail


def test_a_cleared_misconception_shows_as_cleared_on_the_learner_page(client, planted):
    cohort, _, _ = planted
    cy = cohort.memberships.get(learner__username="cy").learner

    detail = client.get(f"/instructor/cohorts/{cohort.pk}/learners/{cy.pk}/").content.decode()

    assert "cleared" in detail
    assert "<strong>held</strong>" not in detail


def test_the_map_sorts_by_learners_or_name_and_refuses_an_unknown_sort(client, planted):
    cohort, _, _ = planted
    extra = make_misconception("a-rare-belief", statement="A rare belief.")
    topic, questions = make_abc_topic(1, slug="rare")
    questions[0].options.filter(key="B").update(misconception=extra)
    for learner in [m.learner for m in cohort.memberships.select_related("learner")[:2]]:
        answer_test(topic, learner, {questions[0]: "B"}, certainty=HIGH)

    assert row_ids(client.get(map_url(cohort)).content.decode()) == [
        "pending-means-queued",
        "broker-stores-results",
        "a-rare-belief",
    ]
    by_name = client.get(map_url(cohort, "?sort=name")).content.decode()
    assert row_ids(by_name) == ["a-rare-belief", "broker-stores-results", "pending-means-queued"]
    assert '<strong aria-current="true">name</strong>' in by_name
    assert (
        row_ids(client.get(map_url(cohort, "?sort=learners")).content.decode())[0] == "pending-means-queued"
    )

    page = client.get(map_url(cohort, "?sort=drop+table")).content.decode()
    assert "Cannot sort by “drop table”" in page
    assert row_ids(page)[0] == "pending-means-queued"


def test_weights_can_put_few_confident_holders_above_many_unsure_ones(client, instructor):
    topic, questions = make_abc_topic(1, slug="weights")
    confident = make_misconception("confident-belief")
    unsure = make_misconception("unsure-belief")
    questions[0].options.filter(key="B").update(misconception=confident)
    questions[0].options.filter(key="C").update(misconception=unsure)
    learners = [make_learner() for _ in range(5)]
    for learner in learners[:2]:
        answer_test(topic, learner, {questions[0]: "B"}, certainty=HIGH)  # 2 learners, 6
    for learner in learners[2:]:
        answer_test(topic, learner, {questions[0]: "C"}, certainty=LOW)  # 3 learners, 3
    cohort = make_cohort(instructor, learners=learners)

    assert row_ids(client.get(map_url(cohort)).content.decode()) == ["confident-belief", "unsure-belief"]
    assert row_ids(client.get(map_url(cohort, "?sort=learners")).content.decode()) == [
        "unsure-belief",
        "confident-belief",
    ]


def test_another_instructor_gets_404_for_a_misconceptions_holders(client, planted):
    cohort, _, _ = planted
    other = make_cohort(make_instructor("other"), name="Other group")

    assert (
        client.get(f"/instructor/cohorts/{other.pk}/misconceptions/pending-means-queued/").status_code == 404
    )
    assert client.get(f"/instructor/cohorts/{cohort.pk}/misconceptions/no-such-belief/").status_code == 404


def test_an_empty_cohort_has_an_empty_map(client, instructor):
    cohort = make_cohort(instructor)

    page = client.get(map_url(cohort)).content.decode()

    assert "No learner of this cohort holds a known misconception" in page


def test_the_cohort_dashboard_links_the_map(client, planted):
    cohort, _, _ = planted

    page = client.get(f"/instructor/cohorts/{cohort.pk}/").content.decode()

    assert f'href="/instructor/cohorts/{cohort.pk}/misconceptions/">Misconception map</a>' in page


def test_a_statement_that_looks_like_a_formula_is_exported_as_text(client, instructor):
    topic, questions = make_abc_topic(1, slug="formula")
    questions[0].options.filter(key="B").update(
        misconception=make_misconception("formula", statement="=HYPERLINK(0) is a belief.")
    )
    learner = make_learner("+ada")
    answer_test(topic, learner, {questions[0]: "B"})
    cohort = make_cohort(instructor, learners=[learner])

    [row] = read_csv(client.get(f"/instructor/cohorts/{cohort.pk}/misconceptions.csv"))

    assert row["statement"] == "'=HYPERLINK(0) is a belief."
    assert row["learners (weight)"] == "'+ada=2"


def test_the_map_runs_the_same_number_of_queries_for_any_cohort_size(client, instructor):
    topic, questions = make_abc_topic(3, slug="counted")
    belief = make_misconception("counted-belief")
    for question in questions:
        question.options.filter(key="B").update(misconception=belief)
    cohorts = []
    for size in (2, 6):
        learners = [make_learner() for _ in range(size)]
        for learner in learners:
            answer_test(topic, learner, dict.fromkeys(questions, "B"), certainty=HIGH)
        cohorts.append(make_cohort(instructor, name=f"Size {size}", learners=learners))

    small, large = query_counts(client, map_url, cohorts)

    assert small == large
    # session, user, role, cohort, evidence (practice, tests, explain answers), latest clearings
    # (practice, tests), members, misconceptions, questions, untouched count, the navigation's
    # due count
    assert large == 14


def read_csv(response) -> list[dict]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.content.decode())))
