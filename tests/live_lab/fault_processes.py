"""Real processes the fault tests start, break and stop by pid: a redis-server of their own, a
uvicorn web process, and a learner talking to it over HTTP (tests/live_lab/test_faults.py).

The suite's own Redis (REDIS_URL) keeps serving the other tests: a fault test that stops or
restarts Redis does it to a redis-server started here, on a free loopback port.
"""

import contextlib
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
from django.conf import settings
from django.test import Client

from tests.conftest import OUTPUT_DIR, free_port, worker_env
from tests.worker_process import CeleryWorker, child_pids

LOGS = OUTPUT_DIR / "faults"


def wait_until(condition, what: str, timeout: float, every: float = 0.05):
    """condition()'s first true value, or AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout} s")


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


class WebProcess:
    """uvicorn serving the app, as the Procfile starts it, on the test database."""

    def __init__(self, name: str, *, env: dict | None = None):
        self.port = free_port()
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"uvicorn-{name}-{settings.RUN_MODE}.log"
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "config.asgi:application"]
                + ["--host", "127.0.0.1", "--port", str(self.port)],
                cwd=settings.BASE_DIR,
                env=env or worker_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self.answers, f"uvicorn answering (see {self.log_path})", 30)

    def answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"uvicorn exited; see {self.log_path}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: the process ends at once, without a word to anyone (as a crash would)."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Learner:
    """A signed-in learner's requests to a web process: session and CSRF cookies, no redirects
    followed. The session is made by the test client in the shared database."""

    def __init__(self, user, web: WebProcess):
        client = Client()
        client.force_login(user)
        self.cookies = {"sessionid": client.cookies["sessionid"].value}
        self.web = web

    def request(self, method: str, path: str, body: str | None = None, timeout: float = 20.0):
        """(status, headers, text) of one request."""
        connection = http.client.HTTPConnection("127.0.0.1", self.web.port, timeout=timeout)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, value = header.split(";", 1)[0].split("=", 1)
            self.cookies[name] = value
        return response.status, response.headers, text

    def fire(self, experiment_id: str, **fields) -> tuple[int, dict, str]:
        """GET the experiment's page (for its CSRF token), then POST its form."""
        status, _, page = self.request("GET", f"/lab/{experiment_id}/")
        assert status == 200, page
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = "&".join(f"{k}={v}" for k, v in {"csrfmiddlewaretoken": token, **fields}.items())
        return self.request("POST", f"/lab/{experiment_id}/", body)


class EventStream:
    """A run page's server-sent events, read over HTTP in a thread: each event with the
    monotonic time it arrived."""

    def __init__(self, learner: Learner, run_id: int):
        self.events: list[tuple[float, str, str]] = []  # (arrived at, name, data)
        self.error: Exception | None = None
        self.learner = learner
        self.path = f"/lab/runs/{run_id}/events"
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self) -> None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.learner.web.port, timeout=30)
            cookie = "; ".join(f"{k}={v}" for k, v in self.learner.cookies.items())
            connection.request("GET", self.path, headers={"Cookie": cookie})
            response = connection.getresponse()
            name, data = "", []
            for raw in response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: "):
                    data.append(line[len("data: ") :])
                elif not line and name:
                    self.events.append((time.monotonic(), name, "\n".join(data)))
                    if name == "done":
                        return
                    name, data = "", []
        except Exception as error:  # the test says what went wrong
            self.error = error

    def wait_until_done(self, timeout: float) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the stream did not end within {timeout} s"
        assert self.error is None, f"the stream broke: {self.error!r}"


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
