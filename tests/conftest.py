"""Fixtures shared by the whole suite.

Task behaviour is only ever tested against a real `celery worker` process on the broker of the
mode under test: the filesystem broker by default, Redis when REDIS_URL is set (.ci/run does
both). The worker is started here and stopped by pid.
"""

import os
import socket
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app
from tests.worker_process import CeleryWorker

OUTPUT_DIR = Path(settings.BASE_DIR) / "test-output"


def pytest_collection_modifyitems(config, items):
    """Leave out the tests about the other mode: embedded_only ones (filesystem broker, SQLite)
    in Redis mode, redis_only ones (Redis backend) in embedded mode."""
    other_mode = "embedded_only" if settings.RUN_MODE == "redis" else "redis_only"
    keep = [item for item in items if other_mode not in item.keywords]
    left_out = [item for item in items if other_mode in item.keywords]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = keep


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clear_broker() -> None:
    """Drop messages a previous, interrupted run may have left behind."""
    if settings.RUN_MODE == "redis":
        app.control.purge()
    else:
        # Only the messages: the exchange tables in control/ are cached as declared by this
        # process (kombu's BrokerState), so deleting them would cut off ping replies.
        for message in Path(settings.BROKER_DIR).glob("*/*.msg"):
            message.unlink(missing_ok=True)


def worker_env() -> dict:
    """The environment of a process the tests start (worker, web server): the test database."""
    return {**os.environ, "APP_SQLITE_PATH": str(settings.DATABASES["default"]["NAME"])}


@pytest.fixture(scope="module")
def celery_worker(request, django_db_setup, django_db_blocker):
    """A worker for this test module, on the test database and the mode's real broker."""
    clear_broker()
    name = request.module.__name__.rsplit(".", 1)[-1]
    worker = CeleryWorker(
        env=worker_env(), log_path=OUTPUT_DIR / "workers" / f"{name}-{settings.RUN_MODE}.log"
    )
    worker.wait_until_ready()
    yield worker
    worker.stop()
