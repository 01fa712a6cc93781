"""Passwords are stored as Argon2id at OWASP's minimum cost (config/passwords.py); hashes made
before, with Django's PBKDF2, still log in and are re-hashed then. These tests use the app's
hashers, not the suite's fast MD5 one (tests/settings.py)."""

import pytest
from django.contrib.auth.hashers import check_password, identify_hasher, make_password
from django.contrib.auth.models import User
from django.test import override_settings

from config import settings as app_settings

ARGON2ID_OWASP_MINIMUM = "argon2$argon2id$v=19$m=19456,t=2,p=1$"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def app_hashers():
    with override_settings(PASSWORD_HASHERS=app_settings.PASSWORD_HASHERS):
        yield


def test_a_new_password_is_stored_as_argon2id_with_19_mib_2_passes_and_1_lane():
    stored = make_password("correct horse battery staple")

    assert stored.startswith(ARGON2ID_OWASP_MINIMUM)
    assert check_password("correct horse battery staple", stored)
    assert not check_password("correct horse battery stapler", stored)


def test_a_pbkdf2_password_from_before_logs_in_and_is_stored_as_argon2id_then(client):
    pbkdf2 = make_password("an older password", hasher="pbkdf2_sha256")
    User.objects.create(username="grace", password=pbkdf2)

    client.post("/accounts/login/", {"username": "grace", "password": "a wrong one"})
    assert User.objects.get(username="grace").password == pbkdf2  # a wrong password changes nothing

    response = client.post("/accounts/login/", {"username": "grace", "password": "an older password"})

    assert response.status_code == 302
    assert client.get("/").context["user"].username == "grace"
    stored = User.objects.get(username="grace").password
    assert stored.startswith(ARGON2ID_OWASP_MINIMUM)
    assert identify_hasher(stored).algorithm == "argon2"
