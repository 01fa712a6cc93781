"""Checks of the claims in content/claims/canvas-ignore-django.md (topics 7, 8 and 9) and
content/claims/broker.md (what the broker holds, expired results, canvas failures, error callbacks).

Every check that fires a task does so at the real worker of the mode under test (the
`celery_worker` fixture); the tasks are in tests/claims/canvas_tasks.py. A claim that holds for
one backend only is checked in that mode only (`embedded_only` / `redis_only`).
"""

import json
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery, chain, chord, group
from celery.exceptions import ChordError
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import AsyncResult, GroupResult
from celery.states import READY_STATES
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from config.celery import app
from live_lab.broker_lane import remove_message
from tests.claims import canvas_tasks as tasks
from tests.claims.observe import wait_until
from tests.conftest import OUTPUT_DIR, worker_env
from tests.worker_process import CeleryWorker


def wait_until_ready(task_id: str, timeout: float = 15.0) -> AsyncResult:
    """Poll a fresh AsyncResult until its state is ready; fail the test if it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = app.AsyncResult(task_id)
        if result.state in READY_STATES:
            return result
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} was not ready after {timeout} s")


def wait_for_lines(path: Path, count: int, timeout: float = 15.0) -> list[str]:
    """The task ids a note_run task appended to `path`, once there are `count` of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().split()
            if len(lines) >= count:
                return lines
        time.sleep(0.05)
    raise AssertionError(f"{path} did not get {count} line(s) in {timeout} s")


def settle() -> None:
    """Give the worker time to store whatever it would store after a task's body has run."""
    time.sleep(0.5)


# --- Topic 7: not storing results -------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_task_with_ignore_result_runs_but_its_id_reads_pending(celery_worker, tmp_path):
    note = tmp_path / "ran.txt"

    sent = tasks.ignored_note_run.delay(str(note))

    assert wait_for_lines(note, 1) == [sent.id], "the task itself ran"
    settle()
    looked_up = app.AsyncResult(sent.id)
    assert looked_up.state == "PENDING"
    assert looked_up.result is None
    assert looked_up.ready() is False
    assert looked_up.exists() is False, "nothing at all was stored for the id"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_result_looked_up_by_id_forgets_that_the_task_ignores_its_result(celery_worker, tmp_path):
    note = tmp_path / "ran.txt"
    sent = tasks.ignored_note_run.delay(str(note))
    wait_for_lines(note, 1)
    settle()

    looked_up = app.AsyncResult(sent.id)

    assert looked_up.ignored is False
    with pytest.raises(CeleryTimeoutError):
        looked_up.get(timeout=1)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_ignore_result_given_to_apply_async_overrides_the_tasks_own_setting(celery_worker, tmp_path):
    note = tmp_path / "ran.txt"

    ignored_this_time = tasks.note_run.apply_async((str(note),), ignore_result=True)
    kept_this_time = tasks.ignored_note_run.apply_async((str(note),), ignore_result=False)

    assert sorted(wait_for_lines(note, 2)) == sorted([ignored_this_time.id, kept_this_time.id])
    assert wait_until_ready(kept_this_time.id).result == kept_this_time.id
    settle()
    assert app.AsyncResult(ignored_this_time.id).state == "PENDING"


def test_task_ignore_result_is_the_default_for_tasks_that_do_not_set_ignore_result():
    # Only the app's configuration is read here: nothing is sent, so no broker is involved.
    configured = Celery("ignore-by-default", set_as_current=False)
    configured.conf.task_ignore_result = True

    @configured.task(shared=False)
    def plain():
        return 1

    @configured.task(shared=False, ignore_result=False)
    def keeps_results():
        return 1

    assert plain.ignore_result is True
    assert keeps_results.ignore_result is False


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_ignored_task_that_raises_stores_no_failure(celery_worker):
    sent = tasks.ignored_boom.delay("not stored")
    marker = tasks.add.delay(1, 1)  # sent after it; once it is done, give the first time to finish
    wait_until_ready(marker.id)
    settle()

    assert app.AsyncResult(sent.id).state == "PENDING"
    assert app.AsyncResult(sent.id).exists() is False


