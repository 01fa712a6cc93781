"""Claims about custom states and progress with update_state (real worker, both modes)."""

import pytest
from celery.result import AsyncResult
from django.conf import settings
from kombu.exceptions import EncodeError

from config.celery import app
from tests.claims.observe import get, states_until_ready, wait_for_state, wait_until
from tests.claims.tasks import (
    custom_state_then_return,
    early_success,
    fail,
    ignored_with_progress,
    progress_via_current_task,
    progress_via_the_task_object,
    progress_with_a_set,
    progress_with_json_meta,
    report_for,
    report_progress,
    sleep_then_return,
    success_then_raise,
    tracked_then_progress,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_update_state_meta_is_visible_in_info_while_the_task_runs(celery_worker):
    sent = report_progress.delay(3, 0.3)

    during = wait_for_state(sent.id, "PROGRESS")
    assert during.info in ({"done": 1, "total": 3}, {"done": 2, "total": 3})
    assert during.result == during.info
    assert not during.ready()
    assert not during.successful()
    assert not during.failed()
    assert get(sent.id) == {"done": 3, "total": 3}


def test_after_success_info_is_the_return_value(celery_worker):
    sent = report_progress.delay(2, 0.05)

    assert states_until_ready(sent.id)[-1] == "SUCCESS"
    assert app.AsyncResult(sent.id).info == {"done": 2, "total": 2}


def test_a_custom_state_named_done_is_not_ready(celery_worker):
    sent = custom_state_then_return.delay("DONE", 0.5)

    during = wait_for_state(sent.id, "DONE")
    assert during.info == {"path": "/tmp/export.csv"}
    assert not during.ready()
    assert get(sent.id) == "/tmp/export.csv"


def test_update_state_replaces_the_started_meta(celery_worker):
    sent = tracked_then_progress.delay(0.4)

    started = wait_for_state(sent.id, "STARTED")
    assert set(started.info) == {"pid", "hostname"}
    assert wait_for_state(sent.id, "PROGRESS").info == {"done": 1}
    get(sent.id)


def test_meta_goes_through_json_tuples_become_lists_and_keys_strings(celery_worker):
    sent = progress_with_json_meta.delay(0.4)

    assert wait_for_state(sent.id, "PROGRESS").info == {"stage": ["parse", 2], "1": "first file"}
    get(sent.id)


def test_meta_json_cannot_encode_fails_the_task_with_encode_error(celery_worker):
    sent = progress_with_a_set.delay()

    assert states_until_ready(sent.id)[-1] == "FAILURE"
    assert isinstance(app.AsyncResult(sent.id).info, EncodeError)


def test_update_state_with_another_task_id_replaces_that_tasks_record(celery_worker):
    target = sleep_then_return.delay("target done", seconds=0.8)

    get(report_for.delay(target.id).id)

    during = app.AsyncResult(target.id)
    assert (during.state, during.info) == ("PROGRESS", {"stage": "child"})
    assert get(target.id) == "target done"


def test_an_ignored_task_that_reports_progress_stays_at_its_last_progress(celery_worker):
    sent = ignored_with_progress.delay(3)
    wait_until(lambda: f"[{sent.id}] succeeded" in celery_worker.log(), "the worker logging the success")

    result = app.AsyncResult(sent.id)
    assert (result.state, result.info) == ("PROGRESS", {"done": 3, "total": 3})
    assert not result.ready()


def test_an_early_success_is_final_on_redis_and_overwritten_on_django_db(celery_worker):
    sent = early_success.delay(0.4)

    assert get(sent.id) == {"partial": True}, "get() returns as soon as SUCCESS is stored"
    wait_until(lambda: f"[{sent.id}] succeeded" in celery_worker.log(), "the worker logging the success")

    final = app.AsyncResult(sent.id).info
    if settings.RUN_MODE == "redis":
        assert final == {"partial": True}
    else:
        assert final == {"rows": 3}


def test_a_stored_success_is_never_replaced_on_redis_but_a_failure_replaces_it_on_django_db(celery_worker):
    sent = success_then_raise.delay()
    wait_until(
        lambda: f"[{sent.id}] raised unexpected" in celery_worker.log(), "the worker logging the error"
    )

    result = app.AsyncResult(sent.id)
    if settings.RUN_MODE == "redis":
        assert (result.state, result.info) == ("SUCCESS", {"sent": 10})
    else:
        assert result.state == "FAILURE"
        assert isinstance(result.info, RuntimeError)


@pytest.mark.redis_only
def test_update_state_outside_a_worker_raises_value_error_on_redis():
    with pytest.raises(ValueError, match="task_id must not be empty. Got None instead."):
        report_progress(1, 0)


def test_a_later_write_replaces_a_stored_failure(celery_worker):
    failed = fail.delay("boom")
    assert states_until_ready(failed.id)[-1] == "FAILURE"

    get(report_for.delay(failed.id).id)

    result = app.AsyncResult(failed.id)
    assert (result.state, result.info) == ("PROGRESS", {"stage": "child"})


def test_update_state_through_the_task_object_or_current_task_stores_progress_for_the_running_task(
    celery_worker,
):
    ways = [(progress_via_the_task_object, "the task object"), (progress_via_current_task, "current_task")]
    for task, via in ways:
        sent = task.delay(0.5)
        during = wait_for_state(sent.id, "PROGRESS")
        assert during.info == {"via": via}
        get(sent.id)
    # The reading side has nothing to write with.
    assert not hasattr(AsyncResult, "update_state")


def test_apply_returns_success_in_memory_while_the_backend_keeps_the_progress_it_stored():
    # apply() runs the task here, in the test process; update_state still writes to the backend.
    assert not app.conf.task_store_eager_result
    eager = report_progress.apply(args=(2, 0.0))

    assert (eager.state, eager.result) == ("SUCCESS", {"done": 2, "total": 2})
    stored = app.AsyncResult(eager.id)
    assert (stored.state, stored.info) == ("PROGRESS", {"done": 2, "total": 2})
