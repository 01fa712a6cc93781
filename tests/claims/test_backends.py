"""Claims about where each backend keeps a result, in what form, and for how long (real worker)."""

import datetime as dt
import decimal
import json
import time

import pytest
from django.utils import timezone
from kombu.exceptions import EncodeError

from config.celery import app
from tests.claims.observe import get, states_until_ready, wait_for_state
from tests.claims.tasks import report_progress, return_a_set, return_rich_values, sleep_then_return

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_results_expire_after_one_day_by_default():
    assert app.conf.result_expires == dt.timedelta(days=1)


@pytest.mark.redis_only
def test_redis_keeps_the_meta_as_json_under_celery_task_meta_id_with_a_ttl_set_again_on_every_write(
    celery_worker,
):
    sent = report_progress.delay(1, 0.5)
    key = f"celery-task-meta-{sent.id}"
    wait_for_state(sent.id, "PROGRESS")
    # Read the TTL a while after the PROGRESS write (the task sleeps 0.5 s before SUCCESS):
    # read at once, both readings could be a millisecond after their write and equal.
    time.sleep(0.25)
    ttl_during = app.backend.client.pttl(key)
    get(sent.id)

    meta = json.loads(app.backend.client.get(key))
    assert meta["status"] == "SUCCESS"
    assert meta["result"] == {"done": 1, "total": 1}
    assert meta["task_id"] == sent.id
    ttl_after = app.backend.client.pttl(key)
    assert 86_390_000 < ttl_after <= 86_400_000
    assert ttl_after > ttl_during, "the SUCCESS write set the TTL again"


@pytest.mark.redis_only
def test_with_result_extended_redis_meta_also_holds_name_args_kwargs_worker_retries_and_queue(celery_worker):
    assert app.conf.result_extended, "this project turns result_extended on"
    sent = sleep_then_return.delay("x", seconds=0.0)
    get(sent.id)

    meta = json.loads(app.backend.client.get(f"celery-task-meta-{sent.id}"))
    assert meta["name"] == "tests.claims.tasks.sleep_then_return"
    assert meta["args"] == ["x"]
    assert meta["kwargs"] == {"seconds": 0.0}
    assert meta["worker"] == celery_worker.hostname
    assert meta["retries"] == 0
    assert meta["queue"] == "celery"


@pytest.mark.embedded_only
def test_django_db_keeps_one_task_result_row_with_status_json_result_and_date_done(celery_worker):
    from django_celery_results.models import TaskResult

    sent = sleep_then_return.delay("ok")
    get(sent.id)

    row = TaskResult.objects.get(task_id=sent.id)
    assert row.status == "SUCCESS"
    assert row.result == '"ok"'
    assert row.date_done is not None
    assert row.content_type == "application/json"


@pytest.mark.embedded_only
def test_django_db_rows_stay_past_result_expires_until_backend_cleanup_runs(celery_worker):
    from django_celery_results.models import TaskResult

    sent = sleep_then_return.delay("old")
    get(sent.id)
    TaskResult.objects.filter(task_id=sent.id).update(date_done=timezone.now() - dt.timedelta(days=2))

    assert app.AsyncResult(sent.id).state == "SUCCESS", "reading does not expire a row"
    get(app.send_task("celery.backend_cleanup").id)

    assert not TaskResult.objects.filter(task_id=sent.id).exists()
    assert app.AsyncResult(sent.id).state == "PENDING"


def test_a_return_value_json_cannot_encode_stores_failure_with_encode_error(celery_worker):
    sent = return_a_set.delay()

    assert states_until_ready(sent.id)[-1] == "FAILURE"
    assert isinstance(app.AsyncResult(sent.id).info, EncodeError)


def test_json_results_keep_datetimes_and_decimals_but_turn_tuples_into_lists_and_keys_into_strings(
    celery_worker,
):
    value = get(return_rich_values.delay().id)

    assert value["when"] == dt.datetime(2024, 5, 1, 12, 0)
    assert value["amount"] == decimal.Decimal("9.50")
    assert value["ids"] == [3, 4]
    assert value["7"] == "seven"
    assert 7 not in value
