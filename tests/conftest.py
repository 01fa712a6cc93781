"""Fixtures shared by the whole suite.

Task behaviour is only ever tested against a real `celery worker` process on the broker of the
mode under test: the filesystem broker by default, Redis when REDIS_URL is set (.ci/run does
both). The worker is started here and stopped by pid.
"""

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings

from config.celery import app
from config.users import user_cache, user_key
from tests.worker_process import CeleryWorkers, workers_to_start

# Logs and screenshots. .ci/run gives each of the passes it runs at once a folder of its own.
OUTPUT_DIR = Path(os.environ.get("TEST_OUTPUT_DIR") or Path(settings.BASE_DIR) / "test-output")


def pytest_collection_modifyitems(config, items):
    """Leave out the tests about the other mode: embedded_only ones (filesystem broker, SQLite)
    in Redis mode, redis_only ones (Redis backend) in embedded mode; and the tests about the
    other database: sqlite_only ones on PostgreSQL (DATABASE_URL), postgresql_only ones on
    SQLite. Left out is reported as deselected, never counted as passed."""
    other_mode = "embedded_only" if settings.RUN_MODE == "redis" else "redis_only"
    other_database = "sqlite_only" if settings.DATABASE_URL else "postgresql_only"
    others = {other_mode, other_database}
    keep = [item for item in items if not others & set(item.keywords)]
    left_out = [item for item in items if others & set(item.keywords)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = keep


@pytest.fixture(autouse=True)
def no_cached_users():
    """In Redis mode, every test starts with no user cached (config/users.py): a test database
    rolled back can give a new user the id of one an earlier test cached (SQLite reuses them)."""
    cache = user_cache()
    if cache is None:
        return
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match=cache.make_key(user_key("*"))))  # the cache's own key format
        if keys:
            client.delete(*keys)
    finally:
        client.close()


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
    """The environment of a process the tests start (worker, web server): the test database,
    pytest-django's test_<name> on PostgreSQL, the test file on SQLite."""
    test_database = str(settings.DATABASES["default"]["NAME"])
    if settings.DATABASE_URL:
        url = urlsplit(settings.DATABASE_URL)._replace(path="/" + test_database).geturl()
        return {**os.environ, "DATABASE_URL": url}
    return {**os.environ, "APP_SQLITE_PATH": test_database}


try:
    WORKER_COUNT = workers_to_start()
except ValueError as error:
    raise pytest.UsageError(str(error)) from None


@pytest.fixture(scope="module")
def celery_worker(request, django_db_setup, django_db_blocker):
    """The worker(s) for this test module, on the test database and the mode's real broker:
    TEST_WORKER_COUNT of them, each with a hostname of its own, consuming the same queues."""
    clear_broker()
    name = request.module.__name__.rsplit(".", 1)[-1]
    workers = CeleryWorkers(
        WORKER_COUNT,
        env=worker_env(),
        log_path=OUTPUT_DIR / "workers" / f"{name}-{settings.RUN_MODE}.log",
    )
    workers.wait_until_ready()
    yield workers
    workers.stop()
