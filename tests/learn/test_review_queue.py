"""The review queue: exactly the learner's due cards across topics, and the count in the nav."""

import datetime as dt

import pytest
from django.utils import timezone

from learn.models import CardReviewLog, CardReviewState
from learn.queries import due_count_for
from learn.services import rate_card
from tests.factories import make_learner, make_topic
from tests.learn.card_factories import days_ago, expected_card, make_flashcard

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def rated(learner, card, *, rating=3, when=None):
    """The learner rated `card` once at `when`: Good on a new card is due ten minutes later."""
    return rate_card(learner, flashcard=card, rating=rating, reviews_seen=0, now=when or days_ago(5))


@pytest.fixture
def ada(client):
    learner = make_learner("ada")
    client.force_login(learner)
    return learner


def queue(client):
    return client.get("/review/").context["deck"]


def test_the_queue_holds_exactly_the_due_cards(client, ada):
    topic = make_topic(title="States")
    due = make_flashcard(topic, front="Due card?")
    rated(ada, due)
    not_yet_due = make_flashcard(topic, front="Later card?")
    rated(ada, not_yet_due, rating=4, when=timezone.now())  # Easy: back in 8 days
    make_flashcard(topic, front="Never rated?")  # new cards are not "due"
    someone_elses = make_flashcard(topic, front="Bob's card?")
    rated(make_learner("bob"), someone_elses)
    archived = make_flashcard(topic, front="Archived card?")
    rated(ada, archived)
    archived.archived_at = timezone.now()
    archived.save()
    old_topic = make_topic(archived_at=timezone.now())
    in_archived_topic = make_flashcard(old_topic, front="Archived topic's card?")
    rated(ada, in_archived_topic)

    deck = queue(client)
    page = client.get("/review/").content.decode()

    assert deck.due_count == 1
    assert deck.current.flashcard == due
    assert "1 due across all topics" in page
    assert "Due card?" in page
    assert 'Review (<span id="review-due-count">1</span>)' in page
    assert due_count_for(ada) == 1


def test_the_dashboard_says_card_or_cards_due_by_the_count(client, ada):
    topic = make_topic()
    rated(ada, make_flashcard(topic, front="First?"))

    assert "1</span> card due" in client.get("/dashboard/").content.decode()

    rated(ada, make_flashcard(topic, front="Second?"))

    assert "2</span> cards due" in client.get("/dashboard/").content.decode()


def test_a_card_is_due_from_its_due_time_on(ada):
    card = make_flashcard()
    log = rated(ada, card, when=timezone.now())
    due_at = CardReviewState.objects.get().due_at

    assert due_at == log.reviewed_at + dt.timedelta(minutes=10)
    assert due_count_for(ada, now=due_at - dt.timedelta(microseconds=1)) == 0
    assert due_count_for(ada, now=due_at) == 1


def test_the_queue_spans_topics_longest_waiting_first(client, ada):
    recent = make_flashcard(make_topic(title="Backends"), front="Recent?")
    rated(ada, recent, when=days_ago(1))
    oldest = make_flashcard(make_topic(title="States"), front="Oldest?")
    rated(ada, oldest, when=days_ago(9))

    deck = queue(client)
    page = client.get("/review/").content.decode()

    assert [deck.current.flashcard, deck.due_count] == [oldest, 2]
    assert f'<a href="/topics/{oldest.topic.slug}/cards/">States</a>' in page


def test_rating_in_the_queue_moves_on_and_refreshes_the_nav_count(client, ada):
    first = make_flashcard(front="First?")
    rated(ada, first, when=days_ago(9))
    second = make_flashcard(front="Second?")
    rated(ada, second, when=days_ago(1))

    response = client.post("/review/rate/", {"card": first.pk, "rating": 3, "reviews": 1}, headers=HTMX)

    panel = response.content.decode()
    state = CardReviewState.objects.get(learner=ada, flashcard=first)
    logs = list(CardReviewLog.objects.filter(flashcard=first).order_by("id"))
    assert response.status_code == 200
    assert "Second?" in panel
    assert "1 due across all topics" in panel
    assert '<span id="review-due-count" hx-swap-oob="true">1</span>' in panel
    assert state.to_fsrs() == expected_card([(log.rating, log.reviewed_at) for log in logs], card_id=first.pk)


def test_rating_in_the_queue_without_javascript_redirects_to_the_queue(client, ada):
    card = make_flashcard()
    rated(ada, card)

    response = client.post("/review/rate/", {"card": card.pk, "rating": 4, "reviews": 1})

    assert response.status_code == 302
    assert response["Location"] == "/review/"
    assert queue(client).due_count == 0


