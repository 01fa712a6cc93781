"""Tasks only the test suite's worker loads (celery worker --include tests.worker_tasks)."""

import os

from celery import shared_task


@shared_task(bind=True)
def record_execution(self, path: str) -> str:
    """Append this task's id to `path`, one line per execution (O_APPEND keeps lines whole)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{self.request.id}\n".encode())
    finally:
        os.close(fd)
    return self.request.id
