"""Certainty-based marking on the page: the certainty radios and the scheme's table."""

from django import template

from quizzes.certainty import SCHEME

register = template.Library()


@register.inclusion_tag("quizzes/certainty/fieldset.html")
def certainty_fieldset(prefix: str, number="", *, chosen_certainty: str = "", form=None) -> dict:
    """Three radios named `certainty`, ids starting with `prefix` and `number` (q3-certainty-low);
    `form` shows its certainty errors."""
    return {
        "prefix": f"{prefix}{number}",
        "chosen_certainty": chosen_certainty,
        "form": form,
        "certainty_levels": SCHEME,
    }


@register.inclusion_tag("quizzes/certainty/scheme.html")
def certainty_scheme() -> dict:
    return {"certainty_levels": SCHEME}
