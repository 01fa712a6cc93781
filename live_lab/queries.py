"""Reads about Celery itself: is a worker there, which broker and backend are in use."""

from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection

from config.celery import app


def worker_answers_ping(timeout: float = 1.0) -> bool:
    """True when at least one worker answers a broadcast ping within `timeout` seconds."""
    try:
        replies = app.control.ping(timeout=timeout)
    except OSError:
        # The broker is unreachable (Redis down): no worker can be reached either.
        return False
    return bool(replies)


def without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}:{parts.port}"
        return parts._replace(netloc=netloc).geturl()
    return url


def describe_setup() -> dict:
    """The run mode and where tasks and results go, safe to show (no passwords)."""
    if settings.RUN_MODE == "redis":
        broker = f"redis ({without_password(settings.CELERY_BROKER_URL)})"
        backend = f"redis ({without_password(settings.CELERY_RESULT_BACKEND)})"
    else:
        broker = f"filesystem ({settings.BROKER_DIR})"
        backend = "django-db (django-celery-results, in the Django database)"
    return {
        "mode": settings.RUN_MODE,
        "database": f"{connection.vendor} ({connection.settings_dict['NAME']})",
        "broker": broker,
        "result_backend": backend,
    }


def wait_for_result(task_id: str, *, timeout: float, propagate: bool = True):
    """Block until the task is ready and return its result, like AsyncResult.get().

    Polls every RESULT_POLL_INTERVAL: django-celery-results' get() would otherwise poll the
    database every 0.5 s and add up to half a second to every read (Redis ignores the
    interval and waits on pub/sub).
    """
    result = app.AsyncResult(task_id)
    return result.get(timeout=timeout, propagate=propagate, interval=settings.RESULT_POLL_INTERVAL)
