"""GET /healthz: the run mode, where tasks and results go, and whether a worker answers."""

import pytest
from django.conf import settings

pytestmark = pytest.mark.worker


def test_healthz_reports_the_mode_and_a_live_worker(client, celery_worker):
    health = client.get("/healthz").json()

    assert health["worker"] is True
    assert health["mode"] == settings.RUN_MODE
    assert health["database"].startswith("sqlite")
    if settings.RUN_MODE == "redis":
        assert health["broker"].startswith("redis (redis://")
        assert health["result_backend"].startswith("redis")
    else:
        assert health["broker"] == f"filesystem ({settings.BROKER_DIR})"
        assert health["result_backend"].startswith("django-db")


def test_healthz_reports_no_worker_once_it_has_stopped(client, celery_worker):
    celery_worker.stop()

    assert client.get("/healthz").json()["worker"] is False