@pytest.mark.worker
@pytest.mark.embedded_only
@pytest.mark.django_db(transaction=True)
def test_result_extended_fills_taskresult_columns_but_asyncresult_name_is_none_with_django_db(celery_worker):
    from django_celery_results.models import TaskResult

    sent = tasks.add.apply_async((2, 3))
    result = wait_until_ready(sent.id)
    row = TaskResult.objects.get(task_id=sent.id)

    assert row.task_name == "tests.claims.canvas_tasks.add"
    assert row.task_args == '"(2, 3)"', "the repr of the args, stored as JSON text"
    assert row.worker in celery_worker.hostnames, "the worker that ran it"
    assert result.name is None, "the meta says task_name, AsyncResult.name reads name"
    assert result.args == "(2, 3)"
    assert result.queue is None
    assert result.retries is None


@pytest.mark.worker
@pytest.mark.redis_only
@pytest.mark.django_db(transaction=True)
def test_redis_keeps_one_string_key_per_task_with_a_ttl_of_result_expires(celery_worker):
    import redis

    sent = tasks.add.delay(1, 1)
    wait_until_ready(sent.id)
    client = redis.Redis.from_url(settings.REDIS_URL)

    keys = [key.decode() for key in client.scan_iter(match=f"*{sent.id}*")]

    assert keys == [f"celery-task-meta-{sent.id}"]
    assert client.type(keys[0]) == b"string"
    assert app.conf.result_expires.total_seconds() == 86400
    assert 86000 < client.ttl(keys[0]) <= 86400


# --- Topic 8: canvas results ------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_calling_a_chain_returns_the_last_tasks_result_linked_to_the_others_by_parent(celery_worker):
    last = chain(tasks.add.s(1, 2), tasks.double.s(), tasks.double.s())()

    assert last.get(timeout=15) == 12
    second = last.parent
    first = second.parent
    assert first.parent is None
    # A link is sent before the previous link's result is stored: wait for each one.
    assert wait_until_ready(first.id).result == 3
    assert wait_until_ready(second.id).result == 6


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_chain_result_looked_up_by_id_has_no_parent(celery_worker):
    last = chain(tasks.add.s(1, 2), tasks.double.s())()
    last.get(timeout=15)

    assert last.parent is not None
    assert app.AsyncResult(last.id).parent is None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_chain_links_stored_children_hold_the_next_task(celery_worker):
    last = chain(tasks.add.s(1, 2), tasks.double.s())()
    last.get(timeout=15)
    first_id = last.parent.id

    children = wait_until_ready(first_id).children

    assert [child.id for child in children] == [last.id]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_when_a_chain_link_fails_the_later_links_are_stored_as_failure_with_its_exception(celery_worker):
    last = chain(tasks.boom.s("first link"), tasks.double.s())()

    later = wait_until_ready(last.id)

    assert later.state == "FAILURE"
    assert isinstance(later.result, ValueError)
    assert str(later.result) == "first link"
    with pytest.raises(ValueError, match="first link"):
        last.get(timeout=5)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_calling_a_group_returns_a_groupresult_whose_join_keeps_the_groups_order(celery_worker):
    result = group([tasks.nap.s(0.6, "slow first"), tasks.nap.s(0, "fast second")])()

    assert isinstance(result, GroupResult)
    assert result.join(timeout=15) == ["slow first", "fast second"]
    assert result.get(timeout=15) == ["slow first", "fast second"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_join_reraises_a_members_exception_and_propagate_false_returns_it_in_place(celery_worker):
    result = group([tasks.add.s(1, 1), tasks.boom.s("member")])()

    with pytest.raises(ValueError, match="member"):
        result.join(timeout=15)
    values = result.join(timeout=15, propagate=False)
    assert values[0] == 2
    assert isinstance(values[1], ValueError)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_completed_count_counts_only_the_successful_members(celery_worker):
    result = group([tasks.add.s(1, 1), tasks.boom.s("member")])()
    result.join(timeout=15, propagate=False)

    assert result.ready() is True
    assert result.completed_count() == 1
    assert result.failed() is True
    assert result.successful() is False


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_group_is_ready_only_when_every_member_is(celery_worker):
    result = group([tasks.nap.s(0, "quick"), tasks.nap.s(2, "slow")])()
    wait_until_ready(result.results[0].id)

    assert result.completed_count() == 1
    assert result.ready() is False
    assert result.waiting() is True
    result.join(timeout=15)
    assert result.ready() is True


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_saved_group_result_can_be_restored_by_its_id(celery_worker):
    result = group([tasks.add.s(1, 1), tasks.add.s(2, 2)])()
    result.save()
    member_ids = [member.id for member in result.results]

    restored = GroupResult.restore(result.id, app=app)

    assert [member.id for member in restored.results] == member_ids
    assert restored.join(timeout=15) == [2, 4]
    assert app.GroupResult.restore(result.id).id == result.id


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_group_id_is_not_a_task_id(celery_worker):
    result = group([tasks.add.s(1, 1)])()
    result.join(timeout=15)
    result.save()

    as_task = app.AsyncResult(result.id)

    assert as_task.state == "PENDING"
    assert as_task.exists() is False


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_chords_header_group_can_be_saved_and_restored_like_any_group(celery_worker):
    result = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], tasks.total.s())()
    result.get(timeout=15)

    result.parent.save()
    restored = app.GroupResult.restore(result.parent.id)

    assert restored.completed_count() == 2
    assert restored.join(timeout=5) == [2, 4]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_restoring_a_group_that_was_never_saved_returns_none(celery_worker):
    result = group([tasks.add.s(1, 1)])()
    result.join(timeout=15)

    assert app.GroupResult.restore(result.id) is None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_calling_a_chord_returns_the_bodys_result_with_the_header_group_as_parent(celery_worker):
    result = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], tasks.total.s())()

    assert isinstance(result, AsyncResult)
    assert result.get(timeout=15) == 6
    assert isinstance(result.parent, GroupResult)
    assert result.parent.join(timeout=5) == [2, 4]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_when_a_chord_header_task_fails_the_body_is_stored_as_failure_with_a_chorderror(celery_worker):
    result = chord([tasks.add.s(1, 1), tasks.boom.s("header")], tasks.total.s())()

    body = wait_until_ready(result.id)

    assert body.state == "FAILURE"
    assert isinstance(body.result, ChordError)
    assert "ValueError('header')" in str(body.result)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_group_of_ignored_tasks_is_never_ready(celery_worker):
    result = group([tasks.ignored_add.s(1, 1), tasks.ignored_add.s(2, 2)])()
    marker = tasks.add.delay(0, 0)
    wait_until_ready(marker.id)
    settle()

    assert result.ready() is False
    assert result.completed_count() == 0
    with pytest.raises(CeleryTimeoutError):
        result.join(timeout=1)


