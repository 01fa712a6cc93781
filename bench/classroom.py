"""A class at once: N learners through the whole app, against the app started as deployed.

    .venv/bin/python bench/classroom.py [--learners 50] [--mode embedded|redis|both]
        [--web-processes N] [--database-url postgresql://... [--no-sqlite]] [--cards 5]
        [--arrival-seconds S] [--together] [--task-seconds 2] [--runs 1]

For each mode (and each database: SQLite, plus the one --database-url names) it starts, in a
throwaway runtime folder, what production starts: the web command of deploy/Procfile.production
(uvicorn, no access log, its processes from --web-processes, default the number of cores) and a
real Celery worker with 8 processes; Redis mode gets its own redis-server. The app runs as in
production (DJANGO_DEBUG=false), over plain HTTP on loopback (DJANGO_HTTPS=false). Accounts are
made in the database up front (signups are limited per address), all with one password hash, so
each login still checks the password hash as a real one does.

Each learner, as a person would, with a think time of 0.5-2 s between two actions:
logs in through the login form; opens the home page and a topic; rates --cards flashcards;
takes the topic's 10-question test (each answer autosaved when chosen, then "Save and next"),
submits it and opens the result; opens the lab, fires the "success" experiment (its task sleeps
--task-seconds) and reads the run's event stream to its end.

The class arrives over --arrival-seconds (default 0.3 s per learner: 15 s for 50, 60 s for 200),
one learner at a time at even intervals, and each starts the lesson as soon as logged in, as
learners walking into a room do. The web CPU of a login (its password hash by design) is measured
apart, on 10 logins of extra accounts one after another before the class, and taken off the
total to give the CPU per request of the rest. With --together, the logins come first (spread
over --arrival-seconds), and the lesson starts once everyone is in (a teacher's "now begin"):
the CPU of the logins and of the rest are then measured apart directly (the runs before
December 3, 18:00 used this, with 5 s for every class size).

It prints, per page, p50/p95/p99 and errors; requests per second; web CPU per request (user +
system time of every web process, from /proc, over the lesson, divided by its requests; the
logins apart); SQL statements per open event stream per second and per request (counted in
the web processes by bench/querycount/sitecustomize.py, a bench-only hook); and the class over
time, in 10 s windows: requests answered and their p50/p95/slowest, logins answered, and the
cores the web processes and the whole machine used, so that a slow p99 can be put next to
what the machine was doing then. At the end it
checks, in the database, that every rating, answer, submission and lab run the server
acknowledged is stored exactly once. docs/PERFORMANCE.md records a run.

With --runs N each mode and database gets N classes, one after another, and then the pages'
percentiles over all of them: with 50 learners most pages have 50 requests a class, so one
class's p99 is its second-slowest request, and one slow moment decides it.
"""

import argparse
import collections
import contextlib
import gzip
import http.client
import http.cookies
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.modes import free_port, percentile, run_child_in_mode  # noqa: E402

PASSWORD = "classroom-bench-password-8d1f"
THINK = (0.5, 2.0)

