"""The live lab's push latency and throughput, in embedded mode and in Redis mode.

    .venv/bin/python bench/lab.py [--runs 200] [--learners 20] [--per-learner 10] [--repeat 3]

For each mode it starts, in a throwaway runtime folder, a real worker (8 prefork processes,
as the Procfile does), uvicorn serving the app, and for Redis mode a redis-server on a free
port. Then, as learners would, over HTTP:

1. Latency. `--runs` runs of the "success" experiment (0.3 s tasks). For each run an SSE
   client reads the run's stream, and next to it a bare `app.AsyncResult(id).get()` waits for
   the same task. Each delay is measured from the moment the worker stored SUCCESS (the
   result's `date_done`, same machine clock) to the moment the stream delivered a lane that
   reads SUCCESS, or get() returned.
2. Throughput. `--learners` learners each fire `--per-learner` runs (0.2 s tasks) at once,
   keeping at most five going (the lab's limit), until every run is over; against the same
   number of tasks sent with bare Celery and collected with get(). `--repeat` rounds, each
   with new learners; the overhead reported is the median round's.

It prints medians, p95s and ratios; docs/PERFORMANCE.md records a run.
"""

import argparse
import http.cookiejar
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.modes import free_port, percentile, run_child_in_mode  # noqa: E402

# ---- the parent: one child process per mode, then the table -------------------------------


def run_mode(mode: str) -> dict:
    # As in production: DEBUG would record every SQL query the web process makes.
    production = {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-use-0123456789",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Plain HTTP on loopback: no TLS proxy in front, so no HTTPS redirect or secure cookies.
        "DJANGO_HTTPS": "false",
    }
    return run_child_in_mode(__file__, mode, env=production)


def report(results: dict) -> None:
    header = ("mode", "SSE median", "SSE p95", "get() median", "get() p95", "p95 ratio")
    print("{:10} {:>11} {:>9} {:>13} {:>10} {:>10}".format(*header))
    for mode, figures in results.items():
        sse, bare = figures["sse_ms"], figures["get_ms"]
        ratio = percentile(sse, 0.95) / percentile(bare, 0.95)
        print(
            f"{mode:10} {statistics.median(sse):9.1f}ms {percentile(sse, 0.95):7.1f}ms "
            f"{statistics.median(bare):11.1f}ms {percentile(bare, 0.95):8.1f}ms {ratio:9.2f}x"
        )
    print(f"\n(latency over {len(sse)} SUCCESS transitions per mode, from the worker's store)")
    for mode, figures in results.items():
        observer = figures["observer_ms"]
        print(
            f"{mode:10} of which the observer's reading: median {statistics.median(observer):.1f} ms, "
            f"p95 {percentile(observer, 0.95):.1f} ms"
        )
    print()
    print(f"{'mode':10} {'lab':>9} {'bare Celery':>12} {'overhead':>9}   (median of the rounds)")
    for mode, figures in results.items():
        rounds = list(zip(figures["lab_s"], figures["bare_s"], strict=True))
        overheads = [100 * (lab - bare) / bare for lab, bare in rounds]
        lab, bare = min(rounds, key=lambda r: abs(100 * (r[0] - r[1]) / r[1] - statistics.median(overheads)))
        each = ", ".join(f"{o:.1f}%" for o in overheads)
        print(f"{mode:10} {lab:8.2f}s {bare:11.2f}s {statistics.median(overheads):8.1f}%   (rounds: {each})")
    print(
        f"\n({figures['throughput_runs']} runs: {figures['learners']} learners firing at once, "
        f"{len(figures['lab_s'])} rounds)"
    )


# ---- the child: one mode, everything real ----------------------------------------------------


