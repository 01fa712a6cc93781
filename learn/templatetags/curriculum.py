from urllib.parse import urlsplit

from django import template

from learn.curriculum.render import inline_html, page_html, render_markdown

register = template.Library()


@register.filter
def markdown(text: str):
    return page_html(text or "")


@register.filter
def markdown_inline(text: str):
    """One paragraph of markdown without its <p>: inline code in a heading or a link."""
    return inline_html(text or "")


@register.filter
def source_site(url: str) -> str:
    """The site a link leads to ("github.com"), said next to it."""
    return urlsplit(url).netloc


@register.filter
def python_block(code: str):
    """Python source shown as a highlighted block, through the one markdown renderer."""
    return render_markdown(f"```python\n{code}\n```")