# ---- the parent: one child process per mode and database, then the tables --------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=50)
    parser.add_argument("--mode", choices=["embedded", "redis", "both"], default="both")
    parser.add_argument(
        "--web-processes", type=int, default=os.cpu_count(), help="uvicorn processes (default: cores)"
    )
    parser.add_argument("--database-url", default="", help="also run on this database (PostgreSQL)")
    parser.add_argument(
        "--no-sqlite", action="store_true", help="with --database-url: run on that database only"
    )
    parser.add_argument("--cards", type=int, default=5, help="flashcards each learner rates")
    parser.add_argument(
        "--arrival-seconds",
        type=float,
        default=None,
        help="seconds over which the learners arrive and log in (default: 0.3 per learner)",
    )
    parser.add_argument(
        "--together", action="store_true", help="everyone logs in first; the lesson starts when all are in"
    )
    parser.add_argument(
        "--task-seconds", type=float, default=2.0, help="how long the lab run's task sleeps (0.1 to 10)"
    )
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument(
        "--no-compression", action="store_true", help="do not ask for gzip (to measure what it costs)"
    )
    parser.add_argument(
        "--runs", type=int, default=1, help="classes per mode and database, one after another"
    )
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arrival_seconds is None:
        args.arrival_seconds = 0.3 * args.learners
    if (
        args.learners < 1
        or args.web_processes < 1
        or args.runs < 1
        or args.cards < 0
        or args.arrival_seconds < 0
    ):
        parser.error(
            "--learners, --web-processes and --runs must be at least 1; "
            "--cards and --arrival-seconds not negative"
        )
    if not 0.1 <= args.task_seconds <= 10:
        parser.error("--task-seconds must be from 0.1 to 10 (the success experiment's limits)")
    if args.database_url and not re.match(r"postgres(ql)?://", args.database_url):
        parser.error(f"--database-url={args.database_url!r} is not a postgresql:// URL")
    if args.child:
        print(json.dumps(child(args)))
        return
    arrival = "all logged in, then the lesson" if args.together else "each starts the lesson once in"
    print(f"the class arrives over {args.arrival_seconds:.0f} s ({arrival})", file=sys.stderr)
    modes = ["embedded", "redis"] if args.mode == "both" else [args.mode]
    databases = ["sqlite", "postgresql"] if args.database_url else ["sqlite"]
    if args.no_sqlite:
        if not args.database_url:
            parser.error("--no-sqlite needs --database-url")
        databases.remove("sqlite")
    # Settings are read from the environment: each child gets exactly the database it measures.
    os.environ.pop("DATABASE_URL", None)
    results = {}
    for database in databases:
        for mode in modes:
            print(f"measuring {mode} mode on {database}, {args.learners} learners…", file=sys.stderr)
            env = {
                "DJANGO_DEBUG": "false",
                "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-use-0123456789",
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                # Plain HTTP on loopback: no TLS proxy in front, so no redirect or secure cookies.
                "DJANGO_HTTPS": "false",
                # Every learner logs in from 127.0.0.1: a class behind one NAT address.
            }
            if database == "postgresql":
                env["DATABASE_URL"] = args.database_url
            classes = []
            for number in range(1, args.runs + 1):
                if args.runs > 1:
                    print(f"class {number} of {args.runs}…", file=sys.stderr)
                classes.append(run_child_in_mode(__file__, mode, env=env))
                report(f"{mode}, {database}", classes[-1])
            results[f"{mode}, {database}"] = classes[0] if args.runs == 1 else classes
            if args.runs > 1:
                report_pooled(f"{mode}, {database}", classes)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


PAGE_ORDER = [
    "login form",
    "login POST",
    "home",
    "topic",
    "cards",
    "card rating",
    "test page",
    "test start",
    "answer autosave",
    "answer save+next",
    "submit",
    "result",
    "lab",
    "experiment",
    "lab fire",
    "run page",
    "stream first event",
]


def print_page_table(pages: dict[str, list], errors: dict[str, int]) -> None:
    """Per page: requests answered, p50/p95/p99 and the slowest in ms, and errors."""
    print(f"{'page':20} {'requests':>8} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8} {'errors':>7}")
    for page in PAGE_ORDER + sorted(set(pages) - set(PAGE_ORDER)):
        if page not in pages:
            continue
        times = pages[page]
        if times:
            p50, p95, p99 = (percentile(times, share) * 1000 for share in (0.5, 0.95, 0.99))
            print(
                f"{page:20} {len(times):8d} {p50:6.0f}ms {p95:6.0f}ms {p99:6.0f}ms "
                f"{max(times) * 1000:6.0f}ms {errors.get(page, 0):7d}"
            )
        else:
            print(f"{page:20} {0:8d} {'':>8} {'':>8} {'':>8} {'':>8} {errors.get(page, 0):7d}")


def worst_p99_but_login(pages: dict) -> tuple[float, str]:
    return max(
        (percentile(times, 0.99), page)
        for page, times in pages.items()
        if times and not page.startswith("login")
    )


def report_pooled(name: str, classes: list[dict]) -> None:
    """Each page's percentiles over the requests of every class, and each class's worst p99."""
    pages: dict[str, list] = {}
    errors: collections.Counter = collections.Counter()
    for figures in classes:
        for page, times in figures["pages"].items():
            pages.setdefault(page, []).extend(times)
        errors.update(figures["errors"])
    print(f"\n== {name}: {len(classes)} classes of {classes[0]['learners']} learners, every request ==")
    print_page_table(pages, errors)
    p99, page = worst_p99_but_login(pages)
    each = ", ".join(
        f"{1000 * worst:.0f} ms ({where})"
        for worst, where in map(worst_p99_but_login, (f["pages"] for f in classes))
    )
    print(f"worst p99 but login: {1000 * p99:.0f} ms ({page}) over every request; each class's: {each}")
    print(
        f"errors: {sum(errors.values())}; "
        f"lost: {sum(f['lost'] for f in classes)}; "
        f"stored twice or unacknowledged extra: {sum(f['extra'] for f in classes)}; web CPU per request: "
        + ", ".join(
            f"{1000 * f['lesson']['web_cpu'] / max(1, f['lesson']['requests']):.1f} ms" for f in classes
        )
    )


