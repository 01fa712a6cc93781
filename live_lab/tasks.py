"""The lab's Celery tasks. Each takes plain values and returns JSON-serialisable data."""

from celery import shared_task


@shared_task
def add(x: int, y: int) -> int:
    return x + y


class LabError(Exception):
    """The exception a failing lab task raises on purpose."""


@shared_task
def fail(message: str) -> None:
    raise LabError(message)
