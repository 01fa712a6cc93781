"""Round-trip latency and idle cost of the embedded broker, per polling interval; how late
a countdown task starts, per worker timer precision.

    .venv/bin/python bench/embedded_latency.py [--tasks 200] [--intervals 1.0,0.2,0.05,0.01]
        [--countdowns 40] [--precisions 1.0,0.05]

For each polling interval it starts a real worker (filesystem broker, django-db results) in a
throwaway runtime folder, sends `add` one task at a time to the idle worker and times send →
result read (with the app's 0.05 s result polling), then measures the worker's CPU use while
idle. It also times Celery's default get(), which polls the database every 0.5 s.

Then, for each worker timer precision (worker_timer_precision: how long the timer thread of a
worker without an event loop may sleep between looks at its schedule), it sends `add` with a
0.5 s countdown, one at a time at uneven moments, and measures how long after its ETA each
task started (the task's lane-2 "started" row, written by the pool process).
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["APP_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="bench-embedded-")
os.environ.pop("REDIS_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from bench.modes import percentile  # noqa: E402
from config.celery import app  # noqa: E402
from live_lab.queries import wait_for_result  # noqa: E402
from live_lab.tasks import add  # noqa: E402
from tests.worker_process import CeleryWorker  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and of its pool children."""
    total = 0.0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for each in pids:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def round_trips(count: int, read) -> list[float]:
    timings = []
    for n in range(count):
        started = time.perf_counter()
        task_id = add.delay(n, 1).id
        assert read(task_id) == n + 1
        timings.append((time.perf_counter() - started) * 1000)
    return timings


@contextmanager
def worker_with(variable: str, value: float):
    """A real worker started with one setting of the environment changed, ready; stopped after."""
    env = {**os.environ, variable: str(value)}
    log = Path(os.environ["APP_RUNTIME_DIR"]) / f"worker-{variable.lower()}-{value}.log"
    worker = CeleryWorker(env=env, log_path=log)
    try:
        worker.wait_until_ready()
        yield worker
    finally:
        worker.stop()


def idle_cpu_percent(worker, seconds: float) -> float:
    """The worker's CPU use (main process and pool) over `seconds` with nothing to do."""
    before = cpu_seconds(worker.pid)
    time.sleep(seconds)
    return (cpu_seconds(worker.pid) - before) / seconds * 100


def measure(interval: float, tasks: int, idle_seconds: float) -> dict:
    with worker_with("BROKER_POLLING_INTERVAL", interval) as worker:
        round_trips(5, lambda task_id: wait_for_result(task_id, timeout=30))  # warm up
        fast = round_trips(tasks, lambda task_id: wait_for_result(task_id, timeout=30))
        default = round_trips(max(tasks // 4, 10), lambda task_id: app.AsyncResult(task_id).get(timeout=30))
        time.sleep(1)
        idle_cpu = idle_cpu_percent(worker, idle_seconds)
    return {
        "interval": interval,
        "median": statistics.median(fast),
        "p95": percentile(fast, 0.95),
        "default_get_median": statistics.median(default),
        "idle_cpu": idle_cpu,
    }


def countdown_lateness(precision: float, count: int, idle_seconds: float) -> dict:
    from live_lab.models import LabEvent

    late_ms = []
    with worker_with("WORKER_TIMER_PRECISION", precision) as worker:
        for n in range(count):
            time.sleep(random.uniform(0, 1))  # sent at any moment of the timer's sleep
            eta = time.time() + 0.5
            task_id = add.apply_async((n, 1), countdown=0.5).id
            assert wait_for_result(task_id, timeout=30) == n + 1
            started = LabEvent.objects.get(task_id=task_id, kind=LabEvent.Kind.STARTED).at.timestamp()
            late_ms.append((started - eta) * 1000)
        idle_cpu = idle_cpu_percent(worker, idle_seconds)
    return {
        "precision": precision,
        "median": statistics.median(late_ms),
        "p95": percentile(late_ms, 0.95),
        "max": max(late_ms),
        "idle_cpu": idle_cpu,
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--intervals", default="1.0,0.2,0.05,0.01")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--countdowns", type=int, default=40)
    parser.add_argument("--precisions", default="1.0,0.05")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    print(f"embedded broker: {args.tasks} tasks one by one, runtime in {settings.RUNTIME_DIR}")
    header = f"{'polling s':>10} {'median ms':>10} {'p95 ms':>8} {'get() median ms':>16} {'idle CPU %':>11}"
    print(header)
    rows = []
    for interval in (float(value) for value in args.intervals.split(",")):
        row = measure(interval, args.tasks, args.idle_seconds)
        rows.append(row)
        print(
            f"{row['interval']:>10} {row['median']:>10.1f} {row['p95']:>8.1f} "
            f"{row['default_get_median']:>16.1f} {row['idle_cpu']:>11.2f}"
        )
    slowest, chosen = rows[0], next((r for r in rows if r["interval"] == 0.05), rows[-1])
    print(
        f"median round trip at {chosen['interval']} s vs {slowest['interval']} s: "
        f"{slowest['median'] / chosen['median']:.1f}x faster"
    )

    print(f"\ncountdown 0.5 s: {args.countdowns} tasks one by one, time from the ETA to the start")
    print(f"{'precision s':>11} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'idle CPU %':>11}")
    for precision in (float(value) for value in args.precisions.split(",")):
        row = countdown_lateness(precision, args.countdowns, args.idle_seconds)
        print(
            f"{row['precision']:>11} {row['median']:>10.1f} {row['p95']:>8.1f} {row['max']:>8.1f} "
            f"{row['idle_cpu']:>11.2f}"
        )


if __name__ == "__main__":
    main()