def report(name: str, figures: dict) -> None:
    print(f"\n== {name}: {figures['learners']} learners, {figures['web_processes']} web processes ==")
    print_page_table(figures["pages"], figures["errors"])
    streams = figures["stream_seconds"]
    if streams:
        print(
            f"{'stream to its end':20} {len(streams):8d} {percentile(streams, 0.5) * 1000:6.0f}ms "
            f"{percentile(streams, 0.95) * 1000:6.0f}ms {percentile(streams, 0.99) * 1000:6.0f}ms"
        )
    lesson, logins = figures["lesson"], figures["logins"]
    print(
        f"errors: {sum(figures['errors'].values())}; lost: {figures['lost']}; stored twice or "
        f"unacknowledged extra: {figures['extra']}  (checked: {figures['checked']})"
    )
    for problem in figures["problems"][:10] + figures["store_problems"][:10]:
        print(f"  {problem}")
    print(
        f"lesson: {lesson['requests']} requests in {lesson['seconds']:.1f} s = "
        f"{lesson['requests'] / lesson['seconds']:.1f} requests/s; web CPU {lesson['web_cpu']:.1f} s = "
        f"{1000 * lesson['web_cpu'] / max(1, lesson['requests']):.1f} ms per request "
        f"(worker {lesson['worker_cpu']:.1f} s, this bench {lesson['bench_cpu']:.1f} s)"
    )
    if figures.get("together", True):
        print(
            f"logins: {logins['requests']} requests in {logins['seconds']:.1f} s; "
            f"web CPU {logins['web_cpu']:.1f} s "
            f"= {1000 * logins['web_cpu'] / max(1, logins['requests']):.1f} ms per request (form and POST)"
        )
    else:
        print(
            f"the class arrived over {figures['arrival_seconds']:.0f} s, each learner starting once in; "
            f"all logged in (or refused) after {logins['seconds']:.1f} s. Web CPU of a login (form "
            f"and POST, {WARM_UP_LOGINS - 1} measured one at a time before): "
            f"{1000 * figures['login_cpu']:.0f} ms, taken off the lesson's CPU above "
            f"(with them: {lesson['web_cpu_with_logins']:.1f} s)"
        )
    if figures.get("timeline"):
        print_timeline(figures["timeline"])
    sent, plain = figures["bytes"]["sent"], figures["bytes"]["decompressed"]
    print(f"response bodies: {sent / 1e6:.1f} MB sent for {plain / 1e6:.1f} MB of pages and fragments")
    queries = figures["queries"]
    stream_seconds = sum(streams)
    if stream_seconds:
        print(
            f"SQL statements: {queries.get('stream', [0, 0])[1]} by {len(streams)} event streams open "
            f"{stream_seconds:.0f} s in all = "
            f"{queries.get('stream', [0, 0])[1] / stream_seconds:.1f} per open stream per second "
            f"({queries.get('stream', [0, 0])[1] / len(streams):.1f} per stream); "
            f"background threads {queries.get('background', [0, 0])[1]}"
        )
    pages = {label: each for label, each in queries.items() if label not in ("stream", "background")}
    per_request = ", ".join(
        f"{label} {statements / requests:.1f}"
        for label, (requests, statements) in sorted(pages.items())
        if requests
    )
    print(f"SQL statements per request, by route: {per_request}")
    if collector := figures.get("collector"):  # {generation: [passes, seconds, longest]}
        young, full = (collector["0"], collector["1"]), collector["2"]
        print(
            f"garbage collector, web processes (each pass holds the process's interpreter lock): "
            f"{full[0]} full passes, the longest {1000 * full[2]:.0f} ms; {sum(g[0] for g in young)} "
            f"young ones, the longest {1000 * max(g[2] for g in young):.0f} ms; "
            f"{sum(each[1] for each in collector.values()):.2f} s in all"
        )


# ---- the child: one mode, one database, everything real ----------------------------------------


