"""Claims about failures and retries: what is stored, what get() raises (real worker, both modes)."""

import json
import os
import signal
import sys
import time

import pytest
from billiard.exceptions import WorkerLostError
from celery.exceptions import MaxRetriesExceededError
from celery.utils.serialization import UnpickleableExceptionWrapper
from django.conf import settings

from config.celery import app
from tests.claims.observe import get, states_until_ready, wait_for_state, wait_until
from tests.claims.tasks import (
    ClaimError,
    always_retry,
    api_down_with_backoff,
    ignored_storing_errors,
    keeps_timing_out,
    note_pid_then_sleep,
    note_pid_then_sleep_retried_when_lost,
    note_pid_then_sleep_with_no_retry_left,
    progress_then_ignore,
    raise_expected,
    raise_from_a_module_only_the_worker_loads,
    raise_key_error,
    raise_needs_action,
    raise_with_unencodable_argument,
    retry_once,
    retry_while_handling,
    retry_without_exc,
    retry_without_raise,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def stored_result_field(task_id: str):
    """The `result` part of the stored record, decoded from JSON but not rebuilt by Celery."""
    if settings.RUN_MODE == "redis":
        raw = app.backend.client.get(app.backend.get_key_for_task(task_id))
        return json.loads(raw)["result"]
    from django_celery_results.models import TaskResult

    return json.loads(TaskResult.objects.get(task_id=task_id).result)


def test_an_exception_is_stored_as_its_type_message_and_module(celery_worker):
    sent = raise_key_error.delay()
    states_until_ready(sent.id)

    assert stored_result_field(sent.id) == {
        "exc_type": "KeyError",
        "exc_message": ["sku"],
        "exc_module": "builtins",
    }
    with pytest.raises(KeyError, match="sku"):
        get(sent.id)


def test_an_exception_from_a_module_the_reader_has_not_loaded_comes_back_as_a_class_made_in_celery_exceptions(
    celery_worker,
):
    assert "tests.claims.worker_only_errors" not in sys.modules
    sent = raise_from_a_module_only_the_worker_loads.delay()

    with pytest.raises(Exception) as raised:  # noqa: PT011 - the class is made up at read time
        get(sent.id)
    error = raised.value
    assert type(error).__name__ == "PaymentDeclined"
    assert type(error).__module__ == "celery.exceptions"
    assert error.args == ("card 4242",)
    assert "tests.claims.worker_only_errors" not in sys.modules, "Celery does not import exc_module"


def test_an_exception_that_cannot_be_rebuilt_from_its_args_comes_back_as_an_unpickleable_wrapper(
    celery_worker,
):
    # The worker checks that the exception survives pickle.loads(pickle.dumps(exc)); NeedsAction
    # does not (its __init__ needs two arguments), so the worker stores a wrapper instead.
    sent = raise_needs_action.delay()

    error = get(sent.id, propagate=False)
    assert isinstance(error, UnpickleableExceptionWrapper)
    assert (error.exc_module, error.exc_cls_name, error.exc_args) == (
        "tests.claims.tasks",
        "NeedsAction",
        ("declined",),
    )
    assert str(error) == "NeedsAction('declined')"
    assert not hasattr(error, "code")
    with pytest.raises(UnpickleableExceptionWrapper):
        get(sent.id)


def test_an_exception_argument_json_cannot_encode_comes_back_as_its_repr(celery_worker):
    sent = raise_with_unencodable_argument.delay()

    error = get(sent.id, propagate=False)
    assert type(error) is ValueError
    assert error.args[0].startswith("<object object at 0x")


def test_retry_stores_retry_with_the_exception_as_info(celery_worker):
    sent = always_retry.delay(countdown=0.5)

    result = wait_for_state(sent.id, "RETRY")
    assert isinstance(result.info, ConnectionError)
    assert result.info.args == ("api down",)
    assert not result.ready()
    assert result.traceback.rstrip().endswith(
        "celery.exceptions.Retry: Retry in 0.5s: ConnectionError('api down')"
    )
    states_until_ready(sent.id)


def test_retries_exhausted_go_pending_retry_retry_failure_with_the_last_exception(celery_worker):
    sent = always_retry.delay(countdown=0.2)

    assert states_until_ready(sent.id) == ["PENDING", "RETRY", "FAILURE"]
    result = app.AsyncResult(sent.id)
    assert isinstance(result.info, ConnectionError)
    with pytest.raises(ConnectionError, match="api down"):
        get(sent.id)
    assert celery_worker.log().count(f"[{sent.id}] retry:") == 2


def test_a_retried_task_keeps_its_id_and_its_result_shows_the_last_run(celery_worker):
    sent = retry_once.delay(countdown=0.2)

    assert get(sent.id) == "run 2"
    assert app.AsyncResult(sent.id).state == "SUCCESS"


def test_retry_without_exc_stores_none_then_max_retries_exceeded(celery_worker):
    sent = retry_without_exc.delay(countdown=0.3)

    assert wait_for_state(sent.id, "RETRY").info is None
    states_until_ready(sent.id)
    result = app.AsyncResult(sent.id)
    assert result.state == "FAILURE"
    assert isinstance(result.info, MaxRetriesExceededError)


def test_ignore_after_progress_leaves_the_progress_state_stored(celery_worker):
    sent = progress_then_ignore.delay()
    wait_until(
        lambda: f"[{sent.id}] ignored" in celery_worker.log(), "the worker logging the task as ignored"
    )

    result = app.AsyncResult(sent.id)
    assert (result.state, result.info) == ("PROGRESS", {"step": "parsing"})


def test_store_errors_even_if_ignored_stores_failures_but_not_successes(celery_worker):
    succeeded = ignored_storing_errors.delay(False)
    failed = ignored_storing_errors.delay(True)

    result = wait_for_state(failed.id, "FAILURE")
    assert isinstance(result.info, ClaimError)
    assert app.AsyncResult(succeeded.id).state == "PENDING"


def test_retry_without_raise_still_ends_the_run_at_that_line(celery_worker, tmp_path):
    ran = tmp_path / "ran"
    sent = retry_without_raise.delay(str(ran), countdown=0.2)

    assert get(sent.id) == "synced"
    assert ran.read_text().splitlines() == ["past the retry line in run 2"]


def test_retry_in_a_direct_call_reraises_the_exception_being_handled():
    # No worker: the task function called like a plain function, as a unit test would.
    with pytest.raises(ConnectionError, match="api down"):
        retry_while_handling()


def test_retry_defaults_are_three_retries_three_minutes_apart():
    assert app.Task.max_retries == 3
    assert app.Task.default_retry_delay == 180


def test_autoretry_for_alone_retries_max_retries_times_then_stores_the_exception(celery_worker, tmp_path):
    runs = tmp_path / "runs"
    sent = keeps_timing_out.delay(str(runs))

    # An idle worker can run the task and store its first RETRY before the test's first read
    # (it did so in a CI run with two workers): PENDING is only what a read before that says.
    assert states_until_ready(sent.id) in (["PENDING", "RETRY", "FAILURE"], ["RETRY", "FAILURE"])
    assert len(runs.read_text().splitlines()) == 4, "the first run and 3 retries"
    retries = [line for line in celery_worker.log().splitlines() if f"[{sent.id}] retry:" in line]
    assert len(retries) == 3
    assert all("Retry in 0.2s" in line for line in retries), "default_retry_delay is the countdown"
    result = app.AsyncResult(sent.id)
    assert isinstance(result.info, TimeoutError)
    assert not isinstance(result.info, MaxRetriesExceededError)


def test_retry_backoff_waits_one_then_two_seconds_and_fails_with_the_tasks_exception(celery_worker):
    sent = api_down_with_backoff.delay()

    states_until_ready(sent.id)
    result = app.AsyncResult(sent.id)
    assert result.state == "FAILURE"
    assert isinstance(result.info, ConnectionError)
    retries = [line for line in celery_worker.log().splitlines() if f"[{sent.id}] retry:" in line]
    assert [line.split("retry: ")[1].split(":")[0] for line in retries] == ["Retry in 1s", "Retry in 2s"]


def test_an_exception_listed_in_throws_is_stored_as_failure_and_logged_at_info(celery_worker):
    sent = raise_expected.delay()

    with pytest.raises(ClaimError, match="bad email"):
        get(sent.id)
    assert app.AsyncResult(sent.id).state == "FAILURE"

    # The worker stores FAILURE first and logs it after (TraceInfo.handle_failure,
    # celery/app/trace.py), so the line may come a moment after get() has raised.
    def logged():
        return [line for line in celery_worker.log().splitlines() if sent.id in line]

    def expected(line):
        return "INFO" in line and "raised expected: ClaimError('bad email')" in line

    wait_until(lambda: any(expected(line) for line in logged()), "the worker's INFO line for the task")
    assert not any("ERROR" in line for line in logged())


def pid_noted_in(path) -> int:
    """The pool process's pid, once the task has written its whole line (the file exists, empty,
    for a moment before)."""

    def noted() -> bool:
        return path.exists() and path.read_text().endswith("\n")

    wait_until(noted, f"the task noting its pid in {path.name}")
    return int(path.read_text().splitlines()[0])


def test_a_killed_pool_process_stores_worker_lost_error_and_the_task_does_not_run_again(
    celery_worker, tmp_path
):
    pids = tmp_path / "pids"
    sent = note_pid_then_sleep.delay(str(pids), seconds=5)
    os.kill(pid_noted_in(pids), signal.SIGKILL)  # as the OOM killer would

    result = wait_for_state(sent.id, "FAILURE")
    assert isinstance(result.info, WorkerLostError)
    assert "Worker exited prematurely" in str(result.info)
    time.sleep(1.0)  # a redelivered message would have started again by now
    assert len(pids.read_text().splitlines()) == 1


def test_retry_on_worker_lost_stores_retry_then_runs_the_task_again_until_max_retries_is_used_up(
    celery_worker, tmp_path
):
    """Two tasks at once, on the worker's two pool processes, so that the worker's wait for its
    dead processes (worker_lost_wait, 10 s) is paid once."""
    retried, exhausted = tmp_path / "retried", tmp_path / "exhausted"
    retrying = note_pid_then_sleep_retried_when_lost.delay(str(retried), seconds=5)
    failing = note_pid_then_sleep_with_no_retry_left.delay(str(exhausted), seconds=5)
    for pids in (retried, exhausted):
        os.kill(pid_noted_in(pids), signal.SIGKILL)  # as the OOM killer would

    # default_retry_delay=2: the retry is sent at once and runs 2 s later, from the start.
    # Each loss is seen worker_lost_wait (10 s) after the kill: give it room on a loaded machine.
    assert isinstance(wait_for_state(retrying.id, "RETRY", timeout=30).info, WorkerLostError)
    assert get(retrying.id, timeout=10) == "run 2"
    first, second = retried.read_text().splitlines()
    assert first != second  # in the new pool process

    # max_retries=0: no retry left, so FAILURE, and reject_on_worker_lost does not requeue it.
    assert isinstance(wait_for_state(failing.id, "FAILURE", timeout=30).info, WorkerLostError)
    time.sleep(1.0)  # a requeued message would have started again by now
    assert len(exhausted.read_text().splitlines()) == 1