def test_a_queue_rating_for_an_unknown_card_or_a_bad_value_is_a_form_error(client, ada):
    card = make_flashcard()
    rated(ada, card)

    unknown = client.post("/review/rate/", {"card": 424242, "rating": 3, "reviews": 1})
    bad = client.post("/review/rate/", {"card": card.pk, "rating": 9, "reviews": 1}, headers=HTMX)

    assert unknown.status_code == 400
    assert "That card is not in this deck" in unknown.content.decode()
    assert bad.status_code == 200
    assert "Again, Hard, Good or Easy" in bad.content.decode()
    assert CardReviewLog.objects.count() == 1


def test_undo_in_the_queue_puts_the_card_back(client, ada):
    card = make_flashcard(front="Back again?")
    rated(ada, card)
    before = CardReviewState.objects.get().to_fsrs()
    client.post("/review/rate/", {"card": card.pk, "rating": 4, "reviews": 1})
    last = CardReviewLog.objects.latest("id")

    response = client.post("/review/undo/", {"review": last.pk}, headers=HTMX)

    assert response.status_code == 200
    assert "Back again?" in response.content.decode()
    assert CardReviewState.objects.get().to_fsrs() == before
    assert CardReviewLog.objects.count() == 1


def test_undo_in_the_queue_is_post_only(client, ada):
    assert client.get("/review/undo/").status_code == 405


def test_an_empty_queue_says_nothing_is_due(client, ada):
    page = client.get("/review/").content.decode()

    assert "Nothing is due." in page
    assert "Show answer" not in page
    assert 'Review (<span id="review-due-count">0</span>)' in page


def test_a_learner_never_sees_another_learners_due_cards(client, ada):
    bob = make_learner("bob")
    card = make_flashcard(front="Bob's due card?")
    rated(bob, card)

    page = client.get("/review/").content.decode()

    assert "Nothing is due." in page
    assert "Bob's due card?" not in page
    assert due_count_for(bob) == 1


def test_the_nav_shows_the_review_link_only_to_signed_in_learners(client, db):
    assert "Review (" not in client.get("/").content.decode()

    client.force_login(make_learner())

    assert 'Review (<span id="review-due-count">0</span>)' in client.get("/").content.decode()


def test_an_anonymous_visitors_queue_comes_from_their_session(client, db):
    card = make_flashcard(front="Session card?")
    client.post(f"/topics/{card.topic.slug}/cards/rate/", {"card": card.pk, "rating": 4, "reviews": 0})

    assert "Nothing is due." in client.get("/review/").content.decode()  # Easy: back in days
    session = client.session
    session["card_ratings"][0]["reviewed_at"] = days_ago(60).isoformat()
    session.save()

    page = client.get("/review/").content.decode()
    assert "Session card?" in page
    assert "1 due across all topics" in page


# --- Query counts -----------------------------------------------------------------------------


def test_the_due_count_costs_one_query(ada, django_assert_num_queries):
    for _ in range(5):
        rated(ada, make_flashcard())

    with django_assert_num_queries(1):
        assert due_count_for(ada) == 5


@pytest.mark.parametrize("due", [1, 12])
def test_the_review_page_runs_a_fixed_number_of_queries(client, ada, django_assert_num_queries, due):
    topics = [make_topic(), make_topic()]
    for n in range(due):
        rated(ada, make_flashcard(topics[n % 2]), when=days_ago(n + 1))
    client.get("/review/")

    # session, user, the due states with their cards and topics, the last rating, the nav count
    with django_assert_num_queries(5):
        response = client.get("/review/")
    assert response.context["deck"].due_count == due


def test_the_nav_count_adds_one_query_to_a_signed_in_page(client, ada, django_assert_num_queries):
    client.get("/")

    # session, user, topics, the learning path (the content version, none here since nothing was
    # synced, so 4 totals, and 5 of the learner's), the nav's due count
    with django_assert_num_queries(14):
        client.get("/")


def test_the_queue_shows_a_learning_card_due_within_twenty_minutes_but_not_a_later_one(client, ada):
    topic = make_topic()
    again = make_flashcard(topic, front="Rated Again just now?")
    easy = make_flashcard(topic, front="Rated Easy just now?")
    rated(ada, again, rating=1, when=timezone.now())  # back in a minute: learning
    rated(ada, easy, rating=4, when=timezone.now())  # back in days

    page = client.get("/review/").content.decode()

    assert "Rated Again just now?" in page
    assert "Rated Easy just now?" not in page
    assert "0 due across all topics · 1 learning · 0 to review" in page
