"""The cohort dashboard: the grid, its averages, sorting, inactive learners and the charts."""

import datetime as dt
import re
import uuid

import pytest
from django.utils import timezone
from django.utils.html import strip_tags

from dashboard.progress import topics_with_progress
from instructor.charts import score_counts, strong_pairs_by_day
from instructor.queries import cohort_grid
from learn.models import CardReviewState
from learn.services import rate_card
from live_lab.models import LabRun
from quizzes.models import Attempt
from tests.factories import make_learner
from tests.instructor.factories import answer_test, make_abc_topic, make_cohort, query_counts
from tests.learn.card_factories import make_flashcard

pytestmark = pytest.mark.django_db


def lab_run(learner, *, right: bool | None):
    status = LabRun.Status.RUNNING if right is None else LabRun.Status.FINISHED
    return LabRun.objects.create(
        owner=learner,
        experiment="success",
        task_id=str(uuid.uuid4()),
        is_prediction_right=right,
        status=status,
    )


def row_of(page: str, username: str) -> str:
    start = page.index(f">{username}</a>")
    return page[page.rindex("<tr", 0, start) : page.index("</tr>", start)]


def test_the_grid_shows_mastery_best_score_cards_and_lab_predictions_per_learner(client, instructor):
    topic, questions = make_abc_topic(5, title="Results")
    card = make_flashcard(topic)
    make_flashcard(topic)
    ada, bob = make_learner("ada"), make_learner("bob")
    answer_test(topic, ada, dict.fromkeys(questions, "B"))  # 0/5
    answer_test(topic, ada, dict.fromkeys(questions, "A"))  # 5/5: the best and latest, strong
    rate_card(ada, flashcard=card, rating=3, reviews_seen=0)
    lab_run(ada, right=True)
    lab_run(ada, right=False)
    lab_run(ada, right=True)
    lab_run(ada, right=None)  # still running: not a prediction made yet
    cohort = make_cohort(instructor, learners=[ada, bob])

    page = client.get(f"/instructor/cohorts/{cohort.pk}/").content.decode()

    ada_row, bob_row = row_of(page, "ada"), row_of(page, "bob")
    ada_text, bob_text = " ".join(strip_tags(ada_row).split()), " ".join(strip_tags(bob_row).split())
    # The cell's colour is the mastery's, and the mastery is written too (colour never alone).
    assert 'class="cell cell-strong"><span class="cell-mastery">Strong</span>' in ada_row
    assert "best 100 % of 2 tests · 1/2 cards reviewed" in ada_text
    assert "<td>2/3</td>" in ada_row
    assert 'class="cell cell-not_started"><span class="cell-mastery">Not started</span>' in bob_row
    assert "no test" in bob_text
    assert "· 0/2 cards reviewed" in bob_text
    assert "<td>0/0</td>" in bob_row


def test_the_grid_uses_the_learners_own_mastery_rule(instructor):
    """The same levels as the learner's dashboard (dashboard/progress.py), for every learner and topic."""
    strong_topic, strong_questions = make_abc_topic(5)
    cards_topic, cards_questions = make_abc_topic(5)
    stable = make_flashcard(cards_topic)
    learners = [make_learner() for _ in range(3)]
    answer_test(strong_topic, learners[0], dict.fromkeys(strong_questions, "A"))
    answer_test(cards_topic, learners[0], dict.fromkeys(cards_questions, "A"))
    rate_card(learners[0], flashcard=stable, rating=4, reviews_seen=0)
    CardReviewState.objects.filter(learner=learners[0]).update(stability=30)  # mastered
    answer_test(strong_topic, learners[1], dict.fromkeys(strong_questions, "B"))  # learning
    rate_card(learners[2], flashcard=stable, rating=1, reviews_seen=0)  # learning, cards only
    cohort = make_cohort(instructor, learners=learners)

    grid = cohort_grid(cohort)

    levels = {}
    for row in grid.rows:
        levels[row.learner.pk] = [cell.mastery for cell in row.cells]
        assert levels[row.learner.pk] == [topic.mastery for topic in topics_with_progress(row.learner)]
    assert levels[learners[0].pk] == ["strong", "mastered"]
    assert levels[learners[1].pk] == ["learning", "not_started"]
    assert levels[learners[2].pk] == ["not_started", "learning"]


def test_learners_inactive_for_seven_days_are_highlighted(client, instructor):
    topic, questions = make_abc_topic(1)
    card = make_flashcard(topic)
    recent, idle, never = make_learner("recent"), make_learner("idle"), make_learner("never")
    answer_test(topic, recent, {questions[0]: "A"})
    rate_card(idle, flashcard=card, rating=3, reviews_seen=0, now=timezone.now() - dt.timedelta(days=8))
    cohort = make_cohort(instructor, learners=[recent, idle, never])

    page = client.get(f"/instructor/cohorts/{cohort.pk}/").content.decode()

    assert 'class="inactive"' not in row_of(page, "recent")
    assert 'class="inactive"' in row_of(page, "idle")
    assert 'class="inactive"' in row_of(page, "never")
    assert "never</td>" in row_of(page, "never")
    assert '<span class="stat-value">2</span> inactive for 7 days or more' in page


