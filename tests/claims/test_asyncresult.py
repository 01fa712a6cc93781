"""Claims about what AsyncResult reports, checked with real tasks on a real worker (both modes)."""

import time

import pytest
from celery.exceptions import TaskRevokedError, TimeoutError
from django.conf import settings

from config.celery import app
from tests.claims.observe import get, states_until_ready, wait_for_state, wait_until
from tests.claims.tasks import (
    ClaimError,
    fail,
    ignored_sleep,
    sleep_then_return,
    tracked_and_ignored,
    tracked_sleep,
    wait_inside_a_task,
)
from tests.worker_process import workers_to_start

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# With several workers, a worker that does not run an untracked task stores REVOKED for it when
# the revoke arrives (tests/live_lab/test_two_workers.py): these claims are about one worker.
one_worker = pytest.mark.skipif(
    workers_to_start() > 1, reason="about one worker: with TEST_WORKER_COUNT>1 another worker stores REVOKED"
)


def started(tmp_path, name="started"):
    return str(tmp_path / name)


def running(path: str) -> bool:
    from pathlib import Path

    return Path(path).exists()


def test_an_id_that_never_existed_reports_pending(celery_worker):
    result = app.AsyncResult("no-task-ever-had-this-id")

    assert result.state == "PENDING"
    assert result.result is None
    assert not result.ready()


def test_a_running_task_reports_pending_without_track_started(celery_worker, tmp_path):
    marker = started(tmp_path)
    sent = sleep_then_return.delay("done", seconds=0.6, started_path=marker)
    wait_until(lambda: running(marker), "the task starting")

    during = app.AsyncResult(sent.id)
    assert (during.state, during.result) == ("PENDING", None)
    assert get(sent.id) == "done"


def test_a_tracked_running_task_reports_started_with_pid_and_hostname(celery_worker, tmp_path):
    marker = started(tmp_path)
    sent = tracked_sleep.delay("done", seconds=0.6, started_path=marker)
    wait_until(lambda: running(marker), "the task starting")

    during = app.AsyncResult(sent.id)
    assert during.state == "STARTED"
    assert set(during.info) == {"pid", "hostname"}
    assert during.info["hostname"] in celery_worker.hostnames, "the worker that runs it"
    assert during.date_done is None or settings.RUN_MODE == "embedded"
    assert get(sent.id) == "done"


def test_date_done_is_none_while_running_on_redis_and_the_write_time_on_django_db(celery_worker, tmp_path):
    marker = started(tmp_path)
    sent = tracked_sleep.delay("done", seconds=0.6, started_path=marker)
    wait_until(lambda: running(marker), "the task starting")

    during = app.AsyncResult(sent.id).date_done
    get(sent.id)
    after = app.AsyncResult(sent.id).date_done

    if settings.RUN_MODE == "redis":
        assert during is None
    else:
        assert during is not None
        assert during < after
    assert after is not None


def test_ready_is_true_after_failure(celery_worker):
    sent = fail.delay("boom")

    assert states_until_ready(sent.id)[-1] == "FAILURE"
    result = app.AsyncResult(sent.id)
    assert result.ready()
    assert result.failed()
    assert not result.successful()
    assert isinstance(result.info, ClaimError), "info is the exception instance, not raised"


def test_successful_is_true_only_after_success(celery_worker, tmp_path):
    marker = started(tmp_path)
    sent = sleep_then_return.delay(5, seconds=0.3, started_path=marker)
    wait_until(lambda: running(marker), "the task starting")

    assert not app.AsyncResult(sent.id).successful()
    assert get(sent.id) == 5
    result = app.AsyncResult(sent.id)
    assert (result.state, result.result) == ("SUCCESS", 5)
    assert result.ready()
    assert result.successful()
    assert not result.failed()


def test_get_reraises_the_tasks_exception_and_propagate_false_returns_it(celery_worker):
    sent = fail.delay("bad row")

    with pytest.raises(ClaimError, match="bad row"):
        get(sent.id)
    returned = get(sent.id, propagate=False)
    assert isinstance(returned, ClaimError)
    assert returned.args == ("bad row",)


def test_the_traceback_is_the_workers_formatted_traceback_string(celery_worker):
    sent = fail.delay("boom")
    states_until_ready(sent.id)

    traceback = app.AsyncResult(sent.id).traceback
    assert isinstance(traceback, str)
    assert traceback.startswith("Traceback (most recent call last):")
    assert traceback.rstrip().endswith("tests.claims.tasks.ClaimError: boom")


