"""Real processes the fault tests start, break and stop by pid: a redis-server of their own and
workers (tests/live_lab/test_faults.py); web processes are tests/web_process.py's.

The suite's own Redis (REDIS_URL) keeps serving the other tests: a fault test that stops or
restarts Redis does it to a redis-server started here, on a free loopback port.
"""

import contextlib
import os
import signal
import subprocess
import tempfile
from pathlib import Path

import redis
from django.conf import settings

from tests.conftest import OUTPUT_DIR, free_port, worker_env
from tests.web_process import wait_until
from tests.worker_process import CeleryWorker, child_pids

LOGS = OUTPUT_DIR / "faults"


class RedisServer:
    """A redis-server on a free loopback port, persistence off, stopped and started by pid."""

    def __init__(self, name: str):
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="lab-faults-redis-")
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"redis-{name}.log"
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
                + ["--appendonly", "no", "--dir", self.folder],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_until(lambda: self.answers(client), f"redis-server on port {self.port} answering", timeout)

    @staticmethod
    def answers(client) -> bool:
        try:
            return client.ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def start_worker(name: str, *, env: dict | None = None) -> CeleryWorker:
    """A worker of its own, ready once its log says so (a worker on another Redis than the
    suite's does not answer the test process's ping)."""
    worker = CeleryWorker(env=env or worker_env(), log_path=LOGS / f"worker-{name}-{settings.RUN_MODE}.log")
    wait_until(lambda: "ready." in worker.log() or not worker.is_alive(), "the worker starting", 30)
    assert worker.is_alive(), f"the worker exited at start; see {worker.log_path}"
    return worker


def kill_whole_worker(worker: CeleryWorker) -> None:
    """SIGKILL the main process and every pool process: nothing more is stored or reported."""
    for pid in [worker.pid, *child_pids(worker.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.process.wait(10)


def log_of(path: Path) -> str:
    return path.read_text() if path.exists() else ""
