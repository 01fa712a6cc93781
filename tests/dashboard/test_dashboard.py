"""The dashboard: mastery per topic, cards due, streak, recent scores and their chart."""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.utils import timezone

from dashboard.charts import score_chart
from dashboard.progress import Mastery, mastery_level, streak
from learn.models import CardReviewState
from learn.services import rate_card
from quizzes.models import Attempt
from quizzes.services import record_answer, record_practice_answer, start_attempt, submit_attempt
from tests.factories import make_learner
from tests.learn.card_factories import make_flashcard
from tests.quizzes.factories import make_topic_with_questions

pytestmark = pytest.mark.django_db


def take_test(topic, learner, *, right: int) -> Attempt:
    """Start a test and answer its first `right` questions correctly, the rest wrongly."""
    attempt = start_attempt(topic, learner=learner)
    for number, item in enumerate(attempt.items.select_related("question").order_by("position")):
        key = "A" if number < right else "B"
        record_answer(item, options=[item.question.options.get(key=key)])
    submit_attempt(attempt)
    return attempt


def test_the_dashboard_needs_an_account(client):
    response = client.get("/dashboard/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/dashboard/")


def test_mastery_follows_the_documented_rule():
    assert (
        mastery_level(has_activity=False, latest_verdict=None, cards=3, stable_cards=0) == Mastery.NOT_STARTED
    )
    assert mastery_level(has_activity=True, latest_verdict=None, cards=3, stable_cards=3) == Mastery.LEARNING
    assert (
        mastery_level(has_activity=True, latest_verdict="needs_work", cards=3, stable_cards=3) == "learning"
    )
    assert (
        mastery_level(has_activity=True, latest_verdict="strong", cards=3, stable_cards=2) == Mastery.STRONG
    )
    assert mastery_level(has_activity=True, latest_verdict="strong", cards=3, stable_cards=3) == "mastered"


def test_the_streak_counts_consecutive_days_up_to_today_or_yesterday():
    today = dt.date(2026, 11, 24)
    days = {today - dt.timedelta(days=n) for n in (0, 1, 2, 4)}

    assert streak(days, today=today) == 3
    assert streak(days - {today}, today=today) == 2, "no activity yet today keeps yesterday's streak"
    assert streak({today - dt.timedelta(days=3)}, today=today) == 0


def test_the_dashboard_shows_each_topics_mastery_due_cards_and_best_score(client):
    learner = make_learner()
    strong = make_topic_with_questions(title="Strong topic")
    learning = make_topic_with_questions(title="Learning topic")
    make_topic_with_questions(title="Untouched topic")
    take_test(strong, learner, right=10)
    take_test(learning, learner, right=4)
    card = make_flashcard(learning)
    rate_card(learner, flashcard=card, rating=1, reviews_seen=0, now=timezone.now() - dt.timedelta(days=1))
    client.force_login(learner)

    page = client.get("/dashboard/").content.decode()

    table = page[page.index('id="topics-heading"') :]
    rows = {
        title: table[table.index(title) :].split("</tr>")[0] for title in ("Strong", "Learning", "Untouched")
    }
    assert "Strong</span>" in rows["Strong"]
    assert "100 %" in rows["Strong"]
    assert "Learning</span>" in rows["Learning"]
    assert "40 %" in rows["Learning"]
    assert f'href="/topics/{learning.slug}/cards/">1</a>' in rows["Learning"]
    assert "Not started</span>" in rows["Untouched"]
    assert '<span class="stat-value">2</span> days in a row' in page, "a card yesterday, tests today"


def test_recent_scores_are_listed_newest_first_and_drawn_as_an_svg_chart(client):
    learner = make_learner()
    topic = make_topic_with_questions(title="Charted topic")
    for right in (3, 6, 9):
        take_test(topic, learner, right=right)
    client.force_login(learner)

    page = client.get("/dashboard/").content.decode()

    assert page.index("9/10") < page.index("6/10") < page.index("3/10")
    assert page.count('class="chart-point"') == 3
    assert "<polyline" in page
    assert "https://" not in page, "the chart is drawn by the server, with no CDN"


