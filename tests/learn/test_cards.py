"""A topic's flashcards, one at a time: reveal, rate with FSRS, undo, anonymous progress."""

import datetime as dt

import fsrs
import pytest
from django.utils import timezone

from learn.models import CardReviewLog, CardReviewState, Flashcard
from learn.services import SESSION_RATINGS, adopt_session_progress, rate_card
from tests.factories import make_learner, make_topic
from tests.learn.card_factories import SCHEDULER, days_ago, expected_card, make_flashcard
from tests.learn.test_content_check import GOOD_TOPIC, sync, write_topic

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def cards_url(topic) -> str:
    return f"/topics/{topic.slug}/cards/"


def state_of(learner, card) -> CardReviewState:
    return CardReviewState.objects.get(learner=learner, flashcard=card)


def post_rating(client, card, rating, *, reviews=0, url=None, **kwargs):
    url = url or f"/topics/{card.topic.slug}/cards/rate/"
    return client.post(url, {"card": card.pk, "rating": rating, "reviews": reviews}, **kwargs)


@pytest.fixture
def deck():
    topic = make_topic(title="States")
    first = make_flashcard(topic, front="What does PENDING mean?", back="Unknown or waiting.", position=0)
    second = make_flashcard(topic, front="Is REVOKED ready?", back="Yes.", position=1)
    return topic, first, second


@pytest.fixture
def ada(client):
    learner = make_learner("ada")
    client.force_login(learner)
    return learner


# --- The page -----------------------------------------------------------------------------


def test_the_cards_page_shows_the_first_card_with_a_show_answer_button_and_key_hints(client, deck):
    topic, first, _ = deck

    page = client.get(cards_url(topic)).content.decode()

    assert "What does PENDING mean?" in page
    assert 'aria-controls="card-back" aria-keyshortcuts="Space">Show answer</button>' in page
    assert '<div class="card-back" id="card-back" tabindex="-1" hidden>' in page
    assert '<script src="/static/js/cards.js" defer></script>' in page
    assert 'href="/static/css/cards.css"' in page
    assert "<kbd>Space</kbd> shows the answer" in page
    for key, name in enumerate(["Again", "Hard", "Good", "Easy"], start=1):
        assert f'data-key="{key}" aria-keyshortcuts="{key}" aria-describedby="next-{key}">{name}<span' in page
    assert "https://" not in page


def test_the_static_files_for_cards_are_served(client, db):
    for url in ["/static/js/cards.js", "/static/css/cards.css"]:
        response = client.get(url)
        assert response.status_code == 200
    script = b"".join(client.get("/static/js/cards.js").streaming_content).decode()
    assert '"keydown"' in script
    assert "/^[1-4]$/" in script


def test_show_answer_works_without_javascript(client, deck):
    topic, first, _ = deck

    page = client.get(cards_url(topic), {"reveal": first.slug}).content.decode()

    assert '<div class="card-back" id="card-back" tabindex="-1">' in page
    assert "Unknown or waiting." in page
    assert "Show answer" not in page
    assert 'class="rate-form">' in page


def test_each_rating_button_shows_the_interval_fsrs_gives_a_new_card(client, deck):
    topic, first, _ = deck
    now = timezone.now()
    card = fsrs.Card(card_id=first.pk, due=now)
    days_if_easy = (SCHEDULER.review_card(card, fsrs.Rating.Easy, review_datetime=now)[0].due - now).days

    page = client.get(cards_url(topic)).content.decode()

    # Again: the first learning step; Hard: halfway between the two steps; Good: the second.
    assert 'id="next-1" aria-hidden="true">1 min</span>' in page
    assert 'id="next-2" aria-hidden="true">6 min</span>' in page
    assert 'id="next-3" aria-hidden="true">10 min</span>' in page
    assert f'id="next-4" aria-hidden="true">{days_if_easy} days</span>' in page
    assert days_if_easy == 8


