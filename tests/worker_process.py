"""A real `celery worker` subprocess, started and stopped by pid (tests and bench/ use it)."""

import contextlib
import os
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
        backend, say) on a queue no other worker consumes."""
        self.hostname = f"probe-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        self.log_path = log_path
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
        if self.is_alive():
            children = child_pids(self.pid)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                for pid in [self.pid, *children]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.process.wait()
        self.log_file.close()
