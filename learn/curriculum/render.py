"""Markdown → HTML for all curriculum text: the project's one place that marks HTML safe."""

import re
import threading
from functools import lru_cache

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

EXTENSIONS = ["fenced_code", "codehilite", "tables", "sane_lists"]
EXTENSION_CONFIGS = {"codehilite": {"css_class": "highlight", "guess_lang": False}}

# A stem's code block marked runnable (```python runnable) is executed by the test suite
# (tests/claims/test_runnable_stems.py); on the page it is plain, highlighted Python.
RUNNABLE_FENCE_RE = re.compile(r"^(\s*)(```|~~~)python runnable[ \t]*$", re.MULTILINE)

# nh3's defaults plus the class attributes that Pygments' highlighting needs.
ALLOWED_ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
for tag in ("span", "div", "code", "pre"):
    ALLOWED_ATTRIBUTES.setdefault(tag, set()).add("class")


# One parser for the process, reset before each text. `markdown.markdown()` builds a new one
# per call, loading every extension again: that was half the time of rendering the curriculum
# (0.83 s against 0.40 s for its 1,658 texts, each web process once; docs/PERFORMANCE.md). A
# parser is not thread-safe, hence the lock; the work is pure Python, so under the interpreter
# lock it runs one thread at a time anyway.
PARSER = markdown.Markdown(extensions=EXTENSIONS, extension_configs=EXTENSION_CONFIGS)
PARSER_LOCK = threading.Lock()


@lru_cache(maxsize=4096)
def render_markdown(text: str) -> SafeString:
    """Render `text`, highlight its code with Pygments, and strip anything unsafe with nh3."""
    text = RUNNABLE_FENCE_RE.sub(r"\1\2python", text)
    with PARSER_LOCK:
        html = PARSER.reset().convert(text)
    return mark_safe(nh3.clean(html, attributes=ALLOWED_ATTRIBUTES))
