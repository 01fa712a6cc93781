"""The misconception pages: what a learner reads about a wrong belief, and where it is tested."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from learn.models import Claim, Misconception
from tests.factories import make_question, make_topic
from tests.quizzes.factories import make_prompt, make_wrong_claim


@pytest.fixture
def curriculum(db):
    call_command("content", "sync", stdout=StringIO())


def make_misconception(**fields) -> Misconception:
    claim, _ = Claim.objects.get_or_create(
        slug="ready-is-true-after-failure",
        defaults={
            "statement": "After a task raised, `ready()` is true.",
            "check_path": "tests/claims/test_asyncresult.py::test_ready_is_true_after_failure",
            "modes": "both",
            "source_path": "content/claims/asyncresult.md",
        },
    )
    defaults = {
        "slug": "ready-means-success",
        "statement": "`ready()` is true only when the task succeeded.",
        "why_wrong": "FAILURE and REVOKED are **ready** states too.",
        "refuted_by": claim,
        "source_url": "https://github.com/celery/celery/issues/7713",
        "lab_slug": "failure",
        "source_path": "content/misconceptions/ready-means-success.md",
    }
    return Misconception.objects.create(**{**defaults, **fields})


def tag(question, misconception):
    """Name `misconception` on the question's wrong option (B)."""
    question.options.filter(key="B").update(misconception=misconception)


@pytest.mark.django_db
def test_the_page_states_the_belief_refutes_it_and_links_the_lab_the_source_and_its_questions(client):
    misconception = make_misconception()
    topic = make_topic(title="AsyncResult in depth", slug="asyncresult")
    question = make_question(topic, slug="q-ready", difficulty="medium")
    tag(question, misconception)

    response = client.get("/misconceptions/ready-means-success/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "<h1><code>ready()</code> is true only when the task succeeded.</h1>" in page
    assert "FAILURE and REVOKED are <strong>ready</strong> states too." in page
    assert "After a task raised, <code>ready()</code> is true." in page
    assert "<code>tests/claims/test_asyncresult.py::test_ready_is_true_after_failure</code>" in page
    assert 'href="/lab/failure/"' in page
    assert 'href="https://github.com/celery/celery/issues/7713"' in page
    assert "(github.com)" in page
    assert 'href="/topics/asyncresult/#question-q-ready"' in page
    assert 'AsyncResult in depth</a> <span class="badge badge-medium">Medium</span>' in page


@pytest.mark.django_db
def test_an_archived_question_or_option_does_not_count_as_testing_it(client):
    misconception = make_misconception()
    archived_question = make_question(make_topic(), archived_at=timezone.now())
    tag(archived_question, misconception)
    question = make_question(make_topic())
    tag(question, misconception)
    question.options.filter(key="B").update(archived_at=timezone.now())

    page = client.get(misconception.get_absolute_url()).content.decode()

    assert "Questions that test it" not in page


@pytest.mark.django_db
def test_an_unknown_or_archived_misconception_gets_404(client):
    make_misconception(archived_at=timezone.now())

    assert client.get("/misconceptions/ready-means-success/").status_code == 404
    assert client.get("/misconceptions/no-such-belief/").status_code == 404


@pytest.mark.django_db
def test_the_list_groups_misconceptions_under_the_first_topic_that_tests_them(
    client, django_assert_num_queries
):
    misconception = make_misconception()
    untested = make_misconception(slug="pending-means-queued", statement="PENDING means queued.")
    first, later = make_topic(title="First topic", order=1), make_topic(title="Later topic", order=2)
    tag(make_question(later), misconception)
    tag(make_question(first), misconception)

    with django_assert_num_queries(2):
        page = client.get("/misconceptions/").content.decode()

    assert page.count(misconception.get_absolute_url()) == 1
    assert page.index("First topic") < page.index(misconception.get_absolute_url())
    assert "Later topic" not in page
    assert page.index("Not tested by a question yet") < page.index(untested.get_absolute_url())


def test_every_shipped_misconception_has_a_page_and_the_catalog_links_the_list(client, curriculum):
    catalog = client.get("/").content.decode()
    assert 'href="/misconceptions/"' in catalog

    listing = client.get("/misconceptions/").content.decode()
    for misconception in Misconception.active.all():
        assert misconception.get_absolute_url() in listing
    page = client.get("/misconceptions/pending-means-queued/")
    assert page.status_code == 200
    assert "https://github.com/celery/celery/issues/4450" in page.content.decode()


@pytest.mark.django_db
def test_a_topic_page_links_the_misconceptions_its_questions_test(client):
    misconception = make_misconception()
    make_misconception(slug="pending-means-queued", statement="PENDING means queued.")
    topic = make_topic(slug="asyncresult")
    tag(make_question(topic), misconception)

    page = client.get("/topics/asyncresult/").content.decode()

    assert "1 misconception this topic's questions test" in page
    assert f'<a href="{misconception.get_absolute_url()}"><code>ready()</code> is true' in page
    assert "/misconceptions/pending-means-queued/" not in page


@pytest.mark.django_db
def test_the_page_links_the_explain_prompts_that_watch_for_it_and_not_archived_ones(client):
    misconception = make_misconception()
    prompt = make_prompt(make_topic(title="Result backends", slug="backends"), slug="explain-backends")
    make_wrong_claim(prompt, misconception=misconception)
    archived = make_prompt(make_topic(), archived_at=timezone.now())
    make_wrong_claim(archived, misconception=misconception)

    page = client.get(misconception.get_absolute_url()).content.decode()

    assert "Explain prompts that watch for it" in page
    assert page.count('href="/topics/backends/#explain-explain-backends"') == 1
    assert archived.slug not in page
