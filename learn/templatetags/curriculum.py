from django import template

from learn.curriculum.render import render_markdown

register = template.Library()


@register.filter
def markdown(text: str):
    return render_markdown(text or "")


@register.filter
def python_block(code: str):
    """Python source shown as a highlighted block, through the one markdown renderer."""
    return render_markdown(f"```python\n{code}\n```")
