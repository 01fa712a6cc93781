"""The lab's Celery tasks. Each takes plain values, is bounded in time, and returns JSON data.

They run on the `lab` queue (CELERY_TASK_ROUTES) with soft and hard time limits, so that no
experiment can hold a worker for long. Their source is shown to learners as it is here.
"""

import time

from celery import shared_task

from live_lab.models import ChallengeEffect, LabEvent

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


class FlakyError(Exception):
    """What a flaky lab task raises on each attempt that fails."""


@shared_task(bind=True, **LIMITS)
def flaky(self, failures: int, max_retries: int, countdown: float) -> str:
    """Fail the first `failures` attempts and retry each after `countdown` seconds.

    self.retry() stores RETRY (with the exception as .info) and sends a new message; once
    max_retries retries are used up it raises the exception instead: FAILURE.
    """
    attempt = self.request.retries
    if attempt < failures:
        error = FlakyError(f"attempt {attempt} failed")
        raise self.retry(exc=error, countdown=countdown, max_retries=max_retries)
    return f"succeeded on attempt {attempt}"


@shared_task(ignore_result=True, **LIMITS)
def add_ignored(x: int, y: int) -> int:
    """Return x + y, but ignore_result=True: the worker stores nothing."""
    return x + y


@shared_task(bind=True, **LIMITS)
def early_success(self, seconds: float) -> str:
    """Store SUCCESS by hand first, keep working, then return something else."""
    self.update_state(state="SUCCESS", meta={"early": "stored by update_state"})
    pause(seconds)
    return "returned at the end"


@shared_task(**LIMITS)
def total(numbers: list[int]) -> int:
    """The chord callback: the sum of its header's results."""
    return sum(numbers)


@shared_task(**LIMITS)
def report_failure(task_id: str) -> str:
    """An error callback (link_error) that takes one argument: the worker sends it as a task of
    its own, with the failed task's id, once that task has failed."""
    return f"task {task_id} failed"


@shared_task(bind=True, **LIMITS)
def apply_effect(
    self,
    attempt_id: int,
    index: int,
    idempotent: bool,
    before: float,
    after: float,
    again: float | None = None,
) -> int:
    """A challenge's task: work `before` seconds, apply its effect (one row, as a payment or an
    e-mail would be), work `after` seconds more, return its index.

    An idempotent one applies its effect under a unique key: a second run of the same task
    finds it applied and adds nothing (the database's constraint decides, not a check first).

    `again`: how long each phase lasts when this task id runs again (redelivered or retried after
    a kill). A challenge's script gives the phase it kills in a long first run, so its kill always
    lands inside it however loaded the machine is, and the second run does not wait that long.
    """
    if again is not None and runs_of(self.request.id) > 1:
        before = after = again
    pause(before)
    if idempotent:
        ChallengeEffect.objects.get_or_create(
            idempotency_key=f"{attempt_id}:{index}", defaults={"attempt_id": attempt_id, "index": index}
        )
    else:
        ChallengeEffect.objects.create(attempt_id=attempt_id, index=index)
    pause(after)
    return index


def runs_of(task_id: str) -> int:
    """How many times this task id has started: its lane-2 `started` rows, written in place as
    each run starts (live_lab/worker_signals.py), this run's included."""
    return LabEvent.objects.filter(task_id=task_id, kind=LabEvent.Kind.STARTED).count()


@shared_task(**LIMITS)
def long_job(seconds: float) -> str:
    """Sleep, as a long job would. No options of its own: on a sandbox worker, the settings
    the learner chose for it (acks_late, track_started, ...) decide how it is handled."""
    pause(seconds)
    return f"slept {seconds} s"
