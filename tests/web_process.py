"""A real uvicorn web process serving the app, started and stopped by pid (tests use it)."""

import http.cookiejar
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from django.conf import settings


class WebProcess:
    """uvicorn serving config.asgi, as the Procfile runs it, on a port of its own."""

    def __init__(self, *, env: dict, port: int, log_path: Path):
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_until_serving(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"uvicorn did not answer in {timeout} s; see {self.log_path}")

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (uvicorn's graceful stop), or SIGKILL: the process dies mid-work."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


class Browser:
    """A person's HTTP session against a web process: cookies, the CSRF token, forms."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str, timeout: float = 20.0) -> tuple[int, str]:
        try:
            with self.opener.open(self.base_url + path, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def submit(self, path: str, fields: dict, timeout: float = 20.0) -> tuple[int, str, str]:
        """GET the form's page for its CSRF token, POST the fields; (status, final URL, body)."""
        _, page = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(self.base_url + path, data=data, headers={"Referer": self.base_url})
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return response.status, response.url, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.url, error.read().decode()

    def log_in(self, username: str, password: str) -> None:
        status, url, _ = self.submit("/accounts/login/", {"username": username, "password": password})
        if status != 200 or "/accounts/login/" in url:
            raise AssertionError(f"{username} could not log in (status {status}, at {url})")
