"""GET /healthz: what a load balancer needs for anyone; the setup and the worker for staff."""

import time

import pytest
from django.conf import settings

from tests.factories import make_learner

pytestmark = pytest.mark.worker


def staff_health(client) -> dict:
    staff = make_learner()
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    return client.get("/healthz").json()


def wait_for_worker_answer(client, expected: bool, timeout: float = 15.0) -> dict:
    """The answer is the process's last ping, refreshed in the background: ask until it says so."""
    deadline = time.monotonic() + timeout
    while (health := client.get("/healthz").json())["worker"] is not expected:
        assert time.monotonic() < deadline, f"the worker answer stayed {health['worker']}: {health}"
        time.sleep(0.2)
    return health


@pytest.mark.django_db
def test_healthz_tells_anyone_only_that_the_process_serves(client, celery_worker):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}, "no paths, no broker, no worker for strangers"
    learner = make_learner()
    client.force_login(learner)
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_healthz_tells_staff_the_mode_and_a_live_worker_without_paths(client, celery_worker):
    staff_health(client)
    health = wait_for_worker_answer(client, True)

    assert health["mode"] == settings.RUN_MODE
    assert health["database"] == ("postgresql" if settings.DATABASE_URL else "sqlite")
    if settings.RUN_MODE == "redis":
        assert health["broker"].startswith("redis (redis://")
        assert health["result_backend"].startswith("redis")
    else:
        assert health["broker"].startswith("filesystem")
        assert health["result_backend"].startswith("django-db")
    assert str(settings.BASE_DIR) not in str(health), "no absolute path"
    assert health["lab_worker_slots"] == settings.LAB_WORKER_SLOTS


@pytest.mark.django_db
def test_healthz_reports_no_worker_once_it_has_stopped(client, celery_worker):
    staff_health(client)
    wait_for_worker_answer(client, True)

    celery_worker.stop()

    assert wait_for_worker_answer(client, False)["worker"] is False
