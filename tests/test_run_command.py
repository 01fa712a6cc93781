"""The README's run command: `make run` brings up web and worker, and Ctrl-C stops both."""

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import OUTPUT_DIR, free_port

pytestmark = pytest.mark.worker


def descendants(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found |= {child} | descendants(child)
    return found


def get(url: str, opener=None) -> tuple[int, str]:
    with (opener or urllib.request.build_opener()).open(url, timeout=5) as response:
        return response.status, response.read().decode()


def staff_session(base: str, env: dict, run: subprocess.Popen, timeout: float = 90):
    """An opener logged in as a staff account made in the app's database (only staff see the
    worker in /healthz). Waits for `make run` to have migrated and to serve the login page."""
    password = "a long staff password 31"
    deadline = time.monotonic() + timeout
    while True:
        assert run.poll() is None, "make run exited early"
        made = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "createsuperuser",
                "--noinput",
                "--username=staff",
                "--email=a@b.io",
            ],
            cwd=settings.BASE_DIR,
            env={**env, "DJANGO_SUPERUSER_PASSWORD": password},
            capture_output=True,
            text=True,
        )
        if made.returncode == 0:
            break
        assert time.monotonic() < deadline, f"no staff account after {timeout} s: {made.stderr}"
        time.sleep(0.5)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    while True:
        try:
            page = get(f"{base}/accounts/login/", opener)[1]
            break
        except OSError:
            assert time.monotonic() < deadline, "the web server never answered"
            time.sleep(0.5)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": "staff", "password": password, "csrfmiddlewaretoken": token})
    opener.open(urllib.request.Request(f"{base}/accounts/login/", data=form.encode()), timeout=5).close()
    return opener


def wait_for_live_worker(base: str, opener, run: subprocess.Popen, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    health = {}
    while time.monotonic() < deadline:
        assert run.poll() is None, "make run exited early"
        try:
            health = json.loads(get(f"{base}/healthz", opener)[1])
        except OSError:
            health = {}
        if health.get("worker"):
            return health
        time.sleep(0.5)
    raise AssertionError(f"no live worker after {timeout} s; last health: {health}")


def still_running(pids: set[int], grace: float) -> list[int]:
    """The pids still alive after `grace` seconds (a pool child may exit just after its parent)."""
    deadline = time.monotonic() + grace
    while True:
        alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def isolated_environment(tmp_path: Path) -> dict:
    env = {**os.environ, "APP_RUNTIME_DIR": str(tmp_path / "runtime")}
    env.pop("APP_SQLITE_PATH", None)
    if settings.RUN_MODE == "redis":
        # Another database number: this worker must not take the test suite's tasks.
        db = int(settings.REDIS_URL.rsplit("/", 1)[1])
        env["REDIS_URL"] = re.sub(r"/\d+$", f"/{(db + 1) % 16}", settings.REDIS_URL)
    return env


def test_make_run_serves_the_seed_topic_with_a_live_worker_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = OUTPUT_DIR / f"make-run-{settings.RUN_MODE}.log"
    log_path.parent.mkdir(exist_ok=True)
    env = isolated_environment(tmp_path)
    with open(log_path, "w") as log:
        run = subprocess.Popen(
            ["make", "run", f"PORT={port}", f"VENV={sys.prefix}"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a terminal's foreground job
        )
        try:
            health = wait_for_live_worker(base, staff_session(base, env, run), run)
            status, page = get(f"{base}/topics/task-results-in-django/")
            processes = descendants(run.pid)
        finally:
            # Ctrl-C: the terminal sends SIGINT to the whole foreground process group.
            os.killpg(run.pid, signal.SIGINT)
            run.wait(timeout=30)

    output = log_path.read_text()
    assert health["mode"] == settings.RUN_MODE
    assert status == 200
    assert "<strong>and</strong> REVOKED" in page
    assert f"http://127.0.0.1:{port}/" in output
    assert len(processes) >= 4, "web, worker and the worker's pool were running"
    left = still_running(processes, grace=5)
    assert left == [], f"processes left behind after Ctrl-C: {left}; see {log_path}"
    assert "SIGKILL" not in output, "every process stopped within honcho's grace period"
