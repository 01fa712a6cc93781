"""The catalog and topic pages, rendered from the shipped curriculum."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from learn.models import Flashcard, Topic
from learn.services import rate_card
from tests.factories import make_learner, make_topic
from tests.learn.test_content_check import GOOD_TOPIC, sync, write_topic

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


def test_the_topic_page_is_the_lesson_its_steps_and_cheat_sheet_without_the_answers(client, curriculum):
    page = client.get("/topics/task-results-in-django/").content.decode()

    steps = re.findall(r'<li class="step[^"]*">\s*<a href="([^"]+)">([^<]+)</a>', page)
    assert [label for _, label in steps] == [
        "Read the cheat sheet",
        "Flashcards",
        "Practice questions",
        "Explain in your own words",
        "The test",
        "The live lab",
    ]
    assert steps[1][0] == "/topics/task-results-in-django/cards/"
    assert steps[5][0].startswith("/lab/")
    assert steps[5][0] != "/lab/"  # an experiment of this topic, not the catalog
    assert '<div class="highlight"><pre tabindex="0">' in page
    assert '<span class="n">result</span>' in page
    assert "Answer and explanation" not in page  # no dump of every answer
    assert 'class="card question"' not in page
    assert '<details id="claims">' in page  # how we know: collapsed


def test_the_topic_page_runs_a_fixed_number_of_queries(client, curriculum, django_assert_num_queries):
    # The first page after the sync: the content version, the topic, its claims (2), the
    # misconceptions its questions test, and the path's totals of cards, questions, prompts and
    # experiments (4) less one: a visitor's stored-HTML read is warm.
    with django_assert_num_queries(8):
        client.get(SEED_TOPIC)
    # Until the next sync the process keeps all that (learn/curriculum/kept.py): the version only.
    with django_assert_num_queries(1):
        client.get(SEED_TOPIC)
    # A learner adds their 5 (cards rated, practice, explain, scores, lab runs), the session, the
    # user and the navigation's count of due cards.
    client.force_login(make_learner())
    with django_assert_num_queries(1 + 5 + 3):
        client.get(SEED_TOPIC)


def test_the_path_follows_what_the_learner_did_and_the_home_page_continues_from_there(client, curriculum):
    learner = make_learner()
    client.force_login(learner)
    home = client.get("/").content.decode()
    start = 'href="/topics/task-results-in-django/#cheat-sheet">Start: Task results and status in Django'
    assert start in home

    topic = Topic.objects.get(slug="task-results-in-django")
    cards = list(Flashcard.active.filter(topic=topic))
    for card in cards:
        rate_card(learner, flashcard=card, rating=3, reviews_seen=0)
    page = client.get(SEED_TOPIC).content.decode()
    home = client.get("/").content.decode()

    assert re.search(r'<li class="step is-done">\s*<a href="[^"]+">Read the cheat sheet', page)
    assert re.search(r'<li class="step is-done">\s*<a href="[^"]+">Flashcards</a>', page)
    assert f"{len(cards)} of {len(cards)} rated" in page
    assert re.search(r'<li class="step is-next">\s*<a href="/topics/task-results-in-django/practice/">', page)
    assert "0 of 10 answered" in page
    go_on = '/practice/">Continue: Task results and status in Django, practice questions</a>'
    assert go_on in home
    assert "2 of 6 steps done" in home


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


SECOND_CARD = """
### card: demo-second-card
level: beginner

Is REVOKED ready?

#### Back

Yes.
"""


def test_the_topic_page_and_the_home_page_count_the_cards_of_the_last_sync(client, db, tmp_path):
    # What the pages show of the course is kept per process until the next `content sync`.
    write_topic(tmp_path, GOOD_TOPIC)
    sync(tmp_path)
    learner = make_learner()
    rate_card(learner, flashcard=Flashcard.objects.get(slug="demo-card"), rating=3, reviews_seen=0)
    client.force_login(learner)
    assert "1 of 1 rated" in client.get("/topics/demo-topic/").content.decode()
    assert "2 of 6 steps done" in client.get("/").content.decode()  # read, and the cards

    write_topic(tmp_path, GOOD_TOPIC.replace("\n## Questions", SECOND_CARD + "\n## Questions"))
    assert "created 1 flashcard(s)" in sync(tmp_path)

    assert "1 of 2 rated" in client.get("/topics/demo-topic/").content.decode()
    assert "1 of 6 steps done" in client.get("/").content.decode()


def test_a_topic_the_next_sync_archives_is_gone_from_every_page(client, db, tmp_path):
    write_topic(tmp_path, GOOD_TOPIC)
    sync(tmp_path)
    client.force_login(make_learner())
    pages = ["/topics/demo-topic/", "/topics/demo-topic/cards/", "/topics/demo-topic/test/"]
    assert [client.get(page).status_code for page in pages] == [200, 200, 200]

    write_topic(tmp_path, GOOD_TOPIC.replace("id: demo-topic", "id: renamed-topic"))
    assert "archived 1 topic(s)" in sync(tmp_path)

    assert [client.get(page).status_code for page in pages] == [404, 404, 404]
    assert client.get("/topics/renamed-topic/cards/").status_code == 200