def child(args) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from tests.worker_process import CeleryWorker

    expected = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
    if connection.vendor != expected:
        raise SystemExit(
            f"DATABASE_URL is {'set' if expected == 'postgresql' else 'unset'} but the settings chose "
            f"{connection.vendor}: this checkout's settings do not read DATABASE_URL."
        )
    call_command("migrate", verbosity=0)
    call_command("content", "sync", stdout=open(os.devnull, "w"))  # noqa: SIM115
    runtime = Path(settings.RUNTIME_DIR)
    run_id = f"c{int(time.time()) % 100000}"
    usernames = make_accounts(run_id, args.learners + WARM_UP_LOGINS)
    usernames, warm_up = usernames[:-WARM_UP_LOGINS], usernames[-WARM_UP_LOGINS:]
    topics = study_topics()
    env = {**os.environ}
    worker = CeleryWorker(env=env, log_path=runtime / "worker.log", concurrency=8)
    counts_dir = Path(tempfile.mkdtemp(prefix="bench-queries-", dir=runtime))
    port = free_port()
    web = start_web(port, args.web_processes, counts_dir, runtime / "web.log")
    base = ("127.0.0.1", port)
    try:
        worker.wait_until_ready()
        wait_for_web(web, base, args.web_processes)
        login_cpu = measure_login_cpu(base, warm_up, web.pid)
        results = run_class(args, base, usernames, topics, web.pid, worker.pid)
        results["login_cpu"] = login_cpu
        if not args.together:
            logins = len(results["pages"].get("login POST", [])) + results["errors"].get("login POST", 0)
            results["lesson"]["web_cpu_with_logins"] = results["lesson"]["web_cpu"]
            results["lesson"]["web_cpu"] -= logins * login_cpu
        time.sleep(1.2)  # the query counters are written every 0.5 s
        results["queries"] = read_query_counts(counts_dir)
        results["collector"] = read_collector_times(counts_dir)
    finally:
        web.terminate()
        try:
            web.wait(15)
        except subprocess.TimeoutExpired:
            web.kill()
            web.wait(10)
        worker.stop()
    results |= check_stored(results.pop("acknowledged"))
    results |= {"learners": args.learners, "web_processes": args.web_processes, "vendor": connection.vendor}
    return results