@pytest.mark.worker
@pytest.mark.embedded_only
@pytest.mark.django_db(transaction=True)
def test_with_django_db_a_chord_whose_header_ignores_results_never_runs_its_body(celery_worker):
    result = chord([tasks.ignored_add.s(1, 1), tasks.ignored_add.s(2, 2)], tasks.total.s())()
    marker = tasks.add.delay(0, 0)
    wait_until_ready(marker.id)
    time.sleep(2)

    assert app.AsyncResult(result.id).state == "PENDING"
    about_this_chord = [line for line in celery_worker.log().splitlines() if result.parent.id in line]
    assert not [line for line in about_this_chord if "ERROR" in line or "raised" in line], (
        "and the worker logs no error about it"
    )


@pytest.mark.worker
@pytest.mark.redis_only
@pytest.mark.django_db(transaction=True)
def test_with_redis_a_chord_whose_header_ignores_results_still_runs_its_body(celery_worker):
    result = chord([tasks.ignored_add.s(1, 1), tasks.ignored_add.s(2, 2)], tasks.total.s())()

    assert result.get(timeout=15) == 6


# --- Topic 9: Django patterns -----------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_task_sent_with_on_commit_sees_the_row_its_transaction_wrote(celery_worker):
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        get_user_model().objects.create(username="on-commit-sender")
        transaction.on_commit(
            lambda: tasks.username_exists.apply_async(("on-commit-sender",), task_id=task_id)
        )
        assert app.AsyncResult(task_id).exists() is False

    assert wait_until_ready(task_id).result is True


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_task_registered_with_on_commit_is_never_sent_when_the_transaction_rolls_back(
    celery_worker, tmp_path
):
    note = tmp_path / "ran.txt"
    task_id = str(uuid.uuid4())

    def write_then_fail():
        with transaction.atomic():
            get_user_model().objects.create(username="rolled-back")
            transaction.on_commit(lambda: tasks.note_run.apply_async((str(note),), task_id=task_id))
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        write_then_fail()

    marker = tasks.note_run.delay(str(note))
    wait_until_ready(marker.id)
    settle()

    assert note.read_text().split() == [marker.id]
    assert app.AsyncResult(task_id).state == "PENDING"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_apply_async_on_commit_returns_none_and_sends_the_task_after_the_commit(celery_worker):
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        get_user_model().objects.create(username="sent-by-apply-async-on-commit")
        returned = tasks.username_exists.apply_async_on_commit(
            ("sent-by-apply-async-on-commit",), task_id=task_id
        )
        assert returned is None, "no AsyncResult: keep the id you chose"

    assert wait_until_ready(task_id).result is True


