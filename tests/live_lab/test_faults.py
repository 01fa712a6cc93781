"""What a learner sees when something breaks under a lab run, with real processes: a worker
killed mid-task, no worker at all, the broker down when firing, Redis restarted while a run page
streams, the observing web process killed (docs/lab-faults.md).

Each test starts the processes it breaks (a worker, uvicorn, a redis-server of its own) and
stops them by pid; the suite's own worker and Redis are left alone.
"""

import ast
import os
import re
import signal
import time

import pytest
import redis
from django.test import Client

from config.celery import app
from live_lab.models import LabEvent, LabRun
from live_lab.observer import WORKER_SILENT_AFTER, RedisStores
from tests.conftest import worker_env
from tests.factories import make_learner
from tests.live_lab.fault_processes import RedisServer, kill_whole_worker, start_worker
from tests.live_lab.runs import wait_until_over
from tests.web_process import EventStream, Learner, WebProcess, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def lane1(run: LabRun) -> list[str]:
    states = []
    for state in run.observations.values_list("state", flat=True):
        if not states or states[-1] != state:
            states.append(state)
    return states


def lane2(run: LabRun) -> list[str]:
    return list(LabEvent.objects.filter(task_id=run.task_id).values_list("kind", flat=True))


def wait_for_reading(run: LabRun, state: str, timeout: float = 20):
    reading = run.observations.filter(state=state)
    return wait_until(reading.first, f"lane 1 reading {state}", timeout)


def wait_for_lane2(run: LabRun, kinds: list[str], timeout: float = 5) -> list[str]:
    return wait_until(lambda: lane2(run) == kinds and kinds, f"lane 2 showing {kinds}", timeout)


def signed_in_client() -> Client:
    client = Client()
    client.force_login(make_learner())
    return client


def fire_here(client, experiment_id: str, prediction: str, **params) -> LabRun:
    """Fire through this test process (its dispatcher and observer), as test_experiments does."""
    response = client.post(f"/lab/{experiment_id}/", {**params, "prediction": prediction})
    assert response.status_code == 302, response.content.decode()
    return LabRun.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[1])


def run_id_of(status: int, headers, page: str) -> int:
    assert status == 302, page
    return int(headers["Location"].rstrip("/").rsplit("/", 1)[1])


def test_the_lab_worker_acknowledges_a_task_when_it_starts_so_a_killed_task_is_never_run_again():
    """The choice docs/lab-faults.md explains: the defaults, on purpose."""
    assert app.conf.task_acks_late is False
    assert not app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1


def test_a_killed_pool_process_ends_the_run_as_worker_lost_and_ungraded():
    client = signed_in_client()
    worker = start_worker("pool-kill")
    try:
        run = fire_here(client, "slow-tracked", "PENDING, STARTED, SUCCESS", seconds=10)
        started = wait_for_reading(run, "STARTED")
        pid = ast.literal_eval(started.info)["pid"]  # track_started's meta names the pool process
        os.kill(pid, signal.SIGKILL)  # as the out-of-memory killer would

        # The main process waits worker_lost_wait (10 s) for a result the child may have sent.
        wait_until_over(run, timeout=app.conf.worker_lost_wait + 8)
        assert run.status == LabRun.Status.FINISHED
        assert run.is_prediction_right is None, "the kill is not the learner's doing"
        assert lane1(run) == ["PENDING", "STARTED", "FAILURE"]
        assert "WorkerLostError" in run.observations.last().info
        assert wait_for_lane2(run, ["published", "received", "started", "failed"])
        page = client.get(f"/lab/runs/{run.pk}/").content.decode()
        assert "The pool process running the task was killed" in page
        assert "WorkerLostError" in page
        assert "Your prediction was" not in page
        time.sleep(1.0)  # a redelivered message would have started again by now
        assert lane2(run).count("started") == 1, "the task is not run again"
        assert worker.is_alive(), "only the pool process died; the worker replaced it"
    finally:
        worker.stop()