def make_accounts(run_id: str, count: int) -> list[str]:
    """Accounts made up front, as bench/lab.py does, with one password hash for all of them."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User

    hashed = make_password(PASSWORD)
    names = [f"{run_id}-{n}" for n in range(count)]
    User.objects.bulk_create(User(username=name, password=hashed) for name in names)
    return names


def study_topics() -> list[str]:
    """Topics with flashcards and test questions."""
    from learn.models import Topic

    topics = [
        topic.slug
        for topic in Topic.active.all()
        if topic.flashcards.filter(archived_at__isnull=True).exists()
        and topic.questions.filter(archived_at__isnull=True).exists()
    ]
    if not topics:
        raise SystemExit("no topic has flashcards and questions: is content/ synced?")
    return topics


def procfile_web_command(processes: int) -> str:
    """Production's web command (deploy/Procfile.production: the development Procfile's, without
    the access log that the TLS proxy keeps); --workers added when it names no process count."""
    for line in (ROOT / "deploy" / "Procfile.production").read_text().splitlines():
        if line.startswith("web:"):
            command = line.removeprefix("web:").strip()
            if "--workers" not in command:
                print(
                    f"  (the Procfile's web command has no --workers: adding --workers {processes})",
                    file=sys.stderr,
                )
                command += f" --workers {processes}"
            return command
    raise SystemExit("the Procfile has no web: line")


def start_web(port: int, processes: int, counts_dir: Path, log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_PROCESSES": str(processes),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        # The bench-only statement counter (bench/querycount/sitecustomize.py).
        "PYTHONPATH": str(ROOT / "bench" / "querycount"),
        "BENCH_QUERY_COUNT_DIR": str(counts_dir),
    }
    command = procfile_web_command(processes)
    return subprocess.Popen(
        ["bash", "-c", command],
        cwd=ROOT,
        env=env,
        stdout=open(log_path, "w"),  # noqa: SIM115 - lives as long as the server
        stderr=subprocess.STDOUT,
    )


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        each = todo.pop()
        pids.append(each)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{each}/task").iterdir():
                todo.extend(int(p) for p in (task / "children").read_text().split())
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and of everything under it, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for each in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def wait_for_web(web: subprocess.Popen, base: tuple, processes: int, timeout: float = 60) -> None:
    """Until the server answers and (with several processes) every process has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if web.poll() is not None:
            raise RuntimeError("the web server exited at start; see web.log in the runtime folder")
        try:
            connection = http.client.HTTPConnection(*base, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                children = len(process_tree(web.pid)) - 1
                if processes == 1 or children >= processes:
                    time.sleep(2 if processes > 1 else 0)  # the last ones import Django
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the web server did not answer in {timeout} s")


def read_query_counts(folder: Path) -> dict:
    totals: dict[str, list[int]] = {}
    for path in folder.glob("*.json"):
        for label, (requests, statements) in json.loads(path.read_text()).items():
            each = totals.setdefault(label, [0, 0])
            each[0] += requests
            each[1] += statements
    return totals


def read_collector_times(folder: Path) -> dict:
    """The garbage collector's passes in the web processes, by generation (2: full passes):
    [passes, seconds, longest pass in seconds] (bench/querycount/sitecustomize.py)."""
    totals: dict[str, list] = {}
    for path in folder.glob("*.gc"):
        for generation, (passes, seconds, longest) in json.loads(path.read_text()).items():
            each = totals.setdefault(generation, [0, 0.0, 0.0])
            each[0] += passes
            each[1] += seconds
            each[2] = max(each[2], longest)
    return totals


# ---- a learner: a person's browser ---------------------------------------------------------------


class Refused(Exception):
    """A response the learner cannot go on from (recorded as an error of its page)."""


class Browser:
    """One learner's browser: a keep-alive connection, cookies, the last CSRF token seen."""

    def __init__(self, base: tuple, record, *, gzip_accepted: bool):
        self.base = base
        self.gzip_accepted = gzip_accepted
        self.wire_bytes = self.plain_bytes = 0  # response bodies as sent, and decompressed
        self.record = record
        self.cookies: dict[str, str] = {}
        self.token = ""
        self.connection = None

    def request(self, page: str, method: str, path: str, fields=None, *, htmx=False, expect=(200,)):
        """One request, timed; returns (status, headers, body). Other statuses raise Refused."""
        body = urllib.parse.urlencode(fields, doseq=True) if fields is not None else None
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if htmx:
            headers["HX-Request"] = "true"
        if self.gzip_accepted:
            headers["Accept-Encoding"] = "gzip, deflate, br"  # what a browser sends
        started = time.monotonic()
        try:
            try:
                response = self.send(method, path, body, headers)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed the idle keep-alive connection (uvicorn after 5 s) just as
                # the request went out: a browser sends it again on a new connection.
                self.connection = None
                response = self.send(method, path, body, headers)
            raw = response.read()
            self.wire_bytes += len(raw)
            if response.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            self.plain_bytes += len(raw)
            text = raw.decode()
        except (OSError, http.client.HTTPException) as error:
            self.connection = None
            self.record(page, time.monotonic() - started, f"{method} {path}: {error!r}")
            raise Refused(page) from error
        took = time.monotonic() - started
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = http.cookies.SimpleCookie(header)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
        if response.status not in expect:
            self.record(page, took, f"{method} {path}: {response.status} {text[:200]!r}")
            raise Refused(page)
        self.record(page, took, None)
        if token := re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text):
            self.token = token.group(1)
        return response.status, response.headers, text

    def send(self, method, path, body, headers) -> http.client.HTTPResponse:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(*self.base, timeout=60)
        self.connection.request(method, path, body=body, headers=headers)
        return self.connection.getresponse()

    def get(self, page, path, **options):
        return self.request(page, "GET", path, **options)

    def post(self, page, path, fields, **options):
        return self.request(page, "POST", path, {**fields, "csrfmiddlewaretoken": self.token}, **options)

    def stream(self, path: str) -> float:
        """Read an event stream to its `done` event; the seconds it was open."""
        started = time.monotonic()
        connection = http.client.HTTPConnection(*self.base, timeout=120)
        try:
            headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
            if self.gzip_accepted:
                headers["Accept-Encoding"] = "gzip, deflate, br"  # EventSource sends it too
            connection.request("GET", path, headers={**headers, "Accept": "text/event-stream"})
            response = connection.getresponse()
            if response.headers.get("Content-Encoding"):
                self.record("stream first event", time.monotonic() - started, f"{path}: compressed")
                raise Refused("stream")
            if response.status != 200:
                self.record("stream first event", time.monotonic() - started, f"{path}: {response.status}")
                raise Refused("stream")
            first = True
            while True:
                line = response.fp.readline()
                if not line:
                    self.record(
                        "stream first event", time.monotonic() - started, f"{path}: ended without done"
                    )
                    raise Refused("stream")
                if first and line.startswith(b"event:"):
                    self.record("stream first event", time.monotonic() - started, None)
                    first = False
                if line.strip() == b"event: done":
                    return time.monotonic() - started
        except (OSError, http.client.HTTPException) as error:
            self.record("stream first event", time.monotonic() - started, f"{path}: {error!r}")
            raise Refused("stream") from error
        finally:
            connection.close()


def think(rng: random.Random) -> None:
    time.sleep(rng.uniform(*THINK))


def log_in(browser: Browser, username: str) -> None:
    browser.get("login form", "/accounts/login/")
    fields = {"username": username, "password": PASSWORD, "next": ""}
    browser.post("login POST", "/accounts/login/", fields, expect=(302,))


