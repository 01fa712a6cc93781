"""Real `celery worker` subprocesses, started and stopped by pid (tests and bench/ use them)."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings

from config.celery import app


def child_pids(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def workers_to_start() -> int:
    """TEST_WORKER_COUNT (default 1): how many workers the test suite's `celery_worker` fixture
    starts. .ci/run also runs the worker tests with 2, as a deployment with workers on several
    hosts runs them (docs/DEPLOY.md)."""
    raw = os.environ.get("TEST_WORKER_COUNT", "").strip() or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= 8:
        raise ValueError(f"TEST_WORKER_COUNT={raw!r} must be a whole number from 1 to 8.")
    return int(raw)


class CeleryWorker:
    """A real `celery worker` subprocess with its own hostname and log file."""

    def __init__(
        self,
        *,
        env: dict,
        log_path: Path,
        concurrency: int = 2,
        extra_args: tuple = (),
        queues: str = "celery,lab",
        result_backend: str | None = None,
    ):
        """`queues` and `result_backend` let a check run a worker unlike the app's own (an rpc
        backend, say) on a queue no other worker consumes. Every worker gets a hostname of its own
        (`probe-<random>@<host>`), as every worker of a deployment must (docs/DEPLOY.md)."""
        self.hostname = f"probe-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        self.log_path = log_path
        self.children: list[int] = []  # the pool's pids, noted when the worker is asked to stop
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                *(["--result-backend", result_backend] if result_backend else []),
                "worker",
                "--loglevel=INFO",
                f"--concurrency={concurrency}",
                f"--hostname={self.hostname}",
                f"--queues={queues}",
                "--include=tests.worker_tasks,tests.claims.tasks,tests.claims.canvas_tasks",
                *extra_args,
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def hostnames(self) -> list[str]:
        """As CeleryWorkers has it: a test asks which worker ran a task among these."""
        return [self.hostname]

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def answers_ping(self, timeout: float = 1.0) -> bool:
        replies = app.control.ping(destination=[self.hostname], timeout=timeout)
        return any(self.hostname in reply for reply in replies)

    def wait_until_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_alive():
                raise RuntimeError(f"the worker exited at start; see {self.log_path}")
            if self.answers_ping(timeout=0.5):
                return
        self.stop()
        raise RuntimeError(f"the worker did not answer a ping in {timeout} s; see {self.log_path}")

    def log(self) -> str:
        self.log_file.flush()
        return self.log_path.read_text()

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown by SIGTERM to the main pid; SIGKILL everything left after `timeout`."""
        self.ask_to_stop()
        self.wait_stopped(timeout)

    def ask_to_stop(self) -> None:
        """SIGTERM to the main pid (a warm shutdown), noting its pool processes first."""
        if self.is_alive():
            self.children = child_pids(self.pid)
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float = 20.0) -> None:
        """Waits for the exit asked for; SIGKILLs the worker and its pool after `timeout`."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid in [self.pid, *self.children]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait()
        self.log_file.close()


# A worker's log record starts with "[2025-01-31 12:00:00,123: INFO/MainProcess]"; the lines
# of a traceback that follow belong to it.
RECORD_START = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}):")


def records(log: str) -> list[tuple[str, str]]:
    """(time, text) for each record of a worker's log, continuation lines kept with theirs."""
    found: list[tuple[str, str]] = []
    for line in log.splitlines(keepends=True):
        start = RECORD_START.match(line)
        if start or not found:
            found.append((start.group(1) if start else "", line))
        else:
            found[-1] = (found[-1][0], found[-1][1] + line)
    return found


class CeleryWorkers:
    """Several workers on the same queues, as a deployment runs them on several hosts: what a
    test talks to as "the worker". Which of them takes a task is the broker's choice, so a
    test asks `hostnames` (not one hostname), and `log()` is every worker's log in time order."""

    def __init__(self, count: int, *, env: dict, log_path: Path, **options):
        """Starts `count` workers at once; with more than one, each logs to `<log_path stem>-<n>.log`."""
        if count < 1:
            raise ValueError(f"count={count}: at least one worker")
        paths = (
            [log_path]
            if count == 1
            else [log_path.with_name(f"{log_path.stem}-{n}{log_path.suffix}") for n in range(1, count + 1)]
        )
        self.workers = [CeleryWorker(env=env, log_path=path, **options) for path in paths]

    @property
    def hostnames(self) -> list[str]:
        return [worker.hostname for worker in self.workers]

    def is_alive(self) -> bool:
        return all(worker.is_alive() for worker in self.workers)

    def answers_ping(self, timeout: float = 1.0) -> bool:
        """Every one of the workers answers one ping."""
        replies = app.control.ping(destination=self.hostnames, timeout=timeout)
        answered = {name for reply in replies for name in reply}
        return answered >= set(self.hostnames)

    def wait_until_ready(self, timeout: float = 30.0) -> None:
        """Every worker answers a ping within `timeout` (they start at the same time)."""
        deadline = time.monotonic() + timeout
        try:
            for worker in self.workers:
                worker.wait_until_ready(timeout=max(deadline - time.monotonic(), 0.5))
        except RuntimeError:
            self.stop()
            raise

    def log(self) -> str:
        """Every worker's log, record by record in time order (records of the same millisecond
        keep their worker's order)."""
        merged = [record for worker in self.workers for record in records(worker.log())]
        merged.sort(key=lambda record: record[0])
        return "".join(text for _, text in merged)

    def stop(self, timeout: float = 20.0) -> None:
        """Stops every worker as CeleryWorker.stop does, all at once."""
        for worker in self.workers:
            worker.ask_to_stop()
        for worker in self.workers:
            worker.wait_stopped(timeout)
