"""Markdown → HTML for all curriculum text: the project's one place that marks HTML safe.

`content sync` renders every curriculum text once and stores the HTML (`store_rendered_texts`,
table RenderedText, keyed by the text's SHA-256); a web process reads that table once, at its
first page, and renders only texts it does not hold (content added without a sync, as in the
tests). A class opens the same topic pages in the same minute, each web process had rendered
them all on its first pages, and those were the slowest pages of bench/classroom.py
(docs/PERFORMANCE.md).
"""

import hashlib
import html
import re
import threading
from functools import lru_cache

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify


def section_anchor(heading: str) -> str:
    """The id of a cheat-sheet heading on the page: `## `get()` waits` → `sheet-get-waits`. The
    prefix keeps headings clear of the page's own ids (`#claims`, `#flashcards`)."""
    return "sheet-" + slugify(html.unescape(heading.replace("`", "")))


EXTENSIONS = ["fenced_code", "codehilite", "tables", "sane_lists", "toc"]
EXTENSION_CONFIGS = {
    "codehilite": {"css_class": "highlight", "guess_lang": False},
    # Headings get ids, so that explain feedback can link to the section that teaches a concept.
    "toc": {"slugify": lambda value, separator: section_anchor(value)},
}

# A stem's code block marked runnable (```python runnable) is executed by the test suite
# (tests/claims/test_runnable_stems.py); on the page it is plain, highlighted Python.
RUNNABLE_FENCE_RE = re.compile(r"^(\s*)(```|~~~)python runnable[ \t]*$", re.MULTILINE)

# nh3's defaults plus the class attributes that Pygments' highlighting needs.
ALLOWED_ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
for tag in ("span", "div", "code", "pre"):
    ALLOWED_ATTRIBUTES.setdefault(tag, set()).add("class")
for tag in ("h2", "h3", "h4"):
    ALLOWED_ATTRIBUTES.setdefault(tag, set()).add("id")


# One parser for the process, reset before each text. `markdown.markdown()` builds a new one
# per call, loading every extension again: that was half the time of rendering the curriculum
# (0.83 s against 0.40 s for its 1,658 texts, each web process once; docs/PERFORMANCE.md). A
# parser is not thread-safe, hence the lock; the work is pure Python, so under the interpreter
# lock it runs one thread at a time anyway.
PARSER = markdown.Markdown(extensions=EXTENSIONS, extension_configs=EXTENSION_CONFIGS)
PARSER_LOCK = threading.Lock()


@lru_cache(maxsize=4096)
def page_html(text: str) -> SafeString:
    """`text` as a page shows it (the `markdown` template filter): the HTML `content sync`
    stored (made by render_html), or else render_html's now."""
    html = stored_html().get(digest(text))
    return render_markdown(text) if html is None else cleaned_html(html)


@lru_cache(maxsize=4096)
def render_markdown(text: str) -> SafeString:
    """Render `text`, highlight its code with Pygments, and strip anything unsafe with nh3."""
    return cleaned_html(render_html(text))


def inline_html(text: str) -> SafeString:
    """A one-paragraph text (a misconception's statement) as a page shows it, without its <p>,
    to stand in a heading or a link."""
    html = str(page_html(text)).strip()
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[len("<p>") : -len("</p>")]
    return cleaned_html(html)


def cleaned_html(html: str) -> SafeString:
    """HTML that render_html made, nh3-cleaned: the repository's one mark_safe."""
    return mark_safe(html)


def render_html(text: str) -> str:
    """`render_markdown`'s HTML, not marked safe yet (`store_rendered_texts` stores it)."""
    text = RUNNABLE_FENCE_RE.sub(r"\1\2python", text)
    with PARSER_LOCK:
        html = PARSER.reset().convert(text)
    # A code block, and a table whose names stay whole, scroll sideways on a phone: keyboard
    # users must be able to focus them to scroll them (WCAG 2.1.1, axe's
    # scrollable-region-focusable). Added after nh3, which would strip it, to the tags markdown
    # itself wrote.
    html = nh3.clean(html, attributes=ALLOWED_ATTRIBUTES)
    html = html.replace("<pre>", '<pre tabindex="0">').replace("<table>", '<table tabindex="0">')
    return DIAGRAM_RE.sub(DIAGRAM_FIGURE, html)


# A diagram alone in its paragraph becomes a figure. On a phone its text would shrink to 5 px
# in the column's width, so there it keeps a readable width in a box that scrolls sideways
# (focusable, as <pre> above), with a link to open it alone, where a phone can zoom.
DIAGRAM_RE = re.compile(r'<p>(<img [^>]*src="([^"]+\.svg)"[^>]*>)</p>')
DIAGRAM_FIGURE = (
    '<figure class="diagram"><div class="diagram-scroll" tabindex="0" role="group" '
    'aria-label="Diagram">\\1</div>'
    '<figcaption><a href="\\2">Open the diagram on its own</a> to zoom in.</figcaption></figure>'
)


# Part of every stored text's key: change it whenever render_html's output changes, so that the
# next `content sync` drops the HTML stored by the old code and renders every text again.
RENDERING = "5: pre and table tabindex, heading ids, diagram figures"


def digest(text: str) -> str:
    return hashlib.sha256(f"{RENDERING}\n{text}".encode()).hexdigest()


STORED: dict[str, str] | None = None
STORED_LOCK = threading.Lock()


def stored_html() -> dict[str, str]:
    """Every text's HTML stored by `content sync`, by digest: read once per process."""
    global STORED
    with STORED_LOCK:
        if STORED is None:
            from learn.models import RenderedText

            STORED = dict(RenderedText.objects.values_list("digest", "html"))
        return STORED


def curriculum_texts() -> set[str]:
    """Every markdown text the pages show, of active and archived items (a past test shows
    archived questions)."""
    from learn.curriculum.registry import text_fields
    from learn.models import Claim, Flashcard, Misconception, Topic

    fields = [
        (Topic, ["body"]),
        (Claim, ["statement"]),
        (Misconception, ["statement", "why_wrong"]),
        (Flashcard, ["front", "back"]),
        *text_fields(),  # the apps above's own (quizzes: questions, options, explain prompts)
    ]
    texts = set()
    for model, names in fields:
        for row in model.objects.values_list(*names):
            texts.update(text for text in row if text)
    return texts


def store_rendered_texts() -> int:
    """Render the curriculum's texts not stored yet, store them, and drop the HTML of texts no
    item has any more; how many were rendered. Rendering happens before the one short
    transaction that writes (SQLite has one writer)."""
    from django.db import transaction

    from learn.models import RenderedText

    by_digest = {digest(text): text for text in curriculum_texts()}
    stored = set(RenderedText.objects.values_list("digest", flat=True))
    new = [
        RenderedText(digest=key, html=render_html(text))
        for key, text in by_digest.items()
        if key not in stored
    ]
    with transaction.atomic():
        RenderedText.objects.exclude(digest__in=list(by_digest)).delete()
        RenderedText.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
    return len(new)
