from django import template

from learn.curriculum.render import page_html, render_markdown

register = template.Library()


@register.filter
def markdown(text: str):
    return page_html(text or "")


@register.filter
def python_block(code: str):
    """Python source shown as a highlighted block, through the one markdown renderer."""
    return render_markdown(f"```python\n{code}\n```")