@pytest.mark.django_db
def test_in_a_test_wrapped_in_a_transaction_on_commit_callbacks_run_only_when_captured(
    django_capture_on_commit_callbacks,
):
    sent = []
    transaction.on_commit(lambda: sent.append("outside capture"))
    assert sent == [], "the test's transaction never commits, so the callback waits for ever"

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        transaction.on_commit(lambda: sent.append("captured"))

    assert sent == ["captured"]
    assert len(callbacks) == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_task_id_chosen_before_sending_is_the_id_the_result_is_stored_under(celery_worker):
    task_id = str(uuid.uuid4())

    sent = tasks.add.apply_async((20, 22), task_id=task_id)

    assert sent.id == task_id
    assert wait_until_ready(task_id).result == 42


def test_django_htmx_stop_polling_response_is_the_status_htmx_2_stops_polling_on():
    from django.contrib.staticfiles import finders
    from django_htmx.http import HttpResponseStopPolling

    htmx_source = Path(finders.find("django_htmx/htmx-2.js")).read_text()

    assert HttpResponseStopPolling().status_code == 286
    assert "if (xhr.status === 286) {\n        cancelPolling(elt)" in htmx_source


@pytest.mark.worker
@pytest.mark.embedded_only
@pytest.mark.django_db(transaction=True)
def test_the_admin_lists_a_task_result_row_once_a_worker_stored_it(celery_worker, admin_client):
    sent = tasks.add.delay(3, 4)
    wait_until_ready(sent.id)

    page = admin_client.get("/admin/django_celery_results/taskresult/").content.decode()

    assert sent.id in page
    assert "tests.claims.canvas_tasks.add" in page
    result = group([tasks.add.s(1, 1)])()
    result.join(timeout=15)
    assert result.id not in admin_client.get("/admin/django_celery_results/groupresult/").content.decode()
    result.save()
    assert result.id in admin_client.get("/admin/django_celery_results/groupresult/").content.decode()


# --- What the broker holds, expired results, canvas failures from the client (issue 17) ------
#
# The Redis-only checks of visibility_timeout and result_expires need a worker configured unlike
# the test worker: `configured_worker` starts one with LAB_SANDBOX (config/settings.py maps it
# onto Celery's settings, as for the lab's sandbox workers) on a queue of its own.

UNCONSUMED = "claims-unconsumed"
CONFIGURED_QUEUE = "claims-configured"


def queued_ids(queue: str) -> list[str]:
    """The task ids of the messages waiting in `queue`, read from the broker itself."""
    if settings.RUN_MODE == "redis":
        return [json.loads(raw)["headers"]["id"] for raw in app.backend.client.lrange(queue, 0, -1)]
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    files = folder.glob(f"*.{queue}.msg")
    return [json.loads(path.read_bytes())["headers"]["id"] for path in files]


@pytest.fixture(scope="module")
def configured_worker(django_db_setup):
    """A worker with visibility_timeout 1 s and result_expires 1 s, consuming CONFIGURED_QUEUE."""
    env = {**worker_env(), "LAB_SANDBOX": json.dumps({"visibility_timeout": 1, "result_expires": 1})}
    worker = CeleryWorker(
        env=env,
        log_path=OUTPUT_DIR / "workers" / f"claims-configured-{settings.RUN_MODE}.log",
        concurrency=1,
        queues=CONFIGURED_QUEUE,
    )
    worker.wait_until_ready()
    yield worker
    worker.stop()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_task_sent_to_a_queue_no_worker_consumes_stays_pending_and_its_message_waits(celery_worker):
    result = tasks.add.apply_async((1, 1), queue=UNCONSUMED)
    try:
        with pytest.raises(CeleryTimeoutError):
            result.get(timeout=1.0, interval=0.05)

        assert app.AsyncResult(result.id).state == "PENDING"
        assert result.ready() is False
        assert queued_ids(UNCONSUMED) == [result.id]
    finally:
        remove_message(result.id, queue=UNCONSUMED)