def lesson(browser: Browser, rng: random.Random, topic: str, args, acknowledged: dict) -> list[float]:
    """Everything after the login; acknowledged is filled in as the server acknowledges."""
    browser.get("home", "/")
    think(rng)
    browser.get("topic", f"/topics/{topic}/")
    think(rng)
    rate_cards(browser, rng, topic, args.cards, acknowledged)
    take_test(browser, rng, topic, acknowledged)
    think(rng)
    browser.get("lab", "/lab/")
    think(rng)
    browser.get("experiment", "/lab/success/")
    think(rng)
    fields = {
        "x": rng.randint(1, 9),
        "y": rng.randint(1, 9),
        # 2 s by default: the run page stays open a while, as a learner watches it
        "seconds": args.task_seconds,
        "prediction": "PENDING, SUCCESS",
    }
    _, headers, _ = browser.post("lab fire", "/lab/success/", fields, expect=(302,))
    run_path = headers["Location"]
    acknowledged["runs"].append(int(run_path.rstrip("/").rsplit("/", 1)[-1]))
    browser.get("run page", run_path)
    return [browser.stream(run_path.rstrip("/") + "/events")]


def rate_cards(browser: Browser, rng: random.Random, topic: str, cards: int, acknowledged: dict) -> None:
    _, _, page = browser.get("cards", f"/topics/{topic}/cards/")
    for _ in range(cards):
        card = re.search(r'name="card" value="(\d+)"', page)
        reviews = re.search(r'name="reviews" value="(\d+)"', page)
        if not card or not reviews:
            return  # all caught up
        think(rng)  # reads the card, presses Space, thinks, rates
        fields = {"card": card.group(1), "reviews": reviews.group(1), "rating": rng.randint(1, 4)}
        _, _, page = browser.post("card rating", f"/topics/{topic}/cards/rate/", fields, htmx=True)
        # The panel's Undo names the rating just stored: the server's acknowledgement.
        log = re.search(r'name="review" value="(\d+)"', page)
        if not log:
            raise Refused("card rating: the panel did not offer to undo the rating")
        acknowledged["ratings"].append(int(log.group(1)))


QUESTION_FORM = re.compile(r'action="/attempts/(\d+)/questions/(\d+)/"')


def take_test(browser: Browser, rng: random.Random, topic: str, acknowledged: dict) -> None:
    test_path = f"/topics/{topic}/test/"
    think(rng)
    _, _, page = browser.get("test page", test_path)
    if not QUESTION_FORM.search(page):
        browser.post("test start", test_path, {}, expect=(302,))
        _, _, page = browser.get("test page", test_path)
    attempt = None
    for _ in range(12):  # ten questions; bounded whatever the pages say
        form = QUESTION_FORM.search(page)
        if not form:
            break
        attempt, position = int(form.group(1)), int(form.group(2))
        options = re.findall(r'name="options" value="([^"]+)"', page)
        choice = rng.choice(options)
        certainty = rng.choice(["low", "medium", "high"])
        path = f"/attempts/{attempt}/questions/{position}/"
        think(rng)  # reads the question, picks an option and a certainty: htmx saves it on change
        browser.post("answer autosave", path, {"options": choice, "certainty": certainty}, htmx=True)
        acknowledged["answers"][(attempt, position)] = choice
        think(rng)
        fields = {"options": choice, "certainty": certainty, "next": "1"}
        _, _, page = browser.post("answer save+next", path, fields, htmx=True)
    if attempt is None:
        raise Refused("test: no question")
    think(rng)
    browser.post("submit", f"/attempts/{attempt}/submit/", {}, expect=(302,))
    acknowledged["submits"].append(attempt)
    browser.get("result", f"/attempts/{attempt}/")


WARM_UP_LOGINS = 10
LOGIN_PAGES = ("login form", "login POST")


def measure_login_cpu(base, usernames: list[str], web_pid: int) -> float:
    """The web's CPU seconds per login (its form and its POST), from logins one at a time."""

    def record(page, took, error):
        if error is not None:
            raise SystemExit(f"a warm-up login failed: {page}: {error}")

    log_in(Browser(base, record, gzip_accepted=True), usernames[0])  # the processes' first pages
    before = cpu_seconds(web_pid)
    for username in usernames[1:]:
        log_in(Browser(base, record, gzip_accepted=True), username)
    return (cpu_seconds(web_pid) - before) / (len(usernames) - 1)