def child(args) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from tests.worker_process import CeleryWorker

    call_command("migrate", verbosity=0)
    runtime = Path(settings.RUNTIME_DIR)
    env = {**os.environ}
    worker = CeleryWorker(env=env, log_path=runtime / "worker.log", concurrency=8)
    port = free_port()
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=open(runtime / "uvicorn.log", "w"),  # noqa: SIM115 - lives as long as the server
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        worker.wait_until_ready()
        wait_for_http(base + "/accounts/login/")
        sse_ms, get_ms, observer_ms = latency(base, args.runs)
        before = cpu_seconds(web.pid), cpu_seconds(worker.pid), os.times()
        lab_s, bare_s = [], []
        for round_number in range(args.repeat):  # the machine is shared: one round can be unlucky
            lab, bare = throughput(base, args.learners, args.per_learner, round_number)
            lab_s.append(lab)
            bare_s.append(bare)
        after = cpu_seconds(web.pid), cpu_seconds(worker.pid), os.times()
        mine = (after[2].user + after[2].system) - (before[2].user + before[2].system)
        print(
            f"  CPU seconds in the throughput rounds (lab and bare): web {after[0] - before[0]:.1f}, "
            f"worker {after[1] - before[1]:.1f}, this bench (learners, clients) {mine:.1f}",
            file=sys.stderr,
        )
    finally:
        web.terminate()
        web.wait(10)
        worker.stop()
    return {
        "sse_ms": sse_ms,
        "get_ms": get_ms,
        "observer_ms": observer_ms,
        "lab_s": lab_s,
        "bare_s": bare_s,
        "learners": args.learners,
        "throughput_runs": args.learners * args.per_learner,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and of its children (a worker's pool processes)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for each in [pid, *map(int, children)]:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def wait_for_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


class Learner:
    """A signed-in browser: a session cookie made directly in the database, a CSRF token."""

    def __init__(self, base: str, username: str):
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.auth.models import User
        from django.contrib.sessions.backends.db import SessionStore

        user = User.objects.create_user(username)
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "config.users.ModelBackendWithCachedUsers"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        self.base = base
        self.username = username
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), NoRedirect()
        )
        self.cookies.set_cookie(cookie("sessionid", session.session_key))
        page = self.opener.open(base + "/lab/success/").read().decode()
        self.token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    def fire(self, fields: dict) -> int | None:
        """POST the experiment form; the new run's id, or None when a limit refused it."""
        data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": self.token}).encode()
        request = urllib.request.Request(
            self.base + "/lab/success/", data=data, headers={"Referer": self.base}
        )
        try:
            response = self.opener.open(request)
        except urllib.error.HTTPError as redirect:
            if redirect.code == 302:
                return int(redirect.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
            raise
        body = response.read().decode()
        if "runs that have not finished" in body or "in the last minute" in body:
            return None
        raise RuntimeError("the lab refused the run: " + body[:500])

    def read_until_success(self, run_id: int) -> float:
        """time.time() when the stream first delivered a lane that reads SUCCESS."""
        stream = self.opener.open(f"{self.base}/lab/runs/{run_id}/events", timeout=60)
        for raw in stream:
            if b"<td><code>SUCCESS</code></td>" in raw:
                arrived = time.time()
                stream.close()
                return arrived
        raise RuntimeError(f"run {run_id}: the stream ended without SUCCESS")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def cookie(name: str, value: str) -> http.cookiejar.Cookie:
    return http.cookiejar.Cookie(
        0, name, value, None, False, "127.0.0.1", False, False, "/", True, False, None, False, None, None, {}
    )


def stored_at(task_id: str) -> float:
    from config.celery import app

    done = app.AsyncResult(task_id).date_done
    if done.tzinfo is None:
        done = done.replace(tzinfo=UTC)
    return done.timestamp()


def latency(base: str, runs: int) -> tuple[list[float], list[float]]:
    from config.celery import app
    from live_lab.models import LabRun

    # The lab allows 10 runs a minute per learner: enough learners that none reaches it.
    learners = [Learner(base, f"latency-{n}") for n in range(max(20, (runs + 4) // 8 + 1))]
    sse_ms, get_ms, observer_ms = [], [], []

    def one(n: int) -> None:
        learner = learners[n % len(learners)]
        run_id = learner.fire({"x": n, "y": 1, "seconds": 0.3, "prediction": "PENDING, SUCCESS"})
        task_id = LabRun.objects.get(pk=run_id).task_id
        got = {}
        waiter = threading.Thread(
            target=lambda: got.update(at=(app.AsyncResult(task_id).get(timeout=30), time.time())[1])
        )
        waiter.start()
        arrived = learner.read_until_success(run_id)
        waiter.join()
        stored = stored_at(task_id)
        run = LabRun.objects.get(pk=run_id)
        while run.is_unfinished:  # the stream can show a reading before it is stored
            time.sleep(0.02)
            run.refresh_from_db()
        seen = run.observations.get(state="SUCCESS").after_ms / 1000 + run.sent_at.timestamp()
        observer_ms.append((seen - stored) * 1000)
        sse_ms.append((arrived - stored) * 1000)
        get_ms.append((got["at"] - stored) * 1000)

    for n in range(4):  # warm up: connections, imports, the worker's first tasks
        one(n)
    sse_ms.clear()
    get_ms.clear()
    observer_ms.clear()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(4, runs + 4)))
    return sse_ms, get_ms, observer_ms


def throughput(base: str, learner_count: int, per_learner: int, round_number: int) -> tuple[float, float]:
    from django.db.models import Max

    from config.celery import app
    from live_lab.models import LabRun
    from live_lab.services import MAX_UNFINISHED_RUNS
    from live_lab.tasks import add

    prefix = f"throughput-{round_number}-"  # new learners each round: the lab's limits are per learner
    learners = [Learner(base, f"{prefix}{n}") for n in range(learner_count)]
    lab_started = time.time()
    running = RunningRuns(prefix)

    def fire_all(learner: Learner) -> None:
        # Like a person: five runs going at most (the lab's limit), the next one fired when
        # one of them has ended.
        for fired in range(per_learner):
            running.wait_for_fewer_than(MAX_UNFINISHED_RUNS, learner.username)
            if learner.fire({"x": fired, "y": 1, "seconds": 0.2, "prediction": "PENDING, SUCCESS"}) is None:
                raise RuntimeError(f"{learner.username}: the lab refused run {fired + 1}")
            running.fired(learner.username)

    with running, ThreadPoolExecutor(learner_count) as pool:
        list(pool.map(fire_all, learners))
    print(
        f"  all {learner_count * per_learner} runs fired after {time.time() - lab_started:.2f} s",
        file=sys.stderr,
    )
    runs = LabRun.objects.filter(owner__username__startswith=prefix)
    while runs.filter(status__in=[LabRun.Status.WAITING, LabRun.Status.RUNNING]).exists():
        time.sleep(0.02)
    lab = runs.aggregate(last=Max("finished_at"))["last"].timestamp() - lab_started
    print_stages(runs)

    bare_started = time.time()
    sent = [add.apply_async((n, 1), {"seconds": 0.2}) for n in range(learner_count * per_learner)]
    for result in sent:
        result.get(timeout=60, interval=0.02)
    bare = time.time() - bare_started
    assert app.AsyncResult(sent[-1].id).state == "SUCCESS"
    print_worker_span("lab", list(runs.values_list("task_id", flat=True)), lab_started, lab)
    print_worker_span("bare", [result.id for result in sent], bare_started, bare)
    return lab, bare


class RunningRuns:
    """How many runs each learner has going, from ONE query for all of them every 50 ms.

    The learners' browsers would run on other machines; here they share two cores with the
    web process and the worker, so twenty of them polling the database each would slow the
    lab for a reason that is not the lab's."""

    EVERY = 0.05

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.counts: dict[str, int] = {}
        self.fired_during_poll: dict[str, int] = {}
        self.changed = threading.Condition()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join()

    def poll(self) -> None:
        from django.db import connection
        from django.db.models import Count

        from live_lab.models import LabRun

        running = (
            LabRun.objects.filter(
                owner__username__startswith=self.prefix,
                status__in=[LabRun.Status.WAITING, LabRun.Status.RUNNING],
            )
            .values_list("owner__username")
            .annotate(runs=Count("pk"))
        )
        try:
            while not self.stopped.wait(self.EVERY):
                with self.changed:
                    self.fired_during_poll = {}
                counts = dict(running.all())
                with self.changed:
                    # A run fired while the query ran may be missing from it: counted twice at
                    # worst, which only makes its learner wait for the next poll.
                    for learner, runs in self.fired_during_poll.items():
                        counts[learner] = counts.get(learner, 0) + runs
                    self.counts = counts
                    self.changed.notify_all()
        finally:
            connection.close()

    def fired(self, learner: str) -> None:
        """Count a new run at once, before a poll has read its row."""
        with self.changed:
            self.counts[learner] = self.counts.get(learner, 0) + 1
            self.fired_during_poll[learner] = self.fired_during_poll.get(learner, 0) + 1

    def wait_for_fewer_than(self, limit: int, learner: str) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.counts.get(learner, 0) < limit)


def print_worker_span(name: str, task_ids: list[str], started: float, took: float) -> None:
    """From the first task started to the last one succeeded: how fast the worker got through
    the tasks once it had them, apart from how fast they were sent; and the time before and
    after that span."""
    from django.db.models import Max, Min

    from live_lab.models import LabEvent

    events = LabEvent.objects.filter(task_id__in=task_ids)
    first = events.filter(kind=LabEvent.Kind.STARTED).aggregate(at=Min("at"))["at"]
    last = events.filter(kind=LabEvent.Kind.SUCCEEDED).aggregate(at=Max("at"))["at"]
    before = first.timestamp() - started
    after = started + took - last.timestamp()
    print(
        f"  {name}: first start after {before * 1000:.0f} ms, then last success after "
        f"{(last - first).total_seconds():.2f} s, then over after {after * 1000:.0f} ms",
        file=sys.stderr,
    )


def print_stages(runs) -> None:
    """Where a run's time goes: median gaps between lane-2 events, and to the observer's end."""
    from live_lab.models import LabEvent

    gaps: dict[str, list[float]] = {}
    for run in runs:
        at = {e.kind: e.at for e in LabEvent.objects.filter(task_id=run.task_id)}
        steps = [
            ("sent", run.sent_at),
            *[(k, at[k]) for k in ("published", "received", "started", "succeeded")],
        ]
        steps.append(("over", run.finished_at))
        for (first, a), (then, b) in zip(steps, steps[1:], strict=False):
            gaps.setdefault(f"{first}→{then}", []).append((b - a).total_seconds() * 1000)
    line = ", ".join(f"{name} {statistics.median(values):.0f} ms" for name, values in gaps.items())
    print(f"  median gaps: {line}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--learners", type=int, default=20)
    parser.add_argument("--per-learner", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the throughput test")
    parser.add_argument("--modes", default="embedded,redis")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    results = {}
    for mode in args.modes.split(","):
        print(f"measuring {mode} mode…", file=sys.stderr)
        results[mode] = run_mode(mode)
    report(results)


if __name__ == "__main__":
    main()
