"""Real uvicorn web processes serving the app, and learners talking to them over HTTP.

Started and stopped by pid, as the Procfile runs the web server (tests and bench/ use them).
"""

import http.client
import re
import subprocess
import sys
import threading
import time
import urllib.parse

from django.conf import settings
from django.test import Client

from tests.conftest import OUTPUT_DIR, free_port, worker_env

LOGS = OUTPUT_DIR / "web"


def wait_until(condition, what: str, timeout: float, every: float = 0.05):
    """condition()'s first true value, or AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout} s")


class WebProcess:
    """uvicorn serving the app, as the Procfile starts it, on the test database."""

    def __init__(self, name: str, *, env: dict | None = None):
        """`env`: the process's environment; by default tests/conftest.worker_env()'s."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
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
    """A person's requests to a web process: session and CSRF cookies, no redirects followed.
    A signed-in learner's session is made by the test client in the shared database; with
    `user` None, an anonymous visitor."""

    def __init__(self, user, web: WebProcess):
        self.user = user
        self.cookies = {}
        if user is not None:
            client = Client()
            client.force_login(user)
            self.cookies["sessionid"] = client.cookies["sessionid"].value
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
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields})
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