def test_a_card_in_review_shows_day_intervals(client, deck, ada):
    topic, first, second = deck
    rate_card(ada, flashcard=first, rating=4, reviews_seen=0, now=days_ago(10))
    rate_card(ada, flashcard=second, rating=4, reviews_seen=0, now=days_ago(10))
    now = timezone.now()
    card = state_of(ada, first).to_fsrs()
    expected = [
        (SCHEDULER.review_card(card, fsrs.Rating(r), review_datetime=now)[0].due - now) for r in range(1, 5)
    ]

    page = client.get(cards_url(topic)).content.decode()

    assert "0 new · 0 learning · 2 to review" in page
    assert 'id="next-1" aria-hidden="true">10 min</span>' in page
    assert f'id="next-3" aria-hidden="true">{round(expected[2].total_seconds() / 86400)} days</span>' in page


def test_an_unknown_topic_gets_404(client, db):
    assert client.get("/topics/no-such-topic/cards/").status_code == 404
    assert client.post("/topics/no-such-topic/cards/rate/", {"card": 1, "rating": 3}).status_code == 404


def test_an_archived_topic_gets_404(client, deck):
    topic, first, _ = deck
    topic.archived_at = timezone.now()
    topic.save()

    assert client.get(cards_url(topic)).status_code == 404
    assert post_rating(client, first, 3).status_code == 404


def test_archived_cards_are_not_shown_or_rated(client, deck, ada):
    topic, first, second = deck
    first.archived_at = timezone.now()
    first.save()

    page = client.get(cards_url(topic)).content.decode()
    response = post_rating(client, first, 3)

    assert "Is REVOKED ready?" in page
    assert "What does PENDING mean?" not in page
    assert "1 new · 0 learning · 0 to review" in page
    assert response.status_code == 400
    assert not CardReviewLog.objects.exists()


def test_when_every_card_is_scheduled_later_the_page_says_when_the_next_is_due(client, deck, ada):
    topic, first, second = deck
    for card in (first, second):
        post_rating(client, card, 4)

    page = client.get(cards_url(topic)).content.decode()

    assert "All caught up on this topic." in page
    assert "The next card is due in 1" in page  # "1 week, 1 day": Easy on a new card gives 8 days
    assert "Show answer" not in page


# --- Rating ---------------------------------------------------------------------------------


def test_a_rating_moves_the_due_date_exactly_as_fsrs_computes(client, deck, ada):
    topic, first, _ = deck

    response = post_rating(client, first, 3)

    log = CardReviewLog.objects.get()
    state = state_of(ada, first)
    expected = expected_card([(3, log.reviewed_at)], card_id=first.pk)
    assert response.status_code == 302
    assert response["Location"] == cards_url(topic)
    assert state.due_at == expected.due
    assert state.due_at - log.reviewed_at == dt.timedelta(minutes=10)
    assert (state.stability, state.difficulty, state.step) == (expected.stability, expected.difficulty, 1)
    assert state.state == CardReviewState.State.LEARNING
    assert state.last_reviewed_at == log.reviewed_at
    assert (log.learner, log.flashcard, log.rating, log.number, log.state_before) == (ada, first, 3, 1, None)


def test_a_series_of_ratings_follows_fsrs_into_review_and_relearning(deck, ada):
    _, first, _ = deck
    reviews = [
        (3, days_ago(40)),
        (3, days_ago(40) + dt.timedelta(minutes=11)),
        (3, days_ago(20)),
        (1, days_ago(2)),
        (2, days_ago(2) + dt.timedelta(minutes=15)),
        (4, days_ago(1)),
    ]

    for number, (rating, moment) in enumerate(reviews):
        assert rate_card(ada, flashcard=first, rating=rating, reviews_seen=number, now=moment) is not None

    expected = expected_card(reviews, card_id=first.pk)
    state = state_of(ada, first)
    assert state.to_fsrs() == expected
    assert state.due_at == expected.due
    assert state.review_count == 6
    assert CardReviewLog.objects.filter(learner=ada, flashcard=first).count() == 6
    # Each log keeps the schedule it replaced (Undo puts it back), stored as JSON.
    last = CardReviewLog.objects.filter(learner=ada, flashcard=first).latest("number")
    assert last.state_before == expected_card(reviews[:-1], card_id=first.pk).to_dict()


