"""The curriculum's diagrams: drawn as SVG in static/diagrams/, served by us, shown on their topics."""

import re
import xml.etree.ElementTree as ET
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

SVG = "{http://www.w3.org/2000/svg}"

DIAGRAMS = {
    # topic slug -> (static path, words the alt text must contain)
    "task-lifecycle-and-states": ("diagrams/task-lifecycle.svg", ["lifecycle", "PENDING", "RECEIVED"]),
    "result-backends": ("diagrams/where-results-live.svg", ["celery-task-meta", "rpc://"]),
}


@pytest.fixture
def synced_content(db):
    call_command("content", "sync", str(settings.CONTENT_DIR), stdout=StringIO())


def served_bytes(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.mark.parametrize("slug", sorted(DIAGRAMS))
def test_a_topic_page_shows_its_diagram_with_a_meaningful_alt_text(client, synced_content, slug):
    path, alt_words = DIAGRAMS[slug]

    page = client.get(f"/topics/{slug}/").content.decode()

    images = re.findall(r"<img [^>]*>", page)
    diagram = [tag for tag in images if f'src="/static/{path}"' in tag]
    assert len(diagram) == 1, f"no <img> with src /static/{path} among {images}"
    alt = re.search(r'alt="([^"]*)"', diagram[0]).group(1)
    for word in alt_words:
        assert word in alt
    # On a phone it scrolls sideways at a readable size in a box a keyboard can focus, and a
    # link opens it alone, where a phone can zoom.
    figures = [f for f in re.findall(r'<figure class="diagram">.*?</figure>', page, re.S) if diagram[0] in f]
    assert len(figures) == 1, "the diagram stands in a figure"
    assert 'class="diagram-scroll" tabindex="0"' in figures[0]
    assert f'<a href="/static/{path}">Open the diagram on its own</a>' in figures[0]


@pytest.mark.parametrize("path", sorted(path for path, _ in DIAGRAMS.values()))
def test_a_diagram_is_served_as_well_formed_accessible_svg(client, path):
    response = client.get(f"/static/{path}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    root = ET.fromstring(served_bytes(response))
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text.strip()
    assert len(root.find(f"{SVG}desc").text.split()) > 30, "the description tells the whole picture"
    labelled_by = root.get("aria-labelledby").split()
    assert {element.get("id") for element in root.iter() if element.get("id")} >= set(labelled_by)
    # Only a viewBox, no fixed width or height: the <img> then takes the column's width, so the
    # page does not scroll sideways on a phone.
    assert root.get("viewBox")
    assert root.get("width") is None
    assert root.get("height") is None


@pytest.mark.parametrize("path", sorted(path for path, _ in DIAGRAMS.values()))
def test_a_diagram_refers_to_nothing_outside_itself(path):
    text = (settings.BASE_DIR / "static" / path).read_text()

    assert "@import" not in text
    assert "@font-face" not in text
    assert not re.search(r"""(?:href|src)\s*=\s*["'](?!#)""", text), "no links to other files"
    assert not re.search(r"url\((?!#)", text), "url() only points inside the drawing"