def test_get_with_a_timeout_raises_timeout_error_while_the_task_runs_on(celery_worker, tmp_path):
    marker = started(tmp_path)
    sent = sleep_then_return.delay("late", seconds=2.0, started_path=marker)

    began = time.monotonic()
    with pytest.raises(TimeoutError):
        get(sent.id, timeout=0.3)
    # The Redis backend checks the deadline between one-second waits for a message
    # (backends/asynchronous.py, drain_events_until), so it may raise up to ~1 s late.
    assert time.monotonic() - began < 1.9
    assert get(sent.id) == "late", "the task was not stopped by the caller's timeout"
    assert running(marker)


def test_an_ignored_result_stays_pending(celery_worker, tmp_path):
    marker = started(tmp_path)
    sent = ignored_sleep.delay("dropped", seconds=0.1, started_path=marker)
    wait_until(lambda: running(marker), "the task starting")
    time.sleep(0.5)  # well past its end

    result = app.AsyncResult(sent.id)
    assert (result.state, result.result) == ("PENDING", None)
    with pytest.raises(TimeoutError):
        get(sent.id, timeout=0.3)


def test_an_ignored_result_stays_pending_even_with_track_started(celery_worker, tmp_path):
    marker = started(tmp_path)
    sent = tracked_and_ignored.delay("dropped", seconds=0.4, started_path=marker)
    wait_until(lambda: running(marker), "the task starting")

    assert app.AsyncResult(sent.id).state == "PENDING"


def test_get_on_the_sent_result_of_an_ignored_task_returns_none_at_once(celery_worker):
    sent = ignored_sleep.delay("dropped", seconds=0.5)

    began = time.monotonic()
    assert sent.get(timeout=5) is None
    assert time.monotonic() - began < 0.4


def test_a_forgotten_result_reports_pending_again(celery_worker):
    sent = sleep_then_return.delay(7)
    assert get(sent.id) == 7

    app.AsyncResult(sent.id).forget()

    result = app.AsyncResult(sent.id)
    assert (result.state, result.result) == ("PENDING", None)


def test_a_result_that_read_a_ready_state_keeps_it_after_forget(celery_worker):
    sent = sleep_then_return.delay(7)
    get(sent.id)
    cached = app.AsyncResult(sent.id)
    assert cached.state == "SUCCESS"

    app.AsyncResult(sent.id).forget()

    assert cached.state == "SUCCESS"
    assert app.AsyncResult(sent.id).state == "PENDING"


def test_one_result_reads_the_backend_again_while_its_state_is_unready(celery_worker, tmp_path):
    marker = started(tmp_path)
    sent = tracked_sleep.delay("done", seconds=0.6, started_path=marker)
    result = app.AsyncResult(sent.id)  # the one instance a polling loop would hold

    wait_until(lambda: result.state == "STARTED", "the instance reading STARTED")
    wait_until(result.ready, "the same instance reading a ready state")

    assert (result.state, result.result) == ("SUCCESS", "done")


def test_a_task_a_worker_holds_for_its_countdown_reads_pending(celery_worker):
    sent = sleep_then_return.apply_async(("done",), countdown=3)
    inspector = app.control.inspect(celery_worker.hostnames, timeout=1.0)

    def held_by_the_worker() -> bool:
        scheduled = inspector.scheduled() or {}
        return any(entry["request"]["id"] == sent.id for entries in scheduled.values() for entry in entries)

    wait_until(held_by_the_worker, "the worker receiving the task")
    held = app.AsyncResult(sent.id)
    assert (held.state, held.result, held.exists()) == ("PENDING", None, False)
    assert get(sent.id) == "done"


def test_exists_is_true_only_once_a_state_other_than_pending_is_stored(celery_worker, tmp_path):
    assert not app.AsyncResult("no-task-ever-had-this-id").exists()
    marker = started(tmp_path)
    untracked = sleep_then_return.delay(1, seconds=0.4, started_path=marker)
    wait_until(lambda: running(marker), "the task starting")
    assert not app.AsyncResult(untracked.id).exists(), "a running untracked task has no record"
    get(untracked.id)
    assert app.AsyncResult(untracked.id).exists()

    tracked_marker = started(tmp_path, "tracked")
    tracked = tracked_sleep.delay(1, seconds=0.4, started_path=tracked_marker)
    wait_until(lambda: running(tracked_marker), "the tracked task starting")
    assert app.AsyncResult(tracked.id).exists()
    get(tracked.id)

    app.AsyncResult(untracked.id).forget()
    assert not app.AsyncResult(untracked.id).exists()