def test_rating_through_htmx_answers_with_the_next_card_panel(client, deck, ada):
    topic, first, _ = deck

    response = post_rating(client, first, 3, headers=HTMX)

    panel = response.content.decode()
    assert response.status_code == 200
    assert panel.lstrip().startswith('<section id="card-panel"')
    assert "<html" not in panel
    assert "Is REVOKED ready?" in panel
    assert "1 new · 1 learning · 0 to review" in panel  # Good on a new card: back in 10 minutes
    assert "Your last rating: Good." in panel
    # The navigation's count is refreshed out of band.
    assert '<span id="review-due-count" hx-swap-oob="true">0</span>' in panel
    assert state_of(ada, first).review_count == 1


def test_the_rating_form_posts_without_javascript_and_with_htmx(client, deck):
    topic, first, _ = deck

    page = client.get(cards_url(topic)).content.decode()

    rate_url = f"/topics/{topic.slug}/cards/rate/"
    assert f'<form method="post" action="{rate_url}" hx-post="{rate_url}" hx-target="#card-panel"' in page
    assert f'<form method="get" action="{cards_url(topic)}" class="reveal-form">' in page


@pytest.mark.parametrize("rating", ["0", "5", "abc", ""])
def test_a_rating_outside_1_to_4_is_a_form_error_and_nothing_is_stored(client, deck, ada, rating):
    topic, first, _ = deck

    plain = post_rating(client, first, rating)
    htmx = post_rating(client, first, rating, headers=HTMX)

    assert plain.status_code == 400
    assert htmx.status_code == 200
    for response in (plain, htmx):
        assert "Again, Hard, Good or Easy" in response.content.decode()
        assert 'role="alert"' in response.content.decode()
    assert not CardReviewLog.objects.exists()
    assert not CardReviewState.objects.exists()


def test_an_unknown_card_or_a_card_of_another_topic_is_a_form_error(client, deck, ada):
    topic, first, _ = deck
    elsewhere = make_flashcard()

    for card_id in [999999, elsewhere.pk, "x"]:
        response = client.post(
            f"/topics/{topic.slug}/cards/rate/", {"card": card_id, "rating": 3, "reviews": 0}
        )
        assert response.status_code == 400
        assert "That card is not in this deck" in response.content.decode()
    assert not CardReviewLog.objects.exists()


def test_rating_is_post_only(client, deck):
    topic, _, _ = deck

    assert client.get(f"/topics/{topic.slug}/cards/rate/").status_code == 405
    assert client.get(f"/topics/{topic.slug}/cards/undo/").status_code == 405


def test_a_double_submitted_rating_is_recorded_once(client, deck, ada):
    _, first, _ = deck

    post_rating(client, first, 3, reviews=0)
    second = post_rating(client, first, 3, reviews=0, headers=HTMX)

    assert second.status_code == 200
    assert CardReviewLog.objects.count() == 1
    assert state_of(ada, first).review_count == 1


# --- Undo -------------------------------------------------------------------------------------


def test_undo_restores_the_previous_state_exactly_and_deletes_the_log(client, deck, ada):
    topic, first, _ = deck
    rate_card(ada, flashcard=first, rating=3, reviews_seen=0, now=days_ago(10))
    rate_card(ada, flashcard=first, rating=3, reviews_seen=1, now=days_ago(10) + dt.timedelta(minutes=12))
    before = state_of(ada, first)
    rate_card(ada, flashcard=first, rating=1, reviews_seen=2, now=days_ago(1))
    last = CardReviewLog.objects.latest("id")
    assert state_of(ada, first).to_fsrs() != before.to_fsrs()

    response = client.post(f"/topics/{topic.slug}/cards/undo/", {"review": last.pk})

    after = state_of(ada, first)
    assert response.status_code == 302
    assert after.to_fsrs() == before.to_fsrs()
    assert (
        after.due_at,
        after.stability,
        after.difficulty,
        after.state,
        after.step,
        after.last_reviewed_at,
    ) == (
        before.due_at,
        before.stability,
        before.difficulty,
        before.state,
        before.step,
        before.last_reviewed_at,
    )
    assert after.review_count == 2
    assert not CardReviewLog.objects.filter(pk=last.pk).exists()
    assert CardReviewLog.objects.count() == 2


