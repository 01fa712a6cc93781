"""Tasks the claim checks in tests/claims/ fire at the test worker (loaded with --include).

Each does one small thing the content teaches about; sleeps are short and passed in by the check.
"""

import time
from pathlib import Path

from celery import current_task, shared_task
from celery.exceptions import Ignore


class ClaimError(Exception):
    """An error the checks can import in both processes, so it comes back as itself."""


class NeedsAction(Exception):
    """An exception whose __init__ takes more arguments than it passes to Exception."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def mark_started(started_path):
    """Let the check see that the function body runs (the backend may not say so)."""
    if started_path:
        Path(started_path).touch()


@shared_task
def sleep_then_return(value, seconds=0.0, started_path=None):
    mark_started(started_path)
    time.sleep(seconds)
    return value


@shared_task
def fail(message, seconds=0.0):
    time.sleep(seconds)
    raise ClaimError(message)


@shared_task(track_started=True)
def tracked_sleep(value, seconds=0.0, started_path=None):
    mark_started(started_path)
    time.sleep(seconds)
    return value


@shared_task(ignore_result=True)
def ignored_sleep(value, seconds=0.0, started_path=None):
    mark_started(started_path)
    time.sleep(seconds)
    return value


@shared_task(track_started=True, ignore_result=True)
def tracked_and_ignored(value, seconds=0.0, started_path=None):
    mark_started(started_path)
    time.sleep(seconds)
    return value


@shared_task(bind=True)
def report_progress(self, steps, seconds):
    """PROGRESS {'done': n, 'total': steps} after each step, then return the same dict."""
    for done in range(1, steps + 1):
        self.update_state(state="PROGRESS", meta={"done": done, "total": steps})
        time.sleep(seconds)
    return {"done": steps, "total": steps}


@shared_task(bind=True, ignore_result=True)
def ignored_with_progress(self, steps, seconds=0.0):
    for done in range(1, steps + 1):
        self.update_state(state="PROGRESS", meta={"done": done, "total": steps})
        time.sleep(seconds)
    return steps


@shared_task(bind=True)
def custom_state_then_return(self, state, seconds):
    self.update_state(state=state, meta={"path": "/tmp/export.csv"})
    time.sleep(seconds)
    return "/tmp/export.csv"


@shared_task(bind=True, track_started=True)
def tracked_then_progress(self, seconds):
    time.sleep(seconds)
    self.update_state(state="PROGRESS", meta={"done": 1})
    time.sleep(seconds)
    return "done"


@shared_task(bind=True)
def early_success(self, seconds):
    self.update_state(state="SUCCESS", meta={"partial": True})
    time.sleep(seconds)
    return {"rows": 3}


@shared_task(bind=True)
def success_then_raise(self):
    self.update_state(state="SUCCESS", meta={"sent": 10})
    raise RuntimeError("cleanup failed")


@shared_task(bind=True)
def progress_with_json_meta(self, seconds):
    self.update_state(state="PROGRESS", meta={"stage": ("parse", 2), 1: "first file"})
    time.sleep(seconds)
    return "done"


@shared_task(bind=True)
def progress_with_a_set(self):
    self.update_state(state="PROGRESS", meta={"seen": {"a"}})
    return "unreachable"


@shared_task(bind=True)
def report_for(self, task_id):
    """Store PROGRESS under another task's id."""
    self.update_state(task_id=task_id, state="PROGRESS", meta={"stage": "child"})
    return "reported"


@shared_task(bind=True)
def progress_then_ignore(self):
    self.update_state(state="PROGRESS", meta={"step": "parsing"})
    raise Ignore()


@shared_task(bind=True, max_retries=2)
def always_retry(self, countdown):
    raise self.retry(exc=ConnectionError("api down"), countdown=countdown)


@shared_task(bind=True, max_retries=2)
def retry_without_exc(self, countdown):
    raise self.retry(countdown=countdown)


