"""What becomes of a task whose whole worker is killed with SIGKILL mid-run, acks_late off and on
(docs/lab-faults.md). Prints, for the mode's broker: how often the task started, counted over
RESTART_WATCH seconds with a fresh worker running, and, on Redis, what is left in the broker's
`unacked` hash (a message there is redelivered once visibility_timeout has passed).

    .venv/bin/python bench/lab_worker_loss.py                      # embedded (filesystem broker)
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/lab_worker_loss.py
"""

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("APP_RUNTIME_DIR", tempfile.mkdtemp(prefix="lab-worker-loss-"))

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from config.celery import app  # noqa: E402
from live_lab.tasks import slow_tracked  # noqa: E402  acks_late off (the default), as every lab task
from tests.claims.tasks import note_pid_then_sleep  # noqa: E402  acks_late=True
from tests.live_lab.fault_processes import kill_whole_worker  # noqa: E402
from tests.worker_process import CeleryWorker  # noqa: E402

RESTART_WATCH = 15.0
LOGS = Path(settings.BASE_DIR) / "test-output" / "bench"


def unacked() -> str:
    if settings.RUN_MODE != "redis":
        return "(no unacked store: the filesystem broker deletes a message when it is fetched)"
    client = app.connection_for_write().channel().client
    return f"{client.hlen('unacked')} message(s) in `unacked`"


def started(worker: CeleryWorker, task_id: str) -> int:
    return worker.log().count(f"[{task_id}] received")


def measure(label: str, send) -> None:
    if settings.RUN_MODE == "redis":  # what an earlier measurement left waiting for its hour
        app.connection_for_write().channel().client.delete("unacked", "unacked_index")
    first = CeleryWorker(env=dict(os.environ), log_path=LOGS / "loss-first.log")
    first.wait_until_ready()
    task_id = send().id
    deadline = time.monotonic() + 20
    while not started(first, task_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # running in a pool process
    kill_whole_worker(first)
    left = unacked()
    second = CeleryWorker(env=dict(os.environ), log_path=LOGS / "loss-second.log")
    second.wait_until_ready()
    time.sleep(RESTART_WATCH)
    again = started(second, task_id)
    print(
        f"{settings.RUN_MODE:8} {label:28} received again {again} time(s) in {RESTART_WATCH:.0f} s by a "
        f"fresh worker; right after the kill: {left}"
    )
    second.stop()
    first.log_file.close()


def main() -> None:
    call_command("migrate", verbosity=0)
    app.control.purge()
    pids = Path(tempfile.mkdtemp()) / "pids"
    measure("acks_late=True", lambda: note_pid_then_sleep.delay(str(pids), seconds=10))
    measure("acks_late=False (the lab's)", lambda: slow_tracked.delay(10))


if __name__ == "__main__":
    main()
