"""The lab's Celery tasks. Each takes plain values, is bounded in time, and returns JSON data.

They run on the `lab` queue (CELERY_TASK_ROUTES) with soft and hard time limits, so that no
experiment can hold a worker for long. Their source is shown to learners as it is here.
"""

import time

from celery import shared_task

MAX_SECONDS = 30.0
LIMITS = {"soft_time_limit": 40, "time_limit": 45}


class LabError(Exception):
    """The exception a failing lab task raises on purpose."""


FAILURES = {
    "LabError": LabError,
    "ValueError": ValueError,
    "KeyError": KeyError,
    "ZeroDivisionError": ZeroDivisionError,
}


def pause(seconds: float) -> None:
    time.sleep(min(max(seconds, 0.0), MAX_SECONDS))


@shared_task(**LIMITS)
def add(x: int, y: int, seconds: float = 0.0) -> int:
    """Return x + y after `seconds` (at most 30): a task that succeeds."""
    pause(seconds)
    return x + y


@shared_task(**LIMITS)
def fail(message: str, seconds: float = 0.0, exception: str = "LabError") -> None:
    """Raise the chosen exception after `seconds` (at most 30): a task that fails."""
    pause(seconds)
    raise FAILURES.get(exception, LabError)(message)


@shared_task(track_started=False, **LIMITS)
def slow(seconds: float) -> str:
    """Sleep, without telling the result backend that it started."""
    pause(seconds)
    return f"slept {seconds} s"


@shared_task(track_started=True, **LIMITS)
def slow_tracked(seconds: float) -> str:
    """Sleep; with track_started=True the worker stores STARTED before running it."""
    pause(seconds)
    return f"slept {seconds} s"


@shared_task(bind=True, **LIMITS)
def progress(self, steps: int, step_seconds: float) -> dict:
    """Report a custom PROGRESS state with update_state after every step."""
    for current in range(1, steps + 1):
        pause(step_seconds)
        self.update_state(state="PROGRESS", meta={"current": current, "total": steps})
    return {"current": steps, "total": steps}
