"""Lane 2's two possible sources, measured: Celery's task events against our worker signals.

    .venv/bin/python bench/lane2_sources.py [--tasks 200]

For each mode (embedded, then Redis on a redis-server it starts on a free port) it starts a
real worker with task events on (-E), an event receiver (app.events.Receiver) in a thread, and
sends lab tasks one at a time. For each task it measures, from the moment the worker stored
SUCCESS (the result's date_done):
  - how late the receiver got the task-succeeded event;
  - how late the task_success signal's row (LabEvent, live_lab/worker_signals.py) was written.
Then it stops the receiver, sends as many tasks again, and counts what the stopped receiver's
queue still collects (on the filesystem broker kombu never deletes an auto-delete queue).
docs/live-lab.md records a run.
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.modes import percentile, run_child_in_mode  # noqa: E402


def run_mode(mode: str) -> dict:
    return run_child_in_mode(__file__, mode)


def child(tasks: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from config.celery import app
    from live_lab.models import LabEvent
    from live_lab.tasks import add
    from tests.worker_process import CeleryWorker

    call_command("migrate", verbosity=0)
    worker = CeleryWorker(
        env=dict(os.environ), log_path=Path(settings.RUNTIME_DIR) / "worker.log", extra_args=("-E",)
    )
    received: dict[str, float] = {}
    connection = app.connection()
    receiver = app.events.Receiver(
        connection, handlers={"task-succeeded": lambda event: received.setdefault(event["uuid"], time.time())}
    )
    listening = threading.Thread(target=lambda: receiver.capture(limit=None, timeout=None, wakeup=False))
    try:
        worker.wait_until_ready()
        listening.start()
        time.sleep(1)  # the receiver's queue is declared and bound
        events_ms, signals_ms = [], []
        for n in range(tasks + 5):
            result = add.delay(n, 1)
            result.get(timeout=30, interval=0.01)
            deadline = time.monotonic() + 5
            while result.id not in received and time.monotonic() < deadline:
                time.sleep(0.001)
            done = result.date_done
            stored = (done if done.tzinfo else done.replace(tzinfo=UTC)).timestamp()
            row = LabEvent.objects.get(task_id=result.id, kind=LabEvent.Kind.SUCCEEDED)
            if n >= 5:  # the first five warm up
                events_ms.append((received[result.id] - stored) * 1000)
                signals_ms.append((row.at.timestamp() - stored) * 1000)
        receiver.should_stop = True
        listening.join(5)
        queue_name = receiver.queue.name
        connection.release()
        for n in range(tasks):
            add.delay(n, 1).get(timeout=30, interval=0.01)
        time.sleep(1)
        left = leftover(settings, app, queue_name)
    finally:
        worker.stop()
    return {"events_ms": events_ms, "signals_ms": signals_ms, "left_behind": left, "tasks": tasks}


def leftover(settings, app, queue_name: str) -> int:
    """Messages the stopped receiver's queue still holds (and collects, on the filesystem)."""
    if settings.RUN_MODE == "redis":
        with app.connection() as connection:
            client = connection.channel().client
            return int(client.llen(queue_name))
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    return sum(1 for path in folder.glob("*.msg") if f".{queue_name}." in path.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--modes", default="embedded,redis")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.tasks)))
        return
    print(f"{'mode':10} {'events median':>14} {'p95':>8} {'signals median':>15} {'p95':>8}  left behind")
    for mode in args.modes.split(","):
        figures = run_mode(mode)
        events, signals = figures["events_ms"], figures["signals_ms"]
        print(
            f"{mode:10} {statistics.median(events):12.1f}ms {percentile(events, 0.95):6.1f}ms "
            f"{statistics.median(signals):13.1f}ms {percentile(signals, 0.95):6.1f}ms  "
            f"{figures['left_behind']} messages after {figures['tasks']} more tasks"
        )
    print("\n(delay from the worker storing SUCCESS to the task-succeeded event / the signal's row)")


if __name__ == "__main__":
    main()
