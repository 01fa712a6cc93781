"""Claims about where each backend keeps a result, in what form, and for how long (real worker)."""

import datetime as dt
import decimal
import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from celery import Celery, beat, states
from celery.app.task import Context
from celery.exceptions import ImproperlyConfigured
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import ContentDisallowed, EncodeError

from config.celery import app
from tests.claims.observe import get, states_until_ready, wait_for_state, wait_until
from tests.claims.tasks import fail, report_progress, return_a_set, return_rich_values, sleep_then_return
from tests.conftest import OUTPUT_DIR, worker_env
from tests.worker_process import CeleryWorker

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
    assert meta["worker"] in celery_worker.hostnames, "the worker that ran it"
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


# ---- backend settings: the backend the worker uses, configured otherwise, on the real services ----


def other_app(name: str, backend: str | None = None, **conf) -> Celery:
    """A Celery app on this mode's real result store (or `backend`), with its own settings."""
    other = Celery(name, set_as_current=False, backend=backend or settings.CELERY_RESULT_BACKEND)
    other.conf.update(**conf)
    return other


def a_task_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


def a_request(task_id: str) -> Context:
    """What the worker passes to the backend about the task it ran."""
    return Context(
        id=task_id,
        task="shop.tasks.import_rows",
        args=["rows.csv"],
        kwargs={},
        hostname="worker@shop",
        retries=0,
        delivery_info={"routing_key": "celery"},
    )


@pytest.mark.redis_only
def test_with_result_extended_off_redis_meta_has_no_name_or_args():
    for extended, expected in ((False, (None, None)), (True, ("shop.tasks.import_rows", ["rows.csv"]))):
        other = other_app("extended", result_extended=extended)
        task_id = a_task_id("extended")
        other.backend.store_result(task_id, 500, states.SUCCESS, request=a_request(task_id))
        result = other.AsyncResult(task_id)
        assert (result.name, result.args) == expected


@pytest.mark.redis_only
def test_with_result_expires_none_redis_keeps_the_key_without_a_ttl():
    other = other_app("no-expiry", result_expires=None)
    task_id = a_task_id("no-expiry")
    other.backend.store_result(task_id, 1, states.SUCCESS)

    assert other.backend.expires is None, "not replaced by the one-day default"
    key = other.backend.get_key_for_task(task_id)
    assert other.backend.client.ttl(key) == -1  # -1: no TTL
    other.AsyncResult(task_id).forget()
    assert not other.backend.client.exists(key)


@pytest.mark.redis_only
def test_result_failure_expires_sets_the_ttl_of_failure_writes_only_on_redis():
    other = other_app("failure-expiry", result_failure_expires=dt.timedelta(days=7))
    retried, failed = a_task_id("retried"), a_task_id("failed")
    other.backend.mark_as_retry(retried, ConnectionError("api down"))
    other.backend.mark_as_failure(failed, ConnectionError("api down"))

    def ttl(task_id):
        return other.backend.client.ttl(other.backend.get_key_for_task(task_id))

    assert 86_400 - 10 < ttl(retried) <= 86_400
    assert 7 * 86_400 - 10 < ttl(failed) <= 7 * 86_400


def test_django_db_warns_that_it_does_not_support_result_failure_expires():
    other = other_app("failure-expiry-db", backend="django-db", result_failure_expires=dt.timedelta(days=7))
    with pytest.warns(UserWarning, match="does not support result_failure_expires"):
        other.backend  # noqa: B018 - creating it is the point


def test_django_db_keeps_a_failures_traceback_only_with_result_extended():
    for extended in (False, True):
        other = other_app("traceback-db", backend="django-db", result_extended=extended)
        task_id = a_task_id("traceback")
        other.backend.mark_as_failure(
            task_id,
            KeyError("sku"),
            traceback="Traceback (most recent call last): ...",
            request=a_request(task_id),
        )
        result = other.AsyncResult(task_id)
        assert isinstance(result.info, KeyError)
        assert (result.traceback is not None) == extended


def test_a_pickled_result_is_refused_unless_result_accept_content_allows_pickle():
    writer = other_app("pickle-writer", result_serializer="pickle", accept_content=["json"])
    task_id = a_task_id("pickled")
    writer.backend.store_result(task_id, 500, states.SUCCESS)  # encoding checks nothing

    with pytest.raises(ContentDisallowed, match="pickle"):
        writer.AsyncResult(task_id).state  # noqa: B018 - reading it is the point
    allowed = other_app(
        "pickle-reader",
        result_serializer="pickle",
        accept_content=["json"],
        result_accept_content=["pickle", "json"],
    )
    assert allowed.AsyncResult(task_id).get(timeout=1) == 500


