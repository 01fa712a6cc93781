"""The README's run command: `make run` brings up WEB_PROCESSES web processes and a worker, and Ctrl-C
stops every process."""

import contextlib
import http.client
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
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


def missing_page(url: str) -> tuple[int, str]:
    try:
        return get(url)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


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


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def web_processes(pids: set[int]) -> set[int]:
    """uvicorn's server processes: the children it spawned (not its resource tracker)."""
    supervisors = {pid for pid in pids if "-m uvicorn " in cmdline(pid)}
    return {
        pid
        for supervisor in supervisors
        for pid in descendants(supervisor)
        if "multiprocessing.spawn" in cmdline(pid)
    }


def socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        with contextlib.suppress(OSError):
            link = os.readlink(fd)
            if link.startswith("socket:["):
                found.add(link[len("socket:[") : -1])
    return found


def server_side_inode(port: int, client_port: int) -> str | None:
    """The inode of the server's end of the connection from `client_port` (/proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.rsplit(":", 1)[1], 16) == port and int(remote.rsplit(":", 1)[1], 16) == client_port:
            return fields[9]
    return None


def processes_that_answer(port: int, candidates: set[int], attempts: int = 200) -> set[int]:
    """Which of `candidates` answer /healthz, each request on a new connection: the kernel hands a
    connection to whichever process accepts it first, and the process holding the server's end
    of the still-open connection is the one that answered. Stops once every candidate has."""
    answered: set[int] = set()
    for _ in range(attempts):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            inode = server_side_inode(port, connection.sock.getsockname()[1])
            answered |= {pid for pid in candidates if response.status == 200 and inode in socket_inodes(pid)}
        finally:
            connection.close()
        if answered == candidates:
            break
    return answered


def isolated_environment(tmp_path: Path) -> dict:
    env = {**os.environ, "APP_RUNTIME_DIR": str(tmp_path / "runtime"), "WEB_PROCESSES": "2"}
    env.pop("APP_SQLITE_PATH", None)
    # `make run` migrates and loads the curriculum: on SQLite in its own runtime folder, never
    # into the PostgreSQL database DATABASE_URL names (the developer's) or the suite's test one.
    env.pop("DATABASE_URL", None)
    if settings.RUN_MODE == "redis":
        # Another database number: this worker must not take the test suite's tasks.
        db = int(settings.REDIS_URL.rsplit("/", 1)[1])
        env["REDIS_URL"] = re.sub(r"/\d+$", f"/{(db + 1) % 16}", settings.REDIS_URL)
    return env


def test_make_run_serves_the_seed_topic_from_two_web_processes_with_a_live_worker_and_ctrl_c_stops_everything(
    tmp_path,
):
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
            missing = missing_page(f"{base}/no-such-page/")
            processes = descendants(run.pid)
            web = web_processes(processes)
            answered = processes_that_answer(port, web)
        finally:
            # Ctrl-C: the terminal sends SIGINT to the whole foreground process group.
            os.killpg(run.pid, signal.SIGINT)
            run.wait(timeout=30)

    output = log_path.read_text()
    assert health["mode"] == settings.RUN_MODE
    assert status == 200
    assert "<strong>and</strong> REVOKED" in page
    assert f"http://127.0.0.1:{port}/" in output
    # A learner who mistypes an address gets the site's page, never Django's debug page.
    assert missing[0] == 404
    assert "There is nothing at this address" in missing[1]
    assert "URLconf" not in missing[1]
    assert "DEBUG = True" not in missing[1]
    assert len(web) == 2, f"WEB_PROCESSES=2 web processes: {web}; see {log_path}"
    assert answered == web, "each web process answered requests"
    assert len(processes) >= 6, "two web processes, their supervisor, the worker and its pool were running"
    left = still_running(processes, grace=5)
    assert left == [], f"processes left behind after Ctrl-C: {left}; see {log_path}"
    assert "SIGKILL" not in output, "every process stopped within honcho's grace period"


def procfile_line(name: str, procfile: Path = settings.BASE_DIR / "Procfile") -> str:
    for line in Path(procfile).read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.removeprefix(f"{name}:").strip()
    raise AssertionError(f"{procfile} has no {name}: line")


@pytest.mark.parametrize("procfile", ["Procfile", "deploy/Procfile.production"])
@pytest.mark.parametrize(
    ("name", "env", "message"),
    [
        ("web", {"WEB_PROCESSES": "all"}, "WEB_PROCESSES='all' must be a whole number from 1 to 256"),
        ("worker", {"WORKER_QUEUES": "celery,lba"}, "WORKER_QUEUES has 'lba'"),
    ],
)
def test_a_process_line_stops_with_a_message_naming_a_malformed_setting(
    procfile, name, env, message, tmp_path
):
    # As honcho runs a line: through a shell, the virtual environment first on PATH.
    done = subprocess.run(
        ["sh", "-c", procfile_line(name, settings.BASE_DIR / procfile)],
        cwd=settings.BASE_DIR,
        env={
            **os.environ,
            "APP_RUNTIME_DIR": str(tmp_path),
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "PORT": str(free_port()),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0
    assert message in done.stderr
