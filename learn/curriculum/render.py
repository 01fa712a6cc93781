"""Markdown → HTML for all curriculum text: the project's one place that marks HTML safe."""

import re
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


@lru_cache(maxsize=4096)
def render_markdown(text: str) -> SafeString:
    """Render `text`, highlight its code with Pygments, and strip anything unsafe with nh3."""
    text = RUNNABLE_FENCE_RE.sub(r"\1\2python", text)
    html = markdown.markdown(text, extensions=EXTENSIONS, extension_configs=EXTENSION_CONFIGS)
    return mark_safe(nh3.clean(html, attributes=ALLOWED_ATTRIBUTES))
