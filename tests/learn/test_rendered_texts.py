"""`content sync` stores the HTML of every curriculum text, and pages show it; a text no sync
has seen is rendered when shown."""

from io import StringIO

import pytest
from django.core.management import call_command

from learn.curriculum.render import curriculum_texts, digest, render_html
from learn.models import RenderedText, Topic
from tests.factories import make_topic


@pytest.mark.django_db
def test_content_sync_stores_every_text_of_the_curriculum_as_the_renderer_renders_it():
    call_command("content", "sync", stdout=StringIO())

    texts = curriculum_texts()
    stored = dict(RenderedText.objects.values_list("digest", "html"))
    assert len(texts) > 500
    assert set(stored) == {digest(text) for text in texts}
    topic = Topic.objects.get(slug="task-results-in-django")
    html = stored[digest(topic.body)]
    assert html == render_html(topic.body)
    # Markdown made into HTML, not the source stored as it is.
    assert "## " in topic.body
    assert "## " not in html
    assert "<h2" in html


@pytest.mark.django_db
def test_a_second_sync_renders_nothing_again_and_drops_the_html_of_texts_gone():
    call_command("content", "sync", stdout=StringIO())
    RenderedText.objects.create(digest=digest("a text no item has"), html="<p>gone</p>")
    kept = set(RenderedText.objects.exclude(html="<p>gone</p>").values_list("pk", flat=True))

    call_command("content", "sync", stdout=StringIO())

    assert set(RenderedText.objects.values_list("pk", flat=True)) == kept


@pytest.mark.django_db
def test_a_cheat_sheet_no_sync_has_seen_is_rendered_on_its_page(client):
    make_topic(slug="fresh", title="Fresh", body="A **bold** claim about `AsyncResult`.")

    page = client.get("/topics/fresh/").content.decode()

    assert "A <strong>bold</strong> claim about <code>AsyncResult</code>." in page


def test_a_table_in_a_text_can_be_focused_to_scroll_it_by_keyboard():
    # Its names stay whole, so on a phone a wide table scrolls sideways inside the page.
    html = render_html("| backend | removed by |\n|---|---|\n| `db+...` | `celery.backend_cleanup` |\n")
    assert '<table tabindex="0">' in html