def test_undoing_the_first_rating_makes_the_card_new_again(client, deck, ada):
    topic, first, _ = deck
    post_rating(client, first, 4)
    log = CardReviewLog.objects.get()

    response = client.post(f"/topics/{topic.slug}/cards/undo/", {"review": log.pk}, headers=HTMX)

    assert response.status_code == 200
    assert "What does PENDING mean?" in response.content.decode()
    assert "2 new · 0 learning · 0 to review" in response.content.decode()
    assert not CardReviewState.objects.exists()
    assert not CardReviewLog.objects.exists()


def test_undo_of_a_rating_that_is_not_the_last_one_is_a_form_error(client, deck, ada):
    topic, first, second = deck
    post_rating(client, first, 3)
    older = CardReviewLog.objects.get()
    post_rating(client, second, 3)

    plain = client.post(f"/topics/{topic.slug}/cards/undo/", {"review": older.pk})
    htmx = client.post(f"/topics/{topic.slug}/cards/undo/", {"review": older.pk}, headers=HTMX)

    assert plain.status_code == 400
    assert htmx.status_code == 200
    assert "Nothing to undo" in htmx.content.decode()
    assert CardReviewLog.objects.count() == 2


def test_another_learner_cannot_undo_my_rating(client, deck, ada):
    topic, first, _ = deck
    post_rating(client, first, 3)
    mine = CardReviewLog.objects.get()
    client.force_login(make_learner("bob"))

    response = client.post(f"/topics/{topic.slug}/cards/undo/", {"review": mine.pk})

    assert response.status_code == 400
    assert CardReviewLog.objects.filter(pk=mine.pk).exists()
    assert state_of(ada, first).review_count == 1


# --- Learners are kept apart ------------------------------------------------------------------


def test_two_learners_reviews_never_mix(client, deck, ada):
    topic, first, second = deck
    post_rating(client, first, 4)
    ada_state = state_of(ada, first).to_fsrs()

    bob = make_learner("bob")
    client.force_login(bob)
    page = client.get(cards_url(topic)).content.decode()
    post_rating(client, first, 1)

    assert "What does PENDING mean?" in page  # still new for Bob
    assert "2 new · 0 learning · 0 to review" in page
    assert "Your last rating" not in page
    assert state_of(ada, first).to_fsrs() == ada_state
    assert state_of(bob, first).review_count == 1
    assert state_of(bob, first).due_at < state_of(ada, first).due_at
    assert CardReviewLog.objects.filter(learner=ada).count() == 1
    assert CardReviewLog.objects.filter(learner=bob).count() == 1


# --- Anonymous visitors -----------------------------------------------------------------------


def test_an_anonymous_visitor_can_rate_and_the_ratings_stay_in_the_session(client, deck):
    topic, first, second = deck

    response = post_rating(client, first, 3, headers=HTMX)

    panel = response.content.decode()
    assert response.status_code == 200
    assert "Is REVOKED ready?" in panel
    assert "Your last rating: Good." in panel
    assert "review-due-count" not in panel
    assert not CardReviewState.objects.exists()
    assert not CardReviewLog.objects.exists()
    [entry] = client.session[SESSION_RATINGS]
    assert (entry["card"], entry["rating"]) == (first.slug, 3)


def test_an_anonymous_visitor_can_undo_their_last_rating(client, deck):
    topic, first, _ = deck
    post_rating(client, first, 3)

    response = client.post(f"/topics/{topic.slug}/cards/undo/", {"review": 1})

    assert response.status_code == 302
    assert client.session[SESSION_RATINGS] == []
    assert "What does PENDING mean?" in client.get(cards_url(topic)).content.decode()


def test_an_anonymous_double_submit_is_recorded_once(client, deck):
    _, first, _ = deck

    post_rating(client, first, 3, reviews=0)
    post_rating(client, first, 3, reviews=0)

    assert len(client.session[SESSION_RATINGS]) == 1


