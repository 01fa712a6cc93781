"""What a sandbox worker costs: start time (start_sandbox until it answers a ping) and memory.

    .venv/bin/python bench/sandbox.py [--runs 5] [--pool prefork] [--concurrency 1]

Runs in a throwaway runtime folder (its own SQLite database and broker folders), in the mode the
environment chooses (REDIS_URL set: Redis). Memory is the proportional set size (Pss, from
/proc/<pid>/smaps_rollup) of the worker's main process and its pool processes added up: what
the machine gives it, shared pages counted once across the processes sharing them.
docs/live-lab.md ("Sandbox workers") records a run.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["APP_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="bench-sandbox-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from live_lab.sandbox import Sandbox, start_sandbox  # noqa: E402
from live_lab.sandbox_config import SandboxConfig  # noqa: E402


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pool", default="prefork")
    parser.add_argument("--concurrency", type=int, default=1)
    options = parser.parse_args()
    call_command("migrate", verbosity=0)
    config = SandboxConfig(pool=options.pool, concurrency=options.concurrency)
    starts, memory = [], []
    for _ in range(options.runs):
        began = time.monotonic()
        sandbox = start_sandbox(config)
        assert isinstance(sandbox, Sandbox), sandbox
        starts.append(time.monotonic() - began)
        time.sleep(1.0)  # let it settle after its first ping
        memory.append(sum(pss_kib(pid) for pid in [sandbox.pid, *sandbox.pool_pids()]) / 1024)
        sandbox.stop()
    print(
        f"{settings.RUN_MODE}, {options.pool} x{options.concurrency}, {options.runs} starts: "
        f"start median {statistics.median(starts):.2f} s (max {max(starts):.2f} s), "
        f"memory (Pss) median {statistics.median(memory):.0f} MiB"
    )


if __name__ == "__main__":
    main()
