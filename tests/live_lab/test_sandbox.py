"""Sandbox workers (live_lab/sandbox.py), real processes killed for real: a pool process killed
mid-task with and without acks_late, the starting process SIGKILLed, and the site-wide bound."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from config.celery import app
from live_lab.models import LabEvent, SandboxClaim
from live_lab.sandbox import (
    Sandbox,
    SandboxesBusy,
    claim_sandbox_slot,
    free_claims_of_dead_holders,
    start_sandbox,
)
from live_lab.sandbox_config import SandboxConfig
from live_lab.tasks import long_job, slow_tracked
from tests.conftest import worker_env
from tests.web_process import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def starts(task_id: str) -> int:
    return LabEvent.objects.filter(task_id=task_id, kind=LabEvent.Kind.STARTED).count()


def run_a_task_and_kill_its_pool_process(config: SandboxConfig):
    """The task's result once it is over, and how many times it started."""
    sandbox = start_sandbox(config, env=worker_env())
    assert isinstance(sandbox, Sandbox), sandbox
    with sandbox:
        result = slow_tracked.apply_async((2,), queue=sandbox.queue)
        wait_until(lambda: starts(result.id) == 1, "the task starting on the sandbox", 20)
        sandbox.kill_pool_process()
        # The worker waits worker_lost_wait (2 s in a sandbox) for a result the dead process may have sent.
        wait_until(result.ready, "the task over", 20, every=0.2)
        time.sleep(1.0)  # a redelivered message would have started again by now
        assert sandbox.is_alive(), "only the pool process died; the worker replaced it"
        return result, starts(result.id)


def test_with_acks_late_and_reject_on_worker_lost_a_task_whose_pool_process_is_killed_runs_again():
    result, started = run_a_task_and_kill_its_pool_process(
        SandboxConfig(acks_late=True, reject_on_worker_lost=True)
    )
    assert result.state == "SUCCESS"
    assert result.result == "slept 2 s"
    assert started == 2


def test_with_the_defaults_a_task_whose_pool_process_is_killed_fails_with_worker_lost_and_runs_once():
    result, started = run_a_task_and_kill_its_pool_process(SandboxConfig())
    assert result.state == "FAILURE"
    assert type(result.result).__name__ == "WorkerLostError"
    assert started == 1


def is_running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def first_line(process: subprocess.Popen, timeout: float) -> str:
    lines = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert lines, f"no line from the holder in {timeout} s"
    assert lines[0], f"the holder exited: {process.stderr.read()}"
    return lines[0]


def broadcast_queues() -> str:
    """The queues bound to the workers' broadcast exchange (each worker's remote-control queue)."""
    with app.connection_for_write() as connection_to_broker:
        table = connection_to_broker.default_channel.get_table("celery.pidbox")
    return " ".join(row[2] for row in table)