def test_the_averages_row_shows_the_cohorts_mean_best_score_and_cards(client, instructor):
    topic, questions = make_abc_topic(5)
    card = make_flashcard(topic)
    make_flashcard(topic)
    first, second, untested = make_learner(), make_learner(), make_learner()
    answer_test(topic, first, dict.fromkeys(questions, "A"))  # 100 %
    answer_test(topic, second, dict(zip(questions, "AABBB", strict=True)))  # 40 %
    rate_card(first, flashcard=card, rating=3, reviews_seen=0)
    cohort = make_cohort(instructor, learners=[first, second, untested])

    page = client.get(f"/instructor/cohorts/{cohort.pk}/").content.decode()
    averages = page[page.index('<tr class="averages">') :]

    # (100 + 40) / 2 = 70 over the two learners with a test; cards (1 + 0 + 0) / 3 = 0.3.
    assert "best <strong>70 %</strong> (2 tested)" in averages
    assert "cards 0.3/2" in averages
    assert "1 strong or mastered" in averages


def test_the_grid_sorts_by_a_topic_and_reverses_on_a_second_click(client, instructor):
    topic, questions = make_abc_topic(5)
    scores = {"ann": "ABBBB", "ben": "AAAAA", "cal": "AAABB"}  # 20 %, 100 %, 60 %
    learners = [make_learner(name) for name in scores]
    for learner in learners:
        answer_test(topic, learner, dict(zip(questions, scores[learner.username], strict=True)))
    cohort = make_cohort(instructor, learners=learners)
    url = f"/instructor/cohorts/{cohort.pk}/"

    def order(query: str) -> list[str]:
        page = client.get(url + query).content.decode()
        return re.findall(r'learners/\d+/">(\w+)</a>', page)

    assert order("") == ["ann", "ben", "cal"]
    assert order(f"?sort=-{topic.slug}") == ["ben", "cal", "ann"]
    assert order(f"?sort={topic.slug}") == ["ann", "cal", "ben"]
    assert order("?sort=-learner") == ["cal", "ben", "ann"]
    page = client.get(url + f"?sort=-{topic.slug}").content.decode()
    assert f'aria-sort="descending"><a href="?sort={topic.slug}">' in page


def test_an_unknown_sort_is_explained_and_the_grid_falls_back_to_names(client, instructor):
    cohort = make_cohort(instructor, learners=[make_learner("zed"), make_learner("amy")])

    page = client.get(f"/instructor/cohorts/{cohort.pk}/?sort=password").content.decode()

    assert "Cannot sort by “password”" in page
    assert page.index(">amy</a>") < page.index(">zed</a>")


def test_the_dashboard_runs_the_same_queries_for_2_and_6_learners(
    client, instructor, django_assert_num_queries
):
    topic, questions = make_abc_topic(3)
    card = make_flashcard(topic)

    def cohort_of(size: int):
        learners = [make_learner() for _ in range(size)]
        for learner in learners:
            answer_test(topic, learner, dict.fromkeys(questions, "A"))
            rate_card(learner, flashcard=card, rating=3, reviews_seen=0)
            lab_run(learner, right=True)
        return make_cohort(instructor, name=f"{size} learners", learners=learners)

    small, large = cohort_of(2), cohort_of(6)
    counts = query_counts(client, lambda cohort: f"/instructor/cohorts/{cohort.pk}/", (small, large))

    assert counts[0] == counts[1]
    # session, user, role, cohort, topics, learners, tests, cards, activity, mastery over time,
    # score histogram, the navigation's due count, lab challenges' attempts and hints
    with django_assert_num_queries(14):
        client.get(f"/instructor/cohorts/{large.pk}/?sort=-last_active")


def test_the_score_histogram_counts_tests_in_tenths():
    topic, questions = make_abc_topic(5)
    learners = [make_learner() for _ in range(3)]
    # 5/5 = 100 % → bin 9 (90–100 %); 2/5 = 40 % → bin 4 twice; 0/5 → bin 0.
    answer_test(topic, learners[0], dict.fromkeys(questions, "A"))
    answer_test(topic, learners[1], dict(zip(questions, "AABBB", strict=True)))
    answer_test(topic, learners[2], dict(zip(questions, "AABBB", strict=True)))
    answer_test(topic, learners[2], dict.fromkeys(questions, "B"))

    assert score_counts(make_cohort(learners=learners)) == [1, 0, 0, 0, 2, 0, 0, 0, 0, 1]


def test_mastery_over_time_follows_the_latest_verdict_day_by_day():
    topic, questions = make_abc_topic(5)
    ada, bob = make_learner(), make_learner()
    day = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)
    tests = [
        (ada, "AAAAA", day),  # ada strong: 1 pair
        (bob, "AAAAA", day + dt.timedelta(days=1)),  # bob strong too: 2
        (ada, "AAAAA", day + dt.timedelta(days=2)),  # still strong: no change, 2
        (ada, "BBBBB", day + dt.timedelta(days=3)),  # ada's latest is weak: 1
    ]
    for learner, keys, moment in tests:
        attempt = answer_test(topic, learner, dict(zip(questions, keys, strict=True)))
        Attempt.objects.filter(pk=attempt.pk).update(submitted_at=moment)

    days = strong_pairs_by_day(make_cohort(learners=[ada, bob]))

    assert days == [(dt.date(2026, 11, n), count) for n, count in [(2, 1), (3, 2), (4, 2), (5, 1)]]


def test_the_charts_are_inline_svg_with_no_cdn(client, instructor):
    topic, questions = make_abc_topic(5)
    learner = make_learner()
    answer_test(topic, learner, dict.fromkeys(questions, "A"))
    cohort = make_cohort(instructor, learners=[learner])

    page = client.get(f"/instructor/cohorts/{cohort.pk}/").content.decode()

    assert page.count('class="histogram-bar"') == 10
    assert "<title>90–100 %: 1</title>" in page
    assert '<polyline class="chart-line"' in page
    assert "now 100.0 %" in page
    assert "https://" not in page
    assert '<script src="http' not in page
