from django import template

from learn.curriculum.render import render_markdown

register = template.Library()


@register.filter
def markdown(text: str):
    return render_markdown(text or "")