def test_a_sandbox_worker_and_its_pool_die_when_the_process_that_started_it_is_sigkilled():
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.live_lab.sandbox_holder"],
        cwd=settings.BASE_DIR,
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pids: list[int] = []
    try:
        started = json.loads(first_line(holder, timeout=40))
        pids = [started["pid"], *started["pool"]]
        assert len(pids) == 3, started
        assert all(is_running(pid) for pid in pids), started
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(5)
        wait_until(lambda: not any(is_running(pid) for pid in pids), "the sandbox's processes gone", 5)

        # Its claim, its queue and its remote-control queue's binding outlive it (a broadcast
        # would go on queueing messages for it), until the next claimant reaps them.
        queue = started["queue"]
        assert queue in broadcast_queues(), "the worker bound its remote-control queue"
        if settings.RUN_MODE == "redis":
            assert app.backend.client.exists(f"_kombu.binding.{queue}"), "the worker bound its queue"
        free_claims_of_dead_holders()
        assert not SandboxClaim.objects.exists()
        assert queue not in broadcast_queues()
        if settings.RUN_MODE == "redis":
            left = app.backend.client.keys(f"*{queue}*")
            assert not left, f"the dead sandbox's keys left in Redis: {left}"
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(5)
        for pid in pids:
            if is_running(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_sandbox_worker_runs_with_its_configuration_and_kills_itself_and_its_pool_when_its_lifetime_is_over(
    settings,
):
    settings.LAB_SANDBOX_LIFETIME = 5
    started_at = time.monotonic()
    config = SandboxConfig(
        acks_late=True, result_expires=60, visibility_timeout=30, prefetch_multiplier=2, concurrency=2
    )
    sandbox = start_sandbox(config, env=worker_env())
    assert isinstance(sandbox, Sandbox), sandbox
    with sandbox:
        pids = [sandbox.pid, *sandbox.pool_pids()]
        assert len(pids) == 3
        replies = app.control.inspect([sandbox.hostname], timeout=1.0).conf(with_defaults=True)
        conf = replies[sandbox.hostname]
        assert conf["task_acks_late"] is True
        assert conf["task_reject_on_worker_lost"] is False
        assert conf["result_expires"] == 60
        assert conf["worker_prefetch_multiplier"] == 2
        if settings.RUN_MODE == "redis":
            assert conf["broker_transport_options"]["visibility_timeout"] == 30
        wait_until(lambda: not sandbox.is_alive(), "the sandbox worker gone", 10)
        assert time.monotonic() - started_at >= 5
        wait_until(lambda: not any(is_running(pid) for pid in pids), "its pool processes gone", 3)


@pytest.mark.skipif(settings.RUN_MODE == "redis", reason="the same on both brokers: embedded pass only")
def test_a_sandbox_started_with_the_threads_pool_runs_its_tasks_side_by_side_in_one_process():
    config = SandboxConfig(pool="threads", concurrency=2, prefetch_multiplier=3)
    sandbox = start_sandbox(config, env=worker_env())
    assert isinstance(sandbox, Sandbox), sandbox
    with sandbox:
        stats = app.control.inspect([sandbox.hostname], timeout=2.0).stats()[sandbox.hostname]
        assert stats["pool"]["implementation"] == "celery.concurrency.thread:TaskPool"
        assert stats["pool"]["max-concurrency"] == 2
        assert stats["prefetch_count"] == 6, "worker_prefetch_multiplier 3 x 2 threads"
        assert sandbox.pool_pids() == [], "threads run in the worker's own process: no pool process"

        # Long enough that the second one starts while the first runs, with seconds to spare.
        sent = [long_job.apply_async((2.5,), queue=sandbox.queue) for _ in range(2)]
        wait_until(lambda: all(result.ready() for result in sent), "both tasks over", 20, every=0.1)
        rows = list(LabEvent.objects.filter(task_id__in=[r.id for r in sent]).values_list("kind", "hostname"))
        kinds = [kind for kind, _ in rows if kind in ("started", "succeeded")]
        assert kinds[:2] == ["started", "started"], f"both ran at once on two threads: {kinds}"
        assert {hostname for _, hostname in rows if hostname.startswith("sandbox-")} == {sandbox.hostname}


def test_with_one_sandbox_for_the_site_a_second_run_waits_until_the_first_stops_killed_and_restarted_or_not(
    settings,
):
    settings.LAB_SANDBOXES = 1
    first = start_sandbox(SandboxConfig(), env=worker_env())
    assert isinstance(first, Sandbox), first
    try:
        second = start_sandbox(SandboxConfig())
        assert isinstance(second, SandboxesBusy)
        assert second.message.startswith("All 1 sandbox workers are in use by other runs.")

        pids = [first.pid, *first.pool_pids()]
        first.kill()
        wait_until(lambda: not any(is_running(pid) for pid in pids), "kill() leaving no process behind", 3)
        assert isinstance(start_sandbox(SandboxConfig()), SandboxesBusy), "a killed sandbox keeps its slot"
        first.restart()
        assert first.answers_ping()
        assert first.pid not in pids
    finally:
        first.stop()
    assert not first.is_alive()
    assert claim_sandbox_slot(hostname="next") is not None, "stopping released the slot"


def test_a_slot_whose_holder_outlived_the_sandbox_lifetime_is_claimed_again(settings):
    settings.LAB_SANDBOXES = 1
    assert claim_sandbox_slot(hostname="first") is not None
    assert claim_sandbox_slot(hostname="second") is None
    SandboxClaim.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    claim = claim_sandbox_slot(hostname="second")
    assert claim is not None
    assert claim.hostname == "second"


def test_a_configuration_outside_the_bounds_is_refused_with_what_is_wrong():
    with pytest.raises(ValueError, match="concurrency must be a whole number from 1 to 4, not 5"):
        SandboxConfig(concurrency=5)
    with pytest.raises(ValueError, match="pool must be one of prefork, solo, threads"):
        SandboxConfig(pool="eventlet")
    with pytest.raises(ValueError, match="unknown keys: acks_early"):
        SandboxConfig.from_json('{"acks_early": true}')
    assert SandboxConfig.from_json(SandboxConfig(acks_late=True).to_json()) == SandboxConfig(acks_late=True)
