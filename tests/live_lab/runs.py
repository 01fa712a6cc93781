"""Waiting on a lab run from a test: its rows are written by other threads and processes."""

import time

from live_lab.models import LabRun


def wait_until_over(run: LabRun, timeout: float = 30) -> LabRun:
    """The run, refreshed, once it is no longer waiting or running; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if not run.is_unfinished:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run.pk} ({run.experiment}) still {run.status} after {timeout} s")