def test_a_worker_killed_whole_mid_task_ends_the_run_within_seconds_saying_so():
    client = signed_in_client()
    worker = start_worker("whole-kill")
    try:
        run = fire_here(client, "slow-tracked", "PENDING, STARTED, SUCCESS", seconds=25)
        wait_for_reading(run, "STARTED")
        # Killed once lane 2 names the worker that took the task: the lab asks that worker.
        # The worker's main process writes "received" from a thread of its own, which on a
        # busy machine can come after the pool process stored STARTED.
        wait_until(lambda: "received" in lane2(run), "lane 2 naming the worker", 10)
        killed_at = time.monotonic()
        kill_whole_worker(worker)

        wait_until_over(run, timeout=WORKER_SILENT_AFTER + 10)
        took = time.monotonic() - killed_at
    finally:
        worker.stop()
    assert took < WORKER_SILENT_AFTER + 6, f"{took:.1f} s after the kill"
    assert run.status == LabRun.Status.TIMED_OUT
    assert run.is_prediction_right is None
    assert lane1(run) == ["PENDING", "STARTED"], "the backend keeps the last state a killed worker stored"
    assert lane2(run) == ["published", "received", "started"]
    assert f"The worker {worker.hostname} received the task, then stopped answering" in run.ending
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    assert "stopped answering" in page
    assert "AsyncResult reported PENDING → STARTED." in page


def test_runs_fired_with_no_worker_stay_pending_and_complete_when_a_worker_starts():
    client = signed_in_client()
    runs = [fire_here(client, "success", "PENDING, SUCCESS", x=2, y=n, seconds=0) for n in range(2)]

    time.sleep(2.0)
    for run in runs:
        run.refresh_from_db()
        assert run.status == LabRun.Status.RUNNING, "sent, and waiting in the broker's queue"
        assert lane1(run) == ["PENDING"]
        assert lane2(run) == ["published"], "nothing lost: published, not received"
    worker = start_worker("late")
    try:
        for run in runs:
            wait_until_over(run, timeout=20)
            assert run.status == LabRun.Status.FINISHED
            assert lane1(run) == ["PENDING", "SUCCESS"]
            assert run.is_prediction_right is True
        assert [run.observations.last().info for run in runs] == ["2", "3"]
    finally:
        worker.stop()


@pytest.mark.redis_only  # the filesystem broker is a folder: it cannot be down
def test_firing_while_the_broker_is_down_shows_a_form_error_and_marks_the_run_not_sent():
    learner = make_learner()
    nowhere = RedisServer("nowhere")
    nowhere.stop()  # the port was free a moment ago; nothing listens there now
    web = WebProcess("broker-down", env={**worker_env(), "REDIS_URL": nowhere.url})
    try:
        browser = Learner(learner, web)
        began = time.monotonic()
        status, _, page = browser.fire("success", x=2, y=3, seconds=0, prediction="PENDING, SUCCESS")
        took = time.monotonic() - began

        assert status == 200, "the form again, with the message: never a 500"
        assert took < 8, f"the learner waited {took:.1f} s"
        assert "Your run could not be sent: Redis, the lab&#x27;s broker and result store," in page
        run = LabRun.objects.get(owner=learner)
        assert run.status == LabRun.Status.NOT_SENT
        assert run.is_prediction_right is None
        assert run.finished_at is not None
        assert not run.observations.exists(), "nothing half-written"
        assert not LabEvent.objects.exists(), "nothing half-written"
        status, _, page = browser.request("GET", f"/lab/runs/{run.pk}/")
        assert status == 200
        assert "Not sent." in page
        assert "(Redis unreachable)" in page
    finally:
        web.stop()


@pytest.mark.redis_only
def test_the_observer_reads_every_watched_run_after_it_subscribes_again():
    """Pub/sub drops what is published while nobody listens: after a Redis restart, every
    watched task is read once, so a store made meanwhile is not missed."""
    server = RedisServer("resubscribe")
    try:
        stores = RedisStores(client=redis.Redis(port=server.port))
        stores.wait(0.01)
        assert stores.stored(["a", "b"]) == {}
        server.stop()
        stores.wait(0.01)  # the subscription is lost
        assert stores.stored(["a", "b"]) == {}, "Redis is down: nothing to read"
        server.start()
        wait_until(lambda: stores.wait(0.01) or stores.subscription is not None, "subscribed again", 10)

        assert stores.stored(["a", "b"]) == {"a": None, "b": None}, "each read once from the backend"
        assert stores.stored(["a", "b"]) == {}
    finally:
        server.stop()