def test_get_inside_a_task_raises_runtime_error(celery_worker):
    sent = wait_inside_a_task.delay()

    with pytest.raises(RuntimeError, match="Never call result.get\\(\\) within a task"):
        get(sent.id)
    assert app.AsyncResult(sent.id).state == "FAILURE"


def test_maybe_throw_returns_for_pending_and_raises_for_failure(celery_worker):
    assert app.AsyncResult("no-task-ever-had-this-id").maybe_throw() is None
    sent = fail.delay("boom")
    states_until_ready(sent.id)

    with pytest.raises(ClaimError, match="boom"):
        app.AsyncResult(sent.id).maybe_throw()


@one_worker
def test_revoke_without_terminate_lets_a_running_task_finish(celery_worker, tmp_path):
    marker = started(tmp_path)
    sent = sleep_then_return.delay("finished", seconds=0.8, started_path=marker)
    wait_until(lambda: running(marker), "the task starting")

    assert app.AsyncResult(sent.id).revoke() is None
    assert app.AsyncResult(sent.id).state == "PENDING"

    assert states_until_ready(sent.id) == ["PENDING", "SUCCESS"]
    assert get(sent.id) == "finished"


def test_a_task_revoked_while_queued_reads_revoked_before_any_worker_takes_it(celery_worker):
    sent = sleep_then_return.apply_async(("never",), countdown=30)

    app.AsyncResult(sent.id).revoke()

    result = wait_for_state(sent.id, "REVOKED", timeout=5)
    assert result.ready()
    assert not result.successful()
    assert not result.failed()
    assert isinstance(result.info, TaskRevokedError)
    assert result.info.args == ("revoked",)


def test_get_on_a_revoked_task_raises_task_revoked_error(celery_worker):
    sent = sleep_then_return.apply_async(("never",), countdown=30)
    app.AsyncResult(sent.id).revoke()
    wait_for_state(sent.id, "REVOKED", timeout=5)

    began = time.monotonic()
    with pytest.raises(TaskRevokedError):
        get(sent.id)
    assert time.monotonic() - began < 1


def test_a_task_that_expired_before_a_worker_could_run_it_is_stored_as_revoked_expired(celery_worker):
    # The worker holds the message until its countdown; by then the expiry has passed, and the
    # worker checks it when it hands the task to the pool (worker/request.py, revoked()).
    sent = sleep_then_return.apply_async(("late",), countdown=0.5, expires=0.2)

    result = wait_for_state(sent.id, "REVOKED")
    assert isinstance(result.info, TaskRevokedError)
    assert result.info.args == ("expired",)


@pytest.mark.embedded_only
def test_then_on_a_polling_backend_runs_the_callback_only_when_that_result_reads_ready(celery_worker):
    called = []
    sent = sleep_then_return.delay("done", seconds=0.2)
    sent.then(lambda result: called.append(result.id))

    assert get(sent.id) == "done"  # another AsyncResult saw the worker's SUCCESS
    time.sleep(0.5)
    assert called == [], "nothing watches the backend for the callback"
    assert sent.ready()  # the result the callback hangs on reads a ready state...
    assert called == [sent.id]  # ...and only then its callback runs, in this process


@pytest.mark.embedded_only
def test_get_on_django_db_sleeps_interval_between_reads_and_never_past_the_timeout(celery_worker):
    sent = sleep_then_return.delay("done", seconds=0.2)
    asked = time.monotonic()
    assert app.AsyncResult(sent.id).get(timeout=10, interval=1.5) == "done"
    # The first read comes before the task ends; the next one only after a 1.5 s sleep.
    assert time.monotonic() - asked >= 1.4

    slow = sleep_then_return.delay("late", seconds=3)
    asked = time.monotonic()
    with pytest.raises(TimeoutError):
        app.AsyncResult(slow.id).get(timeout=0.5, interval=5)
    assert time.monotonic() - asked < 4, "the timeout, not the 5 s interval, ended the wait"
    assert get(slow.id) == "late"