@shared_task(bind=True)
def retry_once(self, countdown):
    if self.request.retries == 0:
        raise self.retry(exc=ConnectionError("api down"), countdown=countdown)
    return f"run {self.request.retries + 1}"


@shared_task(bind=True)
def retry_without_raise(self, ran_path, countdown):
    """Calls self.retry() without `raise` in its first run; notes every run that got past it."""
    if self.request.retries == 0:
        try:
            raise ConnectionError("api down")
        except ConnectionError as exc:
            self.retry(exc=exc, countdown=countdown)  # no `raise`: what the check is about
    with open(ran_path, "a") as ran:
        ran.write(f"past the retry line in run {self.request.retries + 1}\n")
    return "synced"


@shared_task(bind=True)
def retry_while_handling(self):
    try:
        raise ConnectionError("api down")
    except ConnectionError as exc:
        raise self.retry(exc=exc, countdown=60) from exc


@shared_task(autoretry_for=(TimeoutError,), default_retry_delay=0.2)
def keeps_timing_out(runs_path):
    """autoretry_for and nothing else, but a short default_retry_delay (Celery's is 180 s)."""
    with open(runs_path, "a") as runs:
        runs.write("run\n")
    raise TimeoutError("still timing out")


@shared_task(autoretry_for=(ConnectionError,), retry_backoff=True, retry_jitter=False, max_retries=2)
def api_down_with_backoff():
    raise ConnectionError("api down")


@shared_task(throws=(ClaimError,))
def raise_expected():
    raise ClaimError("bad email")


@shared_task(acks_late=True)
def note_pid_then_sleep(pids_path, seconds):
    note_pid(pids_path)
    time.sleep(seconds)
    return "survived"


def note_pid(pids_path) -> None:
    import os

    with open(pids_path, "a") as pids:
        pids.write(f"{os.getpid()}\n")


@shared_task(bind=True, retry_on_worker_lost=True, default_retry_delay=2)
def note_pid_then_sleep_retried_when_lost(self, pids_path, seconds):
    """Only its first run sleeps: the check kills that one, never the retry."""
    note_pid(pids_path)
    if self.request.retries == 0:
        time.sleep(seconds)
    return f"run {self.request.retries + 1}"


@shared_task(retry_on_worker_lost=True, max_retries=0, acks_late=True, reject_on_worker_lost=True)
def note_pid_then_sleep_with_no_retry_left(pids_path, seconds):
    note_pid(pids_path)
    time.sleep(seconds)
    return "survived"


@shared_task
def progress_via_the_task_object(seconds):
    progress_via_the_task_object.update_state(state="PROGRESS", meta={"via": "the task object"})
    time.sleep(seconds)


@shared_task
def progress_via_current_task(seconds):
    current_task.update_state(state="PROGRESS", meta={"via": "current_task"})
    time.sleep(seconds)


@shared_task(ignore_result=True, store_errors_even_if_ignored=True)
def ignored_storing_errors(should_fail):
    if should_fail:
        raise ClaimError("stored although ignored")
    return "not stored"


@shared_task
def raise_from_a_module_only_the_worker_loads():
    """Raise an exception whose module the reading process has not imported."""
    from tests.claims import worker_only_errors

    raise worker_only_errors.PaymentDeclined("card 4242")


@shared_task
def raise_needs_action():
    raise NeedsAction(402, "declined")


@shared_task
def raise_with_unencodable_argument():
    raise ValueError(object())


@shared_task
def raise_key_error():
    raise KeyError("sku")


@shared_task
def return_a_set():
    return {"a", "b"}


@shared_task
def return_rich_values():
    import datetime
    import decimal

    return {
        "when": datetime.datetime(2024, 5, 1, 12, 0),
        "ids": (3, 4),
        7: "seven",
        "amount": decimal.Decimal("9.50"),
    }


@shared_task
def wait_inside_a_task():
    """Call get() on another task's result from inside a task."""
    return sleep_then_return.delay(1).get(timeout=5)
