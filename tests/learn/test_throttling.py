"""Login is throttled per username and client address (django-axes) with a cool-off; signup is
bounded per client address and hour. Both are counted in the database every web process shares."""

import datetime as dt

import pytest
from asgiref.sync import async_to_sync
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.db.models import F
from django.test import AsyncClient

from learn.models import Signup
from tests.factories import make_learner

LOCKED_OUT = "Too many failed attempts for this account from your address; try again in 15 minutes."


def log_in(client, username, password, address="10.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def is_logged_in_as(client, username) -> bool:
    return f'<span class="nav-user">{username}</span>' in client.get("/").content.decode()


def fail_logins(client, username, address="10.0.0.1", times=5):
    for _ in range(times):
        log_in(client, username, "wrong-password", address)


def test_after_five_wrong_passwords_the_right_one_is_refused_with_a_message(client, db):
    make_learner("grace")

    for _ in range(4):
        response = log_in(client, "grace", "wrong-password")
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
    fifth = log_in(client, "grace", "wrong-password")
    right = log_in(client, "grace", "pw")

    assert fifth.status_code == 429
    assert LOCKED_OUT in fifth.content.decode()
    assert right.status_code == 429
    page = right.content.decode()
    assert LOCKED_OUT in page
    assert 'value="grace"' in page, "the form keeps the username"
    assert not is_logged_in_as(client, "grace")


def test_after_the_cool_off_the_right_password_logs_in(client, db):
    make_learner("grace")
    fail_logins(client, "grace")

    # Fifteen minutes pass.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - dt.timedelta(minutes=15, seconds=1))
    response = log_in(client, "grace", "pw")

    assert response.status_code == 302
    assert is_logged_in_as(client, "grace")


def test_an_attempt_during_the_lockout_starts_the_cool_off_again(client, db):
    make_learner("grace")
    fail_logins(client, "grace")

    AccessAttempt.objects.update(attempt_time=F("attempt_time") - dt.timedelta(minutes=10))
    assert log_in(client, "grace", "pw").status_code == 429
    # Twenty minutes after the fifth failure, ten after the refused attempt.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - dt.timedelta(minutes=10))
    response = log_in(client, "grace", "pw")

    assert response.status_code == 429
    assert LOCKED_OUT in response.content.decode()


def test_the_cool_off_and_failure_limit_come_from_the_settings(client, db, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=1)
    make_learner("grace")

    fail_logins(client, "grace", times=2)
    response = log_in(client, "grace", "pw")

    assert "try again in 1 minute." in response.content.decode()


def test_a_classmate_behind_the_same_address_still_logs_in(client, db):
    make_learner("grace")
    make_learner("alan")
    fail_logins(client, "grace")

    response = log_in(client, "alan", "pw")

    assert response.status_code == 302
    assert is_logged_in_as(client, "alan")


def test_the_same_account_from_another_address_still_logs_in(client, db):
    make_learner("grace")
    fail_logins(client, "grace", address="10.0.0.1")

    response = log_in(client, "grace", "pw", address="10.0.0.2")

    assert response.status_code == 302


def test_a_successful_login_resets_the_count_of_failures(client, db):
    make_learner("grace")
    fail_logins(client, "grace", times=4)
    assert log_in(client, "grace", "pw").status_code == 302
    client.post("/accounts/logout/")

    fail_logins(client, "grace", times=4)
    response = log_in(client, "grace", "pw")

    assert response.status_code == 302


def test_the_address_behind_a_trusted_proxy_is_the_one_it_forwarded(client, db, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    make_learner("grace")
    for _ in range(5):
        client.post(
            "/accounts/login/",
            {"username": "grace", "password": "wrong-password"},
            REMOTE_ADDR="10.9.9.9",
            HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7",
        )

    # The same learner at home, through the same proxy: another address, not locked out.
    response = client.post(
        "/accounts/login/",
        {"username": "grace", "password": "pw"},
        REMOTE_ADDR="10.9.9.9",
        HTTP_X_FORWARDED_FOR="203.0.113.8",
    )

    assert response.status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}


def sign_up(client, username, address="10.0.0.1"):
    return client.post(
        "/accounts/signup/",
        {"username": username, "password1": "celery-results-42", "password2": "celery-results-42"},
        REMOTE_ADDR=address,
    )


@pytest.fixture
def three_per_hour(settings):
    settings.SIGNUPS_PER_ADDRESS_PER_HOUR = 3


def test_signups_past_the_hourly_limit_for_an_address_are_refused_with_a_message(client, db, three_per_hour):
    for number in range(3):
        assert sign_up(client, f"learner{number}").status_code == 302
        client.post("/accounts/logout/")

    response = sign_up(client, "one-too-many")

    assert response.status_code == 200
    assert (
        "Too many new accounts were created from your address in the last hour (the limit is 3)."
        in response.content.decode()
    )
    assert not get_user_model().objects.filter(username="one-too-many").exists()


def test_another_address_can_still_sign_up_when_one_reached_the_limit(client, db, three_per_hour):
    for number in range(3):
        sign_up(client, f"learner{number}")
        client.post("/accounts/logout/")

    response = sign_up(client, "elsewhere", address="10.0.0.2")

    assert response.status_code == 302
    assert get_user_model().objects.filter(username="elsewhere").exists()


def test_an_address_can_sign_up_again_an_hour_later(client, db, three_per_hour):
    for number in range(3):
        sign_up(client, f"learner{number}")
        client.post("/accounts/logout/")

    # An hour passes.
    Signup.objects.update(created_at=F("created_at") - dt.timedelta(hours=1))
    response = sign_up(client, "next-lesson")

    assert response.status_code == 302
    assert Signup.objects.count() == 1, "rows older than the hour are deleted"


def test_the_lockout_page_is_the_same_when_served_over_asgi(db):
    """uvicorn runs the middleware chain asynchronously, where django-axes calls the lockout
    handler with other arguments than on the sync path."""
    make_learner("grace")
    client = AsyncClient()

    async def log_in_over_asgi(password):
        return await client.post("/accounts/login/", {"username": "grace", "password": password})

    for _ in range(5):
        async_to_sync(log_in_over_asgi)("wrong-password")
    response = async_to_sync(log_in_over_asgi)("pw")

    assert response.status_code == 429
    assert LOCKED_OUT in response.content.decode()