def run_class(args, base, usernames, topics, web_pid, worker_pid) -> dict:
    pages: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    error_lines: list[str] = []
    lock = threading.Lock()
    counts = {"login": 0, "lesson": 0}
    logins_done = [0]  # login POSTs, answered or not
    clock = Clock()

    def record(page: str, took: float, error: str | None) -> None:
        with lock:
            counts["login" if page in LOGIN_PAGES else "lesson"] += 1
            if page == "login POST":
                logins_done[0] += 1
            if error is None:
                pages.setdefault(page, []).append(took)
                clock.answered(page, took)
            else:
                errors[page] = errors.get(page, 0) + 1
                if len(error_lines) < 20:
                    error_lines.append(f"{page}: {error}")

    acknowledged = {n: {"ratings": [], "answers": {}, "submits": [], "runs": []} for n in usernames}
    stream_seconds: list[float] = []
    transferred = [0, 0]  # response bytes as sent, and decompressed (event streams aside)
    logged_in = threading.Barrier(len(usernames) + 1)
    begin = threading.Event()
    if not args.together:
        begin.set()

    def learner(index: int, username: str) -> None:
        rng = random.Random(f"{args.seed}-{index}")
        browser = Browser(base, record, gzip_accepted=not args.no_compression)
        time.sleep(args.arrival_seconds * index / len(usernames))
        ok = True
        try:
            log_in(browser, username)
        except Refused:
            ok = False
        except Exception:
            ok = False
            record("login POST", 0.0, traceback.format_exc(limit=3))
        if args.together:
            logged_in.wait()
        begin.wait()
        if not ok:
            return
        think(rng)
        try:
            seconds = lesson(browser, rng, rng.choice(topics), args, acknowledged[username])
            with lock:
                stream_seconds.extend(seconds)
        except Refused:
            pass
        except Exception:
            record("bench", 0.0, traceback.format_exc(limit=3))
        finally:
            with lock:
                transferred[0] += browser.wire_bytes
                transferred[1] += browser.plain_bytes

    threads = [threading.Thread(target=learner, args=(n, name)) for n, name in enumerate(usernames)]

    def now():
        return cpu_seconds(web_pid), cpu_seconds(worker_pid), os.times(), time.monotonic()

    web0, worker0, mine0, started = now()
    clock.start(web_pid)
    for thread in threads:
        thread.start()
    if args.together:
        logged_in.wait(timeout=600)
    else:
        while logins_done[0] < len(usernames) and time.monotonic() - started < 600:
            time.sleep(0.05)
    web1, worker1, mine1, between = now()
    login_requests = counts["login"]
    begin.set()
    for thread in threads:
        thread.join(timeout=900)
    web2, worker2, mine2, ended = now()
    clock.stop()
    logins_seconds = between - started
    if not args.together:
        # The lesson overlapped the arrivals: the whole run, less the logins at their measured
        # cost (measure_login_cpu); requests and seconds from the first arrival.
        web1, worker1, mine1, between = web0, worker0, mine0, started

    def bench(a, b):
        return (b.user + b.system) - (a.user + a.system)

    return {
        "pages": pages,
        "errors": errors,
        "problems": error_lines,
        "stream_seconds": stream_seconds,
        "bytes": {"sent": transferred[0], "decompressed": transferred[1]},
        "logins": {
            "requests": login_requests,
            "seconds": logins_seconds,
            "web_cpu": web1 - web0,
            "worker_cpu": worker1 - worker0,
            "bench_cpu": bench(mine0, mine1),
        },
        "together": args.together,
        "arrival_seconds": args.arrival_seconds,
        "timeline": clock.windows(),
        "lesson": {
            "requests": counts["lesson"],
            "seconds": ended - between,
            "web_cpu": web2 - web1,
            "worker_cpu": worker2 - worker1,
            "bench_cpu": bench(mine1, mine2),
        },
        "acknowledged": {
            name: {**each, "answers": [[a, p, c] for (a, p), c in each["answers"].items()]}
            for name, each in acknowledged.items()
        },
    }