@pytest.mark.worker
@pytest.mark.redis_only
@pytest.mark.django_db(transaction=True)
def test_redis_keeps_a_countdown_message_in_the_unacked_hash_until_the_task_runs(celery_worker):
    result = tasks.nap.apply_async((0.0, "done"), countdown=2)
    client = app.backend.client
    deadline = time.monotonic() + 1.5
    held = []
    while time.monotonic() < deadline and not held:
        held = [json.loads(raw)[0]["headers"]["id"] for raw in client.hvals("unacked")]
        time.sleep(0.05)

    assert held == [result.id], "fetched by the worker, not acknowledged"
    assert app.AsyncResult(result.id).state == "PENDING"
    assert result.get(timeout=10, interval=0.05) == "done"
    # Acknowledged once it started: the worker's main process acks when the pool process
    # reports the task accepted (Request.on_accepted, celery/worker/request.py), which it may
    # read just after a task this short has stored its result.
    wait_until(lambda: client.hlen("unacked") == 0, "the message acknowledged once it ran", timeout=5)


@pytest.mark.worker
@pytest.mark.embedded_only
@pytest.mark.django_db(transaction=True)
def test_the_filesystem_broker_deletes_a_countdown_message_as_soon_as_the_worker_fetches_it(celery_worker):
    result = tasks.nap.apply_async((0.0, "done"), countdown=2)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline and result.id in queued_ids("celery"):
        time.sleep(0.05)

    assert result.id not in queued_ids("celery"), "the worker holds it in memory only"
    assert not list(Path(settings.BROKER_DIR).glob("claimed/*.msg"))
    assert app.AsyncResult(result.id).state == "PENDING"
    assert result.get(timeout=10, interval=0.05) == "done"


@pytest.mark.worker
@pytest.mark.redis_only
@pytest.mark.django_db(transaction=True)
def test_a_countdown_longer_than_visibility_timeout_runs_the_task_more_than_once(configured_worker, tmp_path):
    note = tmp_path / "runs.txt"

    tasks.note_run.apply_async((str(note),), countdown=3, queue=CONFIGURED_QUEUE)

    runs = wait_for_lines(note, 2, timeout=15)
    assert len(set(runs)) == 1, "the same task id each time: one message, delivered again"


@pytest.mark.worker
@pytest.mark.redis_only
@pytest.mark.django_db(transaction=True)
def test_on_redis_a_result_past_result_expires_reads_pending_again(configured_worker):
    result = tasks.add.apply_async((2, 3), queue=CONFIGURED_QUEUE)
    assert result.get(timeout=10, interval=0.05) == 5

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and app.AsyncResult(result.id).state != "PENDING":
        time.sleep(0.1)

    assert app.AsyncResult(result.id).state == "PENDING"
    assert app.AsyncResult(result.id).result is None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_failed_chord_raises_the_header_error_from_its_handle_and_chorderror_from_its_id(celery_worker):
    result = chord([tasks.add.s(1, 1), tasks.boom.s("header")], tasks.total.s())()
    wait_until_ready(result.id)

    with pytest.raises(ValueError, match="header"):
        result.get(timeout=5, interval=0.05)
    with pytest.raises(ChordError):
        app.AsyncResult(result.id).get(timeout=5, interval=0.05)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_one_argument_error_callback_is_sent_as_a_task_with_the_failed_id(celery_worker):
    errback_id = str(uuid.uuid4())
    errback = tasks.echo.s().set(task_id=errback_id)

    failed = tasks.boom.apply_async(("on purpose",), link_error=errback)

    assert app.AsyncResult(errback_id).get(timeout=10, interval=0.05) == failed.id
    assert wait_until_ready(failed.id).state == "FAILURE"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_three_argument_error_callback_is_called_in_the_failing_worker_without_a_result(
    celery_worker, tmp_path
):
    note = tmp_path / "errback.txt"
    errback_id = str(uuid.uuid4())
    errback = tasks.note_failure.s(str(note)).set(task_id=errback_id)

    failed = tasks.boom.apply_async(("on purpose",), link_error=errback)

    (line,) = wait_for_lines(note, 1)
    assert line == f"{failed.id}:ValueError", "called with the failed task's request and exception"
    time.sleep(0.5)  # a task sent for it would have run by now
    assert app.AsyncResult(errback_id).state == "PENDING", "no task ran under its id"
