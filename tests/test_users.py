"""The signed-in user read through Redis in Redis mode, and never a copy older than the database's
row (config/users.py)."""

import pytest
import redis
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from config.users import CHANGED, user_cache, user_key
from tests.factories import make_learner
from tests.test_sessions import redis_goes_down

pytestmark = [pytest.mark.redis_only, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long enough passphrase"


def user_reads(client, path: str = "/dashboard/") -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return sum('FROM "auth_user"' in query["sql"] for query in queries.captured_queries)


def cache_the_copy(client) -> None:
    assert user_reads(client) == 1
    assert user_reads(client) == 0, "the copy is in Redis"


def signed_in(client, learner) -> bool:
    response = client.get("/dashboard/")
    return response.status_code == 200 and learner.username in response.content.decode()


def test_a_signed_in_learners_pages_read_the_user_from_redis_not_the_database(client):
    client.force_login(make_learner())

    assert user_reads(client) == 1, "the first page reads the row and caches it"
    assert user_reads(client) == 0
    assert user_reads(client) == 0


def test_a_learner_deactivated_by_a_save_is_signed_out_at_the_next_page_though_redis_had_a_copy(client):
    learner = make_learner()
    client.force_login(learner)
    cache_the_copy(client)

    learner.is_active = False
    learner.save()

    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_changed_password_ends_the_learners_other_sessions_though_redis_had_a_copy(client):
    learner = make_learner()
    client.force_login(learner)
    cache_the_copy(client)

    learner.set_password("another long passphrase")
    learner.save()

    assert not signed_in(client, learner)


def test_after_a_change_no_copy_is_cached_for_a_while_and_then_the_new_row_is(client):
    """A process that read the row before the change committed must not cache it after: the
    change leaves a mark that refuses copies for CHANGED_FOR seconds."""
    learner = make_learner()
    client.force_login(learner)
    learner.first_name = "Ada"
    learner.save()

    assert user_cache().get(user_key(learner.pk)) == CHANGED
    assert user_reads(client) == 1
    assert user_reads(client) == 1, "not cached while the mark holds"

    user_cache().delete(user_key(learner.pk))  # the mark ran out
    assert user_reads(client) == 1
    assert user_cache().get(user_key(learner.pk)).first_name == "Ada"
    assert user_reads(client) == 0


def test_a_deleted_learners_session_ends(client):
    learner = make_learner()
    client.force_login(learner)
    cache_the_copy(client)

    learner.delete()

    assert client.get("/dashboard/").status_code == 302


def test_pages_read_the_user_from_the_database_while_redis_is_down(client, settings):
    learner = make_learner()
    client.force_login(learner)
    assert signed_in(client, learner)
    redis_goes_down(settings)

    # The session cache is down too: the session and the user both come from the database.
    assert user_reads(client) == 1
    assert signed_in(client, learner)


def test_a_change_to_a_user_while_redis_is_down_fails_and_changes_nothing(client, settings):
    """Never a change the cached copy would hide once Redis is back."""
    learner = make_learner()
    client.force_login(learner)
    assert signed_in(client, learner)
    redis_goes_down(settings)

    learner.is_active = False
    with pytest.raises(redis.ConnectionError):
        learner.save()

    assert User.objects.get(pk=learner.pk).is_active


def test_a_wrong_password_is_checked_once_and_refused(monkeypatch):
    """ModelBackend stays listed after ours (for sessions signed in before ours came): a wrong
    password must not be checked by both."""
    learner = make_learner()
    learner.set_password(PASSWORD)
    learner.save()
    checks = []
    check_password = User.check_password
    monkeypatch.setattr(
        User, "check_password", lambda user, raw: checks.append(raw) or check_password(user, raw)
    )

    request = RequestFactory().post("/accounts/login/")

    assert authenticate(request, username=learner.username, password="not the password") is None
    assert checks == ["not the password"]
    assert authenticate(request, username=learner.username, password=PASSWORD) == learner


def test_a_session_signed_in_by_djangos_own_model_backend_before_the_upgrade_stays_signed_in(client):
    learner = make_learner()
    client.force_login(learner, backend="django.contrib.auth.backends.ModelBackend")

    assert signed_in(client, learner)
