"""Durations as people say them: "12 min 5 s", "1 h 3 min", "40 s"."""

from datetime import timedelta

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """Hours and minutes past an hour, minutes and seconds below it; "" for None."""
    if value is None:
        return ""
    seconds = max(0, int(value.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


@register.filter
def elapsed(start) -> str:
    """How long ago `start` was, to the minute: "less than a minute", "7 min", "1 h 3 min"."""
    hours, minutes = divmod(int((timezone.now() - start).total_seconds() // 60), 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else "less than a minute"
