"""The dashboard's flashcard memory figures (docs/mastery.md, "Retention"), each checked against
review logs and schedules planted with fixed times and worked out by hand."""

import datetime as dt

import pytest

from dashboard.progress import card_schedule, true_retention
from learn.models import CardReviewLog, CardReviewState
from learn.services import rate_card
from tests.factories import make_learner
from tests.learn.card_factories import make_flashcard

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 3, 15, 0, tzinfo=dt.UTC)
# fsrs.State's numbers, as fsrs.Card.to_dict() stores them in state_before.
LEARNING, REVIEW, RELEARNING = 1, 2, 3


def plant_log(learner, *, rating: int, days_ago: float, state: int | None, now=NOW) -> CardReviewLog:
    """One rating of a fresh card; `state` is the card's state before it (None: the card was new)."""
    return CardReviewLog.objects.create(
        learner=learner,
        flashcard=make_flashcard(),
        rating=rating,
        reviewed_at=now - dt.timedelta(days=days_ago),
        number=1,
        state_before=None if state is None else {"state": state},
    )


def plant_state(learner, *, stability: float | None, due_in_days: float, now=NOW, **card) -> CardReviewState:
    return CardReviewState.objects.create(
        learner=learner,
        flashcard=make_flashcard(**card),
        state=CardReviewState.State.REVIEW,
        stability=stability,
        due_at=now + dt.timedelta(days=due_in_days),
    )


def plant_review_history(learner, *, now=NOW):
    # Counted: cards in the review state within the last 30 days.
    plant_log(learner, rating=3, days_ago=0.5, state=REVIEW, now=now)  # Good: pass
    plant_log(learner, rating=1, days_ago=2, state=REVIEW, now=now)  # Again: fail
    plant_log(learner, rating=2, days_ago=10, state=REVIEW, now=now)  # Hard: pass
    plant_log(learner, rating=4, days_ago=29.9, state=REVIEW, now=now)  # Easy: pass
    plant_log(learner, rating=1, days_ago=20, state=REVIEW, now=now)  # Again: fail
    # Not counted: learning, relearning and new cards, and reviews older than 30 days.
    plant_log(learner, rating=1, days_ago=1, state=LEARNING, now=now)
    plant_log(learner, rating=3, days_ago=1, state=RELEARNING, now=now)
    plant_log(learner, rating=3, days_ago=1, state=None, now=now)
    plant_log(learner, rating=1, days_ago=30.1, state=REVIEW, now=now)


def test_true_retention_is_the_pass_rate_of_review_state_cards_over_30_days():
    learner = make_learner()
    plant_review_history(learner)
    plant_log(make_learner(), rating=1, days_ago=1, state=REVIEW)  # another learner's

    retention = true_retention(learner, now=NOW)

    # By hand: 5 review-state ratings in the window (Good, Again, Hard, Easy, Again), 3 not Again.
    assert (retention.reviews, retention.passed, retention.percent) == (5, 3, 60)


def test_true_retention_reads_the_state_that_real_ratings_log():
    learner = make_learner()
    card = make_flashcard()
    state = lambda: CardReviewState.objects.get(learner=learner, flashcard=card)  # noqa: E731

    def rate(rating: int, at: dt.datetime) -> str:
        rate_card(learner, flashcard=card, rating=rating, reviews_seen=None, now=at)
        return state().state

    start = NOW - dt.timedelta(days=25)
    assert rate(3, start) == "learning"  # new: not counted
    assert rate(3, state().due_at) == "review"  # learning: not counted
    assert rate(1, state().due_at) == "relearning"  # review, Again: counted, failed
    assert rate(3, state().due_at) == "review"  # relearning: not counted
    last = state().due_at
    assert last < NOW, "every rating falls inside the 30 days"
    rate(2, last)  # review, Hard: counted, passed

    retention = true_retention(learner, now=NOW)

    assert (retention.reviews, retention.passed) == (2, 1)


def test_true_retention_has_no_percent_without_reviews():
    learner = make_learner()
    plant_log(learner, rating=3, days_ago=1, state=LEARNING)

    retention = true_retention(learner, now=NOW)

    assert (retention.reviews, retention.percent) == (0, None)


def test_cards_are_counted_by_stability_in_the_documented_buckets():
    learner = make_learner()
    for stability in (None, 0.4, 1, 6.9, 7, 20.9, 21, 89, 90, 400):
        plant_state(learner, stability=stability, due_in_days=5)
    plant_state(learner, stability=30, due_in_days=1, archived_at=NOW)  # archived: left out

    schedule = card_schedule(learner, now=NOW)

    # By hand: under 1 day {None, 0.4}; 1-7 {1, 6.9}; 7-21 {7, 20.9}; 21-90 {21, 89}; 90+ {90, 400}.
    assert [(bucket.label, bucket.cards) for bucket in schedule.by_stability] == [
        ("under 1 day", 2),
        ("1 to 7 days", 2),
        ("7 to 21 days", 2),
        ("21 to 90 days", 2),
        ("90 days or more", 2),
    ]


def test_the_forecast_counts_reviews_due_each_day_for_30_days_with_overdue_today():
    learner = make_learner()
    # NOW is 15:00 UTC on 3 Dec: +0.3 days is 22:12 the same day, +0.5 is 03:00 on 4 Dec.
    for due_in_days in (-3, -0.1, 0.3, 0.5, 1, 1.2, 6, 29.3, 30, 45):
        plant_state(learner, stability=5, due_in_days=due_in_days)

    forecast = card_schedule(learner, now=NOW).forecast

    assert len(forecast) == 30
    assert forecast[0].day == dt.date(2026, 12, 3)
    assert forecast[-1].day == dt.date(2027, 1, 1)
    by_day = {due.day: due.reviews for due in forecast if due.reviews}
    # By hand: today 3 (two overdue, one tonight); 4 Dec 3 (03:00, 15:00, 19:48); 9 Dec 1;
    # 1 Jan 1 (29.3 days: 22:12 on 1 Jan). 30 days (2 Jan) and 45 days are past the forecast.
    assert by_day == {
        dt.date(2026, 12, 3): 3,
        dt.date(2026, 12, 4): 3,
        dt.date(2026, 12, 9): 1,
        dt.date(2027, 1, 1): 1,
    }


def test_the_dashboard_states_retention_stability_and_forecast(client):
    learner = make_learner()
    now = dt.datetime.now(dt.UTC)
    plant_review_history(learner, now=now)
    plant_state(learner, stability=3, due_in_days=-1, now=now)
    plant_state(learner, stability=40, due_in_days=2.5, now=now)
    client.force_login(learner)

    page = client.get("/dashboard/").content.decode()

    assert '<span class="stat-value">60 %</span>' in page
    assert "3 of 5 reviews passed" in page
    assert "in the review state (not new, learning or relearning)" in page, "the definition is stated"
    assert '<tr><th scope="row">1 to 7 days</th><td>1</td></tr>' in page
    assert '<tr><th scope="row">21 to 90 days</th><td>1</td></tr>' in page
    assert "2 reviews due in the next 30 days, at most 1 on one day" in page
    assert page.count('class="chart-bar"') == 2
    assert "1 review</title></rect>" in page, "a bar's singular is right"
    assert "You have 1 card due" in page


def test_a_learner_with_no_reviews_is_told_what_counts(client):
    client.force_login(make_learner())

    page = client.get("/dashboard/").content.decode()

    assert "No review yet" in page
    assert "0 reviews due in the next 30 days." in page
    assert 'class="chart-bar"' not in page