def test_anonymous_ratings_survive_signup_with_their_original_times(client, deck):
    topic, first, second = deck
    post_rating(client, first, 3, reviews=0)
    post_rating(client, second, 4, reviews=0)
    post_rating(client, first, 3, reviews=1)
    entries = client.session[SESSION_RATINGS]

    response = client.post(
        "/accounts/signup/",
        {"username": "ada", "password1": "celery-results-42", "password2": "celery-results-42"},
    )

    ada = response.wsgi_request.user
    assert response.status_code == 302
    assert SESSION_RATINGS not in client.session
    times = [dt.datetime.fromisoformat(entry["reviewed_at"]) for entry in entries]
    assert state_of(ada, first).to_fsrs() == expected_card([(3, times[0]), (3, times[2])], card_id=first.pk)
    assert state_of(ada, second).to_fsrs() == expected_card([(4, times[1])], card_id=second.pk)
    assert (
        list(CardReviewLog.objects.filter(learner=ada).order_by("id").values_list("reviewed_at", flat=True))
        == times
    )
    assert "All caught up on this topic." in client.get(cards_url(topic)).content.decode()


def test_anonymous_ratings_are_kept_when_logging_in_to_an_existing_account(client, deck):
    _, first, _ = deck
    grace = make_learner("grace")
    post_rating(client, first, 4, reviews=0)
    rated_at = dt.datetime.fromisoformat(client.session[SESSION_RATINGS][0]["reviewed_at"])

    response = client.post("/accounts/login/", {"username": "grace", "password": "pw"})

    assert response.status_code == 302
    assert SESSION_RATINGS not in client.session
    assert state_of(grace, first).to_fsrs() == expected_card([(4, rated_at)], card_id=first.pk)


def test_adopting_session_progress_replays_each_rating_in_time_order(deck):
    _, first, second = deck
    ada = make_learner("ada")
    reviews = [(3, days_ago(9)), (3, days_ago(9) + dt.timedelta(minutes=10)), (2, days_ago(3))]
    session = {
        SESSION_RATINGS: [
            {"card": first.slug, "rating": rating, "reviewed_at": moment.isoformat()}
            for rating, moment in reviews
        ]
        + [{"card": "since-deleted", "rating": 3, "reviewed_at": days_ago(1).isoformat()}]
    }

    adopted = adopt_session_progress(session, ada)

    assert adopted == 3
    assert state_of(ada, first).to_fsrs() == expected_card(reviews, card_id=first.pk)
    assert adopt_session_progress(session, ada) == 0


# --- Query counts -----------------------------------------------------------------------------


@pytest.mark.parametrize("cards", [2, 12])
def test_the_cards_page_runs_a_fixed_number_of_queries(client, ada, django_assert_num_queries, cards):
    topic = make_topic()
    for position in range(cards):
        card = make_flashcard(topic, position=position)
        if position % 2:
            rate_card(ada, flashcard=card, rating=3, reviews_seen=0, now=days_ago(3))
    client.get(cards_url(topic))  # the session row exists from here on

    # session, user, the content version (none: nothing was synced, so nothing is kept), topic, its cards, the
    # learner's states, the last rating, the nav's due count
    with django_assert_num_queries(8):
        response = client.get(cards_url(topic))
    assert response.status_code == 200


@pytest.mark.parametrize("cards", [2, 12])
def test_the_cards_page_for_a_visitor_runs_a_fixed_number_of_queries(
    client, django_assert_num_queries, cards
):
    topic = make_topic()
    flashcards = [make_flashcard(topic, position=position) for position in range(cards)]
    for card in flashcards[::2]:
        post_rating(client, card, 3)

    # session, the content version (none: nothing was synced, so nothing is kept), topic, its cards
    with django_assert_num_queries(4):
        response = client.get(cards_url(topic))
    assert response.status_code == 200