def test_the_score_chart_has_axes_dates_and_one_series_per_topic_with_a_legend(client):
    learner = make_learner()
    first = make_topic_with_questions(title="First charted")
    second = make_topic_with_questions(title="Second charted")
    for topic, right in ((first, 4), (second, 9), (first, 7)):
        take_test(topic, learner, right=right)
    client.force_login(learner)

    page = client.get("/dashboard/").content.decode()

    chart = page[page.index('aria-labelledby="chart-title"') : page.index("</figure>")]
    assert chart.count('<g class="chart-series') == 2, "one series per topic"
    first_series = chart[chart.index(f'data-topic="{first.slug}"') :].split("</g>")[0]
    assert first_series.count('class="chart-point"') == 2
    assert "<polyline" in first_series, "a topic's own scores are joined, never another topic's"
    assert chart.count('class="chart-axis"') == 2
    assert ">0 %</text>" in chart, "the y axis is labelled"
    assert ">100 %</text>" in chart
    today = timezone.now()
    assert chart.count('class="chart-label chart-date"') == 1, "three tests on one day: one date label"
    assert f'text-anchor="middle">{today.day} {today:%b}</text>' in chart
    legend = chart[chart.index('class="chart-legend"') :]
    assert legend.index("First charted") < legend.index("Second charted")
    assert legend.count('class="legend-point"') == 2, "each topic's marker shape is in the legend"
    assert 'aria-describedby="score-list"' in chart, "a text alternative: the list of scores"
    assert 'id="score-list"' in page


def test_nine_topics_in_the_score_chart_get_nine_marker_shapes():
    day = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    attempts = [
        SimpleNamespace(topic_id=n, topic=None, score=SimpleNamespace(percent=50), submitted_at=day)
        for n in range(9)
    ]

    series = score_chart(attempts)["series"]

    assert len({line.shape for line in series}) == 9, "shape tells the series apart, not colour alone"


def test_the_next_step_is_the_first_step_not_done_when_no_card_is_due(client):
    learner = make_learner()
    make_topic_with_questions(title="Only topic")
    client.force_login(learner)

    page = client.get("/dashboard/").content.decode()

    card = page[page.index('id="next-heading"') : page.index("</section>")]
    assert "Continue: Read the cheat sheet" in card
    assert "Only topic" in card
    assert "due" not in card


def test_due_cards_come_first_in_the_next_step_with_the_right_plural(client):
    learner = make_learner()
    topic = make_topic_with_questions(title="Carded topic")
    for card in (make_flashcard(topic), make_flashcard(topic)):
        yesterday = timezone.now() - dt.timedelta(days=1)
        rate_card(learner, flashcard=card, rating=1, reviews_seen=0, now=yesterday)
    client.force_login(learner)

    page = client.get("/dashboard/").content.decode()

    card = page[page.index('id="next-heading"') : page.index("</section>")]
    assert "You have 2 cards due: reviewing them now" in card
    assert "Review 2 due cards</a>" in card
    assert '<span class="stat-value">2</span> cards due' in page


def test_a_topic_becomes_mastered_when_strong_and_every_card_is_stable(client):
    learner = make_learner()
    topic = make_topic_with_questions(title="Mastered topic")
    card = make_flashcard(topic)
    take_test(topic, learner, right=10)
    rate_card(learner, flashcard=card, rating=4, reviews_seen=0)
    CardReviewState.objects.filter(learner=learner).update(stability=30)
    client.force_login(learner)

    page = client.get("/").content.decode()

    assert "Mastered</span>" in page


def test_another_learners_activity_never_shows(client):
    other = make_learner()
    topic = make_topic_with_questions(title="Shared topic")
    take_test(topic, other, right=10)
    record_practice_answer(
        topic.questions.first(), learner=other, options=[topic.questions.first().options.get(key="A")]
    )
    client.force_login(make_learner())

    page = client.get("/dashboard/").content.decode()

    assert "Not started</span>" in page
    assert "No test yet" in page
    assert '<span class="stat-value">0</span> days in a row' in page


def test_the_dashboard_runs_a_fixed_number_of_queries(client, django_assert_num_queries):
    learner = make_learner()
    for _ in range(3):
        topic = make_topic_with_questions()
        make_flashcard(topic)
        take_test(topic, learner, right=7)
    client.force_login(learner)

    # session, user, topics with progress, the learning path for the next step (the content
    # version, none here since nothing was synced, so 4 totals, and 5 of the learner's), activity
    # days, recent scores, their questions' certainties, true retention, the cards' schedule, the
    # certainty counts of practice and tests, nav due count, and for open misconceptions the
    # tagged options chosen (practice, tests) and the explain answers with wrong claims
    with django_assert_num_queries(23):
        client.get("/dashboard/")


def test_the_catalog_shows_mastery_to_a_learner_with_a_fixed_number_of_queries(
    client, django_assert_num_queries
):
    learner = make_learner()
    for _ in range(3):
        take_test(make_topic_with_questions(), learner, right=9)
    client.force_login(learner)

    # session, user, topics with progress, the learning path (the content version, none since
    # nothing was synced, so 4 totals, and 5 of the learner's), nav due count
    with django_assert_num_queries(14):
        page = client.get("/").content.decode()

    assert page.count("Strong</span>") == 3


def test_an_anonymous_visitor_sees_the_catalog_without_mastery(client):
    make_topic_with_questions(title="Open topic")

    page = client.get("/").content.decode()

    assert "Open topic" in page
    assert 'class="mastery' not in page