class Clock:
    """The class over time, in windows of WINDOW_SECONDS: when were requests slow, and was the
    machine (or the web) busy then. A request counts in the window it was answered in; each
    second a sampler reads the web processes' CPU and the whole machine's from /proc."""

    WINDOW_SECONDS = 10

    def __init__(self):
        self.answers: list[tuple[float, str, float]] = []  # (answered at, page, seconds)
        self.samples: list[tuple[float, float, float]] = []  # (at, web CPU s, machine busy s)
        self.done = threading.Event()
        self.zero = time.monotonic()

    def start(self, web_pid: int) -> None:
        self.zero = time.monotonic()
        self.sampler = threading.Thread(target=self.sample, args=(web_pid,), daemon=True)
        self.sampler.start()

    def answered(self, page: str, took: float) -> None:  # under the caller's lock
        self.answers.append((time.monotonic() - self.zero, page, took))

    def sample(self, web_pid: int) -> None:
        while True:
            self.samples.append((time.monotonic() - self.zero, cpu_seconds(web_pid), machine_busy_seconds()))
            if self.done.wait(1.0):
                return

    def stop(self) -> None:
        self.done.set()
        self.sampler.join(5)

    def windows(self) -> list[dict]:
        """Per window: lesson requests answered, their p50/p95/slowest, logins answered, and
        the cores the web processes and the whole machine used."""
        width = self.WINDOW_SECONDS
        count = int(max((at for at, _, _ in self.answers), default=0) // width) + 1
        windows = []
        for n in range(count):
            low, high = n * width, (n + 1) * width
            times = [took for at, page, took in self.answers if low <= at < high and page not in LOGIN_PAGES]
            logins = sum(1 for at, page, _ in self.answers if low <= at < high and page == "login POST")
            inside = [sample for sample in self.samples if low <= sample[0] <= high]
            web_cores = machine_cores = None
            if len(inside) >= 2:
                (t0, web0, busy0), (t1, web1, busy1) = inside[0], inside[-1]
                web_cores, machine_cores = (web1 - web0) / (t1 - t0), (busy1 - busy0) / (t1 - t0)
            windows.append(
                {
                    "from": low,
                    "requests": len(times),
                    "p50": percentile(times, 0.5) if times else None,
                    "p95": percentile(times, 0.95) if times else None,
                    "slowest": max(times, default=None),
                    "logins": logins,
                    "web_cores": web_cores,
                    "machine_cores": machine_cores,
                }
            )
        return windows


def machine_busy_seconds() -> float:
    """Seconds every core of the machine has spent on anything but idle and I/O wait (/proc/stat)."""
    fields = [int(each) for each in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def print_timeline(windows: list[dict]) -> None:
    print(
        f"over time ({Clock.WINDOW_SECONDS} s windows; lesson requests answered in each, logins "
        f"answered, cores used by the web processes and by the whole machine of {os.cpu_count()}):"
    )
    columns = ("requests", 8), ("p50", 8), ("p95", 8), ("slowest", 8), ("logins", 6), ("web", 5), ("all", 5)
    print(f"{'from':>6} " + " ".join(f"{name:>{width}}" for name, width in columns))

    def ms(value):
        return f"{value * 1000:6.0f}ms" if value is not None else f"{'':>8}"

    def cores(value):
        return f"{value:5.2f}" if value is not None else f"{'':>5}"

    for each in windows:
        print(
            f"{each['from']:5d}s {each['requests']:8d} {ms(each['p50'])} {ms(each['p95'])} "
            f"{ms(each['slowest'])} {each['logins']:6d} "
            f"{cores(each['web_cores'])} {cores(each['machine_cores'])}"
        )


def check_stored(acknowledged: dict) -> dict:
    """Every acknowledged rating, answer, submission and run stored exactly once."""
    from django.contrib.auth.models import User

    from learn.models import CardReviewLog
    from live_lab.models import LabRun
    from quizzes.models import Attempt, AttemptQuestion, AttemptScore

    lost, extra, problems = 0, 0, []
    checked = {"ratings": 0, "answers": 0, "submissions": 0, "runs": 0}
    users = {user.username: user for user in User.objects.filter(username__in=list(acknowledged))}
    for name, acked in acknowledged.items():
        user = users[name]
        stored = list(CardReviewLog.objects.filter(learner=user).values_list("pk", flat=True))
        checked["ratings"] += len(acked["ratings"])
        missing = set(acked["ratings"]) - set(stored)
        lost += len(missing)
        extra += max(0, len(stored) - len(acked["ratings"]))
        if missing:
            problems.append(f"{name}: ratings {sorted(missing)} acknowledged, not stored")
        for attempt, position, choice in acked["answers"]:
            checked["answers"] += 1
            item = AttemptQuestion.objects.get(attempt_id=attempt, position=position, attempt__learner=user)
            chosen = sorted(item.chosen.values_list("key", flat=True))
            if chosen != [choice] or item.answered_at is None:
                lost += 1
                problems.append(
                    f"{name}: attempt {attempt} question {position}: stored {chosen}, acked {choice}"
                )
        answered = AttemptQuestion.chosen.through.objects.filter(
            attemptquestion__attempt__learner=user
        ).count()
        extra += max(0, answered - len(acked["answers"]))
        for attempt in acked["submits"]:
            checked["submissions"] += 1
            if not Attempt.objects.filter(pk=attempt, learner=user, status=Attempt.Status.SUBMITTED).exists():
                lost += 1
                problems.append(f"{name}: attempt {attempt} acknowledged as submitted, is not")
        scores = AttemptScore.objects.filter(attempt__learner=user).count()
        lost += max(0, len(acked["submits"]) - scores)
        extra += max(0, scores - len(acked["submits"]))
        runs = set(LabRun.objects.filter(owner=user).values_list("pk", flat=True))
        checked["runs"] += len(acked["runs"])
        lost += len(set(acked["runs"]) - runs)
        extra += max(0, len(runs) - len(acked["runs"]))
    return {"lost": lost, "extra": extra, "checked": checked, "store_problems": problems}


if __name__ == "__main__":
    main()