def test_the_file_backend_reads_only_its_own_directory(tmp_path):
    (tmp_path / "worker").mkdir()
    (tmp_path / "web").mkdir()
    worker_side = other_app("file-worker", backend=f"file://{tmp_path / 'worker'}")
    web_side = other_app("file-web", backend=f"file://{tmp_path / 'web'}")
    task_id = a_task_id("file")
    worker_side.backend.store_result(task_id, 1, states.SUCCESS)

    assert (tmp_path / "worker" / f"celery-task-meta-{task_id}").exists()
    assert worker_side.AsyncResult(task_id).state == "SUCCESS"
    assert web_side.AsyncResult(task_id).state == "PENDING"
    with pytest.raises(ImproperlyConfigured):
        other_app("file-missing", backend=f"file://{tmp_path / 'missing'}").backend  # noqa: B018


@pytest.mark.embedded_only
def test_the_admin_shows_task_results_read_only(client, celery_worker):
    from django.contrib.auth.models import User
    from django_celery_results.models import TaskResult

    sent = fail.delay("boom")
    states_until_ready(sent.id)
    row = TaskResult.objects.get(task_id=sent.id)
    client.force_login(User.objects.create_superuser("support", "support@example.com", "pw"))

    page = client.get(f"/admin/django_celery_results/taskresult/{row.pk}/change/").content.decode()
    assert sent.id in page
    assert "FAILURE" in page
    for field in ("status", "result", "task_id", "traceback"):
        assert f'name="{field}"' not in page, f"{field} is shown, not offered for editing"
    # Saving the page changes nothing: the fields are read-only, whatever the request says.
    client.post(f"/admin/django_celery_results/taskresult/{row.pk}/change/", {"status": "SUCCESS"})
    row.refresh_from_db()
    assert row.status == "FAILURE"


def test_the_rpc_backend_has_no_chords_or_saved_groups_sends_transient_results_and_gets_no_cleanup():
    rpc = other_app("rpc", backend="rpc://")  # built, never connected
    with pytest.raises(NotImplementedError, match="does not support chords"):
        rpc.backend.ensure_chords_allowed()
    with pytest.raises(NotImplementedError, match="save_group is not supported"):
        rpc.backend.save_group("group-id", None)
    assert (rpc.backend.persistent, rpc.backend.delivery_mode) == (False, 1)  # 1: transient
    persistent = other_app("rpc-persistent", backend="rpc://", result_persistent=True)
    assert (persistent.backend.persistent, persistent.backend.delivery_mode) == (True, 2)

    def default_beat_entries(backend):
        scheduler = beat.Scheduler(other_app("beat", backend=backend), lazy=True)
        scheduler.install_default_entries({})
        return sorted(scheduler.schedule)

    assert default_beat_entries("rpc://") == []
    assert default_beat_entries("django-db") == ["celery.backend_cleanup"]


def test_django_cache_on_the_default_locmem_cache_keeps_a_result_inside_the_process_that_stored_it():
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    task_id = a_task_id("locmem")
    # Another process stores the result, as a worker would, and reads it back itself.
    store_and_read = (
        "import django; django.setup()\n"
        "from celery import Celery, states\n"
        "worker = Celery('locmem-worker', set_as_current=False, backend='django-cache')\n"
        f"worker.backend.store_result({task_id!r}, 500, states.SUCCESS)\n"
        f"print(worker.AsyncResult({task_id!r}).state)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, "-c", store_and_read], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
    )
    assert done.stdout.strip() == "SUCCESS", done.stderr

    assert other_app("locmem-web", backend="django-cache").AsyncResult(task_id).state == "PENDING"


@pytest.mark.redis_only
def test_with_rpc_a_result_reaches_only_the_app_that_sent_the_task():
    worker = CeleryWorker(
        env=worker_env(),
        log_path=OUTPUT_DIR / "workers" / "rpc-backend-redis.log",
        queues="rpc-claims",  # only this worker, whose results go back as messages
        result_backend="rpc://",
    )
    try:
        worker.wait_until_ready()
        sender = other_app("rpc-sender", backend="rpc://", broker_url=settings.CELERY_BROKER_URL)
        sent = sender.send_task("tests.claims.tasks.sleep_then_return", args=("done",), queue="rpc-claims")
        # The app that sent the task reads the result by its id...
        wait_until(lambda: sender.AsyncResult(sent.id).state == "SUCCESS", "the sender reading SUCCESS")
        # ...another app, as in another web process, has its own reply queue, empty for this id.
        elsewhere = other_app("rpc-elsewhere", backend="rpc://", broker_url=settings.CELERY_BROKER_URL)
        assert elsewhere.AsyncResult(sent.id).state == "PENDING"
        assert sent.get(timeout=15) == "done"
    finally:
        worker.stop()
