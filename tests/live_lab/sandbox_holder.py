"""A process that starts a sandbox worker and then waits to be killed (tests/live_lab/test_sandbox.py).

Run as `python -m tests.live_lab.sandbox_holder` on the test database: prints one JSON line,
{"pid": the worker's pid, "pool": its pool processes' pids, "queue": its private queue}, then sleeps.
"""

import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from live_lab.sandbox import Sandbox, start_sandbox  # noqa: E402 - after django.setup()
from live_lab.sandbox_config import SandboxConfig  # noqa: E402

sandbox = start_sandbox(SandboxConfig(concurrency=2))
if not isinstance(sandbox, Sandbox):
    sys.exit(sandbox.message)
print(json.dumps({"pid": sandbox.pid, "pool": sandbox.pool_pids(), "queue": sandbox.queue}), flush=True)
time.sleep(120)
