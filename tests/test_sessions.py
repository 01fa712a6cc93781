"""Sessions in Redis mode: read from Redis, the database staying the record (config/sessions.py)."""

import pytest
import redis
from django.contrib.sessions.backends import cached_db
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from live_lab.models import LabRun
from tests.factories import make_learner

pytestmark = [pytest.mark.redis_only, pytest.mark.django_db]

NOBODY_LISTENS = "redis://127.0.0.1:1/0"


def session_reads(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return sum('"django_session"' in query["sql"] for query in queries.captured_queries)


def test_a_signed_in_learners_pages_read_the_session_from_redis_not_the_database(client):
    client.force_login(make_learner())

    assert session_reads(client, "/dashboard/") == 0


def test_a_session_missing_from_redis_is_read_from_the_database(client):
    client.force_login(make_learner())
    caches["sessions"].delete(cached_db.KEY_PREFIX + client.cookies["sessionid"].value)

    assert session_reads(client, "/dashboard/") == 1
    assert session_reads(client, "/dashboard/") == 0, "cached again"


def test_a_lab_event_stream_reads_its_session_from_redis(client):
    """A stream's start reads the session (from Redis) and the user (from the database)."""
    client.force_login(make_learner())
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/lab/runs/999999/events").status_code == 404  # no such run

    assert not any('"django_session"' in query["sql"] for query in queries.captured_queries)


def test_a_logged_out_session_is_refused_by_the_stream_of_the_learners_own_run(client):
    learner = make_learner()
    run = LabRun.objects.create(owner=learner, experiment="success", task_id="a-task", prediction=["PENDING"])
    client.force_login(learner)
    assert client.get(f"/lab/runs/{run.pk}/").status_code == 200  # the session is in Redis now
    stolen = client.cookies["sessionid"].value

    client.post("/accounts/logout/")
    client.cookies["sessionid"] = stolen

    assert client.get(f"/lab/runs/{run.pk}/events").status_code == 404


def test_a_logged_out_session_is_refused_though_redis_had_it(client):
    client.force_login(make_learner())
    assert client.get("/dashboard/").status_code == 200
    stolen = client.cookies["sessionid"].value

    client.post("/accounts/logout/")
    client.cookies["sessionid"] = stolen

    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_pages_are_served_from_the_database_while_redis_is_down(client, settings):
    learner = make_learner()
    client.force_login(learner)
    redis_goes_down(settings)

    response = client.get("/dashboard/")

    assert response.status_code == 200
    assert learner.username in response.content.decode()


def test_a_logout_while_redis_is_down_fails_and_ends_nothing(client, settings):
    """Never a logout that leaves a copy in Redis signing the learner in once Redis is back."""
    client.force_login(make_learner())
    redis_goes_down(settings)

    with pytest.raises(redis.ConnectionError):
        client.post("/accounts/logout/")

    assert client.get("/dashboard/").status_code == 200, "still signed in, in both"


def redis_goes_down(settings) -> None:
    """The session cache points at a port where nothing listens (the broker is left alone)."""
    sessions = {**settings.CACHES["sessions"], "LOCATION": NOBODY_LISTENS}
    settings.CACHES = {**settings.CACHES, "sessions": sessions}
