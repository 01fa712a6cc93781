"""What an experiment's script may do to the sandbox worker of its run (docs/live-lab.md).

An experiment with a SandboxSpec (live_lab/experiments.py) runs on a worker of its own; once
its task is sent, its script gets a SandboxScript: it waits for what the worker reports (lane 2),
kills a pool process or the whole worker, starts it again, and returns when nothing more can
happen. Every action is recorded as a client call of the run, with its time, so lane 1 shows
when the worker was killed beside what AsyncResult read. Every wait is bounded.
"""

import time

from django.db import connection
from django.utils import timezone

from live_lab.models import LabCall, LabEvent, LabRun
from live_lab.observer import TICK, RunObserver, observatory
from live_lab.sandbox import Sandbox

# A task killed with its worker is never reported again: a script waiting for a report that
# cannot come gives up after this long, and the run ends with what lane 1 read.
LONGEST_WAIT = 40.0


class SandboxScript:
    """The run, its sandbox worker, and the actions a script takes on them."""

    def __init__(self, run: LabRun, sandbox: Sandbox, observer: RunObserver):
        self.run = run
        self.sandbox = sandbox
        self.observer = observer
        self.started = time.monotonic()

    @property
    def params(self) -> dict:
        """The task's keyword arguments and the form's other values, as fired."""
        return {**self.run.params["kwargs"], **self.run.params.get("script", {})}

    def events(self, kind: str) -> list[LabEvent]:
        return list(LabEvent.objects.filter(task_id=self.run.task_id, kind=kind))

    def wait_for_event(
        self, kind: str, *, count: int = 1, timeout: float = LONGEST_WAIT, unless: tuple[str, ...] = ()
    ) -> bool:
        """Until lane 2 has `count` rows of this kind for the run's task; False after `timeout`,
        or as soon as it has a row of a kind in `unless` (what rules this one out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.events(kind)) >= count:
                return True
            if unless and LabEvent.objects.filter(task_id=self.run.task_id, kind__in=unless).exists():
                return False
            time.sleep(TICK * 5)
        return False

    def wait_for_last_word(self, *, every_copy: bool = False, timeout: float = LONGEST_WAIT) -> bool:
        """Until lane 2 has a succeeded, failed or revoked row; with `every_copy`, as many as
        "received" rows (each copy of the message a worker received was run; no copy here is
        killed). False after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            kinds = list(LabEvent.objects.filter(task_id=self.run.task_id).values_list("kind", flat=True))
            done = sum(kind in LabEvent.LAST_WORDS for kind in kinds)
            if done and (not every_copy or done >= kinds.count(LabEvent.Kind.RECEIVED)):
                return True
            time.sleep(TICK * 5)
        return False

    def seconds_since_send(self) -> float:
        return (timezone.now() - self.run.sent_at).total_seconds()

    def pause(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0))

    def kill_pool_process(self) -> None:
        """SIGKILL the pool process running the task, as the out-of-memory killer would."""
        pid = self.sandbox.kill_pool_process()
        self.note("kill-pool-process", "os.kill(<pool process>, SIGKILL)", "killed", f"pid {pid}")

    def kill_worker(self) -> None:
        """SIGKILL the worker and its pool at once: it stores, acknowledges and reports nothing more."""
        hostname, pid = self.sandbox.hostname, self.sandbox.pid
        self.sandbox.kill()
        self.note("kill-worker", "os.kill(<worker>, SIGKILL)", "killed", f"{hostname}, pid {pid}")

    def restart_worker(self) -> None:
        """Start a new worker on the same queue (a name of its own: sandbox-<id>-2@<host>)."""
        self.sandbox.start()
        self.note("restart-worker", "celery worker (started again)", "answers a ping", self.sandbox.hostname)

    def note(self, key: str, code: str, outcome: str, detail: str = "") -> None:
        """One action of the script, or what it counted, as a client call of the run."""
        call = LabCall.objects.create(
            run=self.run,
            key=key,
            code=code,
            after_ms=(timezone.now() - self.run.sent_at).total_seconds() * 1000,
            outcome=outcome,
            detail=detail[:1000],
        )
        self.observer.add_rows(calls=[call])  # as the observer does for a client call
        self.observer.announce()
        observatory.poke(self.run.pk)

    def count_runs(self) -> None:
        """How many times the task started, in lane 2: what the "runs" prediction is graded on."""
        started = len(self.events(LabEvent.Kind.STARTED))
        outcome = {0: "never", 1: "once", 2: "twice"}.get(started, f"{started} times")
        self.note("runs", "how many times the task started on the worker", outcome)

    def close(self) -> None:
        connection.close()
