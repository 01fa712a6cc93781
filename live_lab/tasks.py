"""The lab's Celery tasks. Each takes plain values and returns JSON-serialisable data."""

import time

from celery import shared_task

MAX_SECONDS = 30.0


class LabError(Exception):
    """The exception a failing lab task raises on purpose."""


def pause(seconds: float) -> None:
    time.sleep(min(max(seconds, 0.0), MAX_SECONDS))


@shared_task
def add(x: int, y: int, seconds: float = 0.0) -> int:
    """Return x + y after `seconds` (at most 30): a task that succeeds."""
    pause(seconds)
    return x + y


@shared_task
def fail(message: str, seconds: float = 0.0) -> None:
    """Raise LabError(message) after `seconds` (at most 30): a task that fails."""
    pause(seconds)
    raise LabError(message)