def test_an_htmx_rating_runs_a_fixed_number_of_queries(client, ada, django_assert_num_queries):
    topic = make_topic()
    cards = [make_flashcard(topic, position=position) for position in range(8)]
    client.get(cards_url(topic))

    # the content version (none: nothing was synced, so nothing is kept), topic, session, user,
    # the topic's cards (for the form), the state (read before the transaction), then the
    # transaction's BEGIN, insert log, insert state, COMMIT; then the panel: cards, states, due
    # count (the last rating, for Undo, is the one just stored: in hand).
    with django_assert_num_queries(13):
        response = post_rating(client, cards[0], 3, headers=HTMX)
    assert response.status_code == 200
    assert Flashcard.active.count() == 8


def test_with_synced_content_a_rating_reads_neither_the_topic_nor_its_cards(
    client, ada, tmp_path, django_assert_num_queries
):
    write_topic(tmp_path, GOOD_TOPIC)
    sync(tmp_path)
    client.get("/topics/demo-topic/cards/")  # the first page after the sync keeps the topic and its cards
    card = Flashcard.objects.get(slug="demo-card")

    # the content version (the topic and its cards are kept), session, user, the state, then the
    # transaction (in a savepoint here) and its two inserts; the panel: states, due count (the
    # last rating is the one just stored)
    with django_assert_num_queries(10):
        response = client.post(
            "/topics/demo-topic/cards/rate/",
            {"card": card.pk, "rating": 3, "reviews": 0},
            headers={"HX-Request": "true"},
        )
    assert response.status_code == 200
    assert CardReviewLog.objects.filter(learner=ada, flashcard=card).count() == 1


# --- A session, as Anki runs one ----------------------------------------------------------------


def test_a_card_rated_again_comes_back_in_the_same_session_after_the_new_cards(client, deck, ada):
    topic, first, second = deck

    after_again = post_rating(client, first, 1, headers=HTMX).content.decode()
    after_good = post_rating(client, second, 3, headers=HTMX).content.decode()

    assert "Is REVOKED ready?" in after_again  # the new card first
    assert "1 new · 1 learning · 0 to review" in after_again
    assert "What does PENDING mean?" in after_good  # then the Again card, a minute early
    assert "All caught up" not in after_good
    assert "0 new · 2 learning · 0 to review" in after_good


def test_a_finished_deck_sums_up_the_days_ratings_and_says_where_to_go_next(client, deck, ada):
    topic, first, second = deck
    rate_card(ada, flashcard=first, rating=4, reviews_seen=0, now=days_ago(2))  # not today

    post_rating(client, first, 4, reviews=1)
    page = client.get(cards_url(topic)).content.decode()
    assert "Is REVOKED ready?" in page
    page = post_rating(client, second, 4, headers=HTMX).content.decode()

    assert "All caught up on this topic." in page
    assert "Today you rated 2 cards of this topic:" in page
    assert "Again 0 · Hard 0 · Good 0 · Easy 2." in page
    assert f'href="/topics/{topic.slug}/practice/">practice questions</a>' in page
    assert "The next card is due in 0" not in page


def test_a_visitors_again_card_comes_back_too(client, deck):
    topic, first, _ = deck
    client.get(cards_url(topic))

    post_rating(client, first, 1)
    post_rating(client, _, 4)
    page = client.get(cards_url(topic)).content.decode()

    assert "What does PENDING mean?" in page
    assert "0 new · 1 learning · 0 to review" in page


def test_the_undo_button_has_the_u_key(client, deck, ada):
    topic, first, _ = deck

    panel = post_rating(client, first, 3, headers=HTMX).content.decode()

    assert '<button type="submit" class="secondary" aria-keyshortcuts="u">Undo</button>' in panel
    assert "<kbd>U</kbd> undoes your last rating" in client.get(cards_url(topic)).content.decode()


def test_after_a_rating_the_panels_undo_takes_back_that_rating(client, deck, ada):
    topic, first, _ = deck

    panel = post_rating(client, first, 3, headers=HTMX).content.decode()

    stored = CardReviewLog.objects.get(learner=ada, flashcard=first)
    assert f'name="review" value="{stored.pk}"' in panel
    assert client.post(f"/topics/{topic.slug}/cards/undo/", {"review": stored.pk}).status_code == 302
    assert not CardReviewLog.objects.filter(pk=stored.pk).exists()