@pytest.mark.redis_only
def test_a_redis_restart_while_the_run_page_streams_misses_no_transition():
    learner = make_learner()
    server = RedisServer("restart")
    env = {**worker_env(), "REDIS_URL": server.url}
    worker = start_worker("redis-restart", env=env)
    web = WebProcess("redis-restart", env=env)
    try:
        browser = Learner(learner, web)
        run = LabRun.objects.get(
            pk=run_id_of(*browser.fire("slow-tracked", seconds=8, prediction="PENDING, STARTED, SUCCESS"))
        )
        stream = EventStream(browser, run.pk)
        wait_for_reading(run, "STARTED")
        server.stop()
        time.sleep(2.0)
        server.start()
        restarted_at = time.monotonic()

        wait_until_over(run, timeout=30)
        stream.wait_until_done(timeout=10)
    finally:
        web.stop()
        worker.stop()
        server.stop()
    assert run.status == LabRun.Status.FINISHED
    # Redis came back empty (no persistence): the STARTED it had stored is gone, and AsyncResult
    # read PENDING again. Lane 1 keeps the STARTED read before, from the lab's own database.
    assert lane1(run) == ["PENDING", "STARTED", "PENDING", "SUCCESS"]
    assert lane2(run) == ["published", "received", "started", "succeeded"]
    assert run.is_prediction_right is None, "the outage is not the learner's doing"
    assert "AsyncResult read PENDING again" in run.ending
    # Heard over the new subscription, not left to the 5 s reading of runs with no store.
    success = run.observations.get(state="SUCCESS")
    succeeded = LabEvent.objects.get(task_id=run.task_id, kind="succeeded")
    assert success.after_ms - (succeeded.at - run.sent_at).total_seconds() * 1000 < 2000
    # One stream throughout: it went on through the outage and ended with every transition.
    # (Whether it showed "(Redis unreachable)" meanwhile depends on when redis-py, which
    # reconnects a subscription by itself, lets the observer see the loss.)
    lanes = [(at, data) for at, name, data in stream.events if name == "lanes"]
    assert any(at > restarted_at for at, _ in lanes), "lanes sent after Redis came back"
    last = lanes[-1][1]
    lane1_rows = r"<code>PENDING</code>.*<code>STARTED</code>.*<code>PENDING</code>.*<code>SUCCESS</code>"
    assert re.search(lane1_rows, last, re.S)
    assert "AsyncResult read PENDING again" in last
    lane2_rows = r"<td>published</td>.*<td>received</td>.*<td>started</td>.*<td>succeeded</td>"
    assert re.search(lane2_rows, last, re.S)
    assert stream.events[-1][1] == "done"


def test_a_run_whose_web_process_was_killed_is_adopted_by_another_and_ends_truthfully():
    learner = make_learner()
    worker = start_worker("adoption")
    first = WebProcess("observer-killed")
    second = None
    try:
        browser = Learner(learner, first)
        run = LabRun.objects.get(
            pk=run_id_of(*browser.fire("slow-tracked", seconds=6, prediction="PENDING, STARTED, SUCCESS"))
        )
        wait_for_reading(run, "STARTED")
        first.kill()
        second = WebProcess("adopter")
        browser.web = second
        status, _, page = browser.request("GET", f"/lab/runs/{run.pk}/")  # wakes its dispatcher
        assert status == 200

        wait_until_over(run, timeout=30)
        status, _, page = browser.request("GET", f"/lab/runs/{run.pk}/")
    finally:
        first.stop()
        if second is not None:
            second.stop()
        worker.stop()
    assert run.status == LabRun.Status.FINISHED
    assert lane1(run) == ["PENDING", "STARTED", "SUCCESS"]
    assert run.is_prediction_right is True
    assert "Your prediction was <strong>right</strong>" in page
