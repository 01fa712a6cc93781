"""Tasks for the claim checks of topics 7-9 (ignore_result, canvas, Django patterns).

The test worker loads this module with --include; every task runs on the default `celery` queue.
They take plain values and sleep briefly at most, so that the checks stay fast.
"""

import os
import time

from celery import shared_task


@shared_task
def add(x: int, y: int) -> int:
    return x + y


@shared_task
def double(x: int) -> int:
    return x * 2


@shared_task
def total(values: list[int]) -> int:
    """A chord body: receives the header's return values as one list."""
    return sum(values)


@shared_task
def nap(seconds: float, value=None):
    time.sleep(seconds)
    return value


@shared_task
def boom(message: str):
    raise ValueError(message)


@shared_task(bind=True)
def note_run(self, path: str) -> str:
    """Append this task's id to `path`: proof that the task ran, whatever the backend holds."""
    return _note(self.request.id, path)


@shared_task(bind=True, ignore_result=True)
def ignored_note_run(self, path: str, seconds: float = 0) -> str:
    """Like note_run, declared with ignore_result=True, and optionally slower."""
    time.sleep(seconds)
    return _note(self.request.id, path)


def _note(task_id: str, path: str) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{task_id}\n".encode())
    finally:
        os.close(fd)
    return task_id


@shared_task(ignore_result=True)
def ignored_boom(message: str):
    raise ValueError(message)


@shared_task(ignore_result=True)
def ignored_add(x: int, y: int) -> int:
    return x + y


@shared_task
def username_exists(username: str) -> bool:
    """What the worker sees in the database: the pattern of sending a task on commit."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username=username).exists()


@shared_task
def echo(value):
    """A one-argument error callback: the worker sends it as a task, with the failed task's id."""
    return value


@shared_task
def note_failure(request, exc, traceback, path: str) -> None:
    """A (request, exc, traceback) error callback: the failing worker calls it in place."""
    _note(f"{request.id}:{type(exc).__name__}", path)
