"""Watching a task from the outside, the way a view would: fresh `app.AsyncResult(id)` reads."""

import time

from celery.states import READY_STATES
from django.conf import settings

from config.celery import app

# Generous limits: a check waits for the worker, it never times it.
TIMEOUT = 15.0


def states_until_ready(task_id: str, timeout: float = TIMEOUT) -> list[str]:
    """Every distinct state a fresh AsyncResult reports, in order, until the task is ready."""
    states = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = app.AsyncResult(task_id).state
        if not states or states[-1] != state:
            states.append(state)
        if state in READY_STATES:
            return states
        time.sleep(0.01)
    raise AssertionError(f"task {task_id} was not ready after {timeout} s; saw {states}")


def wait_for_state(task_id: str, state: str, timeout: float = TIMEOUT):
    """A fresh AsyncResult as soon as it reads `state`."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        result = app.AsyncResult(task_id)
        seen = result.state
        if seen == state:
            return result
        time.sleep(0.01)
    raise AssertionError(f"task {task_id} never read {state} in {timeout} s; last read {seen}")


def wait_until(predicate, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"{what} did not happen in {timeout} s")


def get(task_id: str, **kwargs):
    """AsyncResult.get() polling every RESULT_POLL_INTERVAL (django-db would poll every 0.5 s)."""
    kwargs.setdefault("timeout", TIMEOUT)
    return app.AsyncResult(task_id).get(interval=settings.RESULT_POLL_INTERVAL, **kwargs)
