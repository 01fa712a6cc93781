"""The catalog and topic pages, rendered from the shipped curriculum."""

from io import StringIO

import pytest
from django.core.management import call_command

from tests.factories import make_topic

SEED_TOPIC = "/topics/task-results-in-django/"


@pytest.fixture
def curriculum(db):
    call_command("content", "sync", stdout=StringIO())


def test_the_home_page_lists_the_topics_with_their_minutes(client, curriculum):
    page = client.get("/").content.decode()

    assert 'href="/topics/task-results-in-django/"' in page
    assert "Task results and status in Django" in page
    assert "~10 min" in page


def test_the_seed_topic_shows_the_corrected_cheat_sheet(client, curriculum):
    response = client.get(SEED_TOPIC)

    page = response.content.decode()
    assert response.status_code == 200
    assert (
        "<code>ready()</code> is <code>True</code> for SUCCESS, FAILURE <strong>and</strong> REVOKED" in page
    )
    assert "comes from the worker when tracking is on, not from <code>update_state</code>" in page
    assert "<code>.result</code> is the meta of the <em>current</em> state" in page


def test_the_topic_page_lists_its_flashcards_and_questions_with_highlighted_code(client, curriculum):
    page = client.get(SEED_TOPIC).content.decode()

    assert page.count('class="card flashcard"') >= 5
    assert page.count('class="card question"') >= 10
    assert '<div class="highlight"><pre tabindex="0">' in page
    assert '<span class="n">result</span>' in page


def test_the_topic_page_runs_a_fixed_number_of_queries(client, curriculum, django_assert_num_queries):
    with django_assert_num_queries(8):  # the 8th: the misconceptions its questions test
        client.get(SEED_TOPIC)


def test_an_unknown_topic_gets_404(client, curriculum):
    assert client.get("/topics/no-such-topic/").status_code == 404


def test_an_archived_topic_gets_404(client, db):
    from django.utils import timezone

    topic = make_topic(archived_at=timezone.now())

    assert client.get(f"/topics/{topic.slug}/").status_code == 404


def test_html_in_content_is_sanitised(client, db):
    topic = make_topic(body="Hi <script>alert(1)</script> <a href='javascript:alert(1)'>x</a>")

    page = client.get(f"/topics/{topic.slug}/").content.decode()

    assert "<script>alert(1)" not in page
    assert "javascript:" not in page


def test_the_pages_load_htmx_from_our_own_static_files(client, curriculum):
    page = client.get("/").content.decode()

    assert '<script src="/static/django_htmx/htmx-2.min.js" defer>' in page
    assert "https://" not in page
    script = client.get("/static/django_htmx/htmx-2.min.js")
    assert script.status_code == 200
    assert b"htmx" in b"".join(script.streaming_content)
