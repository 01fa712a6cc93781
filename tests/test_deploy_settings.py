"""The production configuration the README documents passes Django's deployment checks, a
malformed security setting stops the start with a message naming it, and pages carry a
Content-Security-Policy that allows nothing inline."""

import os
import re
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

# README, "Production": the variables to set behind a TLS proxy.
PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_ALLOWED_HOSTS": "lab.example.org",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https",
    "TRUSTED_PROXY_COUNT": "1",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://lab.example.org",
}


def manage(*args, runtime, **env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "APP_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**base, "APP_RUNTIME_DIR": str(runtime), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def check_deploy(runtime, **env) -> subprocess.CompletedProcess:
    """`manage.py check --deploy --fail-level WARNING` with a fresh secret key and `env`."""
    return manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        runtime=runtime,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        **env,
    )


def test_the_documented_production_configuration_passes_check_deploy(tmp_path):
    done = check_deploy(tmp_path, **PRODUCTION)

    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


def test_production_without_a_proxy_in_front_also_passes_check_deploy(tmp_path):
    env = {"DJANGO_DEBUG": "false", "DJANGO_ALLOWED_HOSTS": "lab.example.org"}

    done = check_deploy(tmp_path, **env)

    assert done.returncode == 0, done.stderr


def test_turning_https_off_in_production_is_what_check_deploy_then_reports(tmp_path):
    done = check_deploy(tmp_path, DJANGO_HTTPS="false", **PRODUCTION)

    assert done.returncode != 0
    assert set(re.findall(r"security\.W\d+", done.stderr + done.stdout)) == {
        "security.W004",  # HSTS
        "security.W008",  # SSL redirect
        "security.W012",  # session cookie
        "security.W016",  # CSRF cookie
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"DJANGO_SECURE_HSTS_SECONDS": "a year"},
            "DJANGO_SECURE_HSTS_SECONDS='a year' must be a whole number",
        ),
        (
            {"DJANGO_SECURE_HSTS_SECONDS": "86400"},
            "DJANGO_SECURE_HSTS_SECONDS=86400 is less than a year: use 0 (no HSTS) or at least 31536000.",
        ),
        ({"DJANGO_SECURE_SSL_REDIRECT": "sometimes"}, "DJANGO_SECURE_SSL_REDIRECT='sometimes' is not a"),
        ({"DJANGO_SESSION_COOKIE_SECURE": "yes please"}, "DJANGO_SESSION_COOKIE_SECURE='yes please' is not"),
        (
            {"DJANGO_SECURE_PROXY_SSL_HEADER": "https", "TRUSTED_PROXY_COUNT": "1"},
            "DJANGO_SECURE_PROXY_SSL_HEADER='https' is not of the form 'Header-Name: value'",
        ),
        (
            {"DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https"},
            "DJANGO_SECURE_PROXY_SSL_HEADER is set, so a proxy is in front: set TRUSTED_PROXY_COUNT",
        ),
        (
            {"DJANGO_CSRF_TRUSTED_ORIGINS": "lab.example.org"},
            "DJANGO_CSRF_TRUSTED_ORIGINS has 'lab.example.org', which is not an origin",
        ),
        ({"TRUSTED_PROXY_COUNT": "one"}, "TRUSTED_PROXY_COUNT='one' must be a whole number"),
        ({"LOGIN_FAILURE_LIMIT": "0"}, "LOGIN_FAILURE_LIMIT='0' must be a whole number from 1"),
        ({"LOGIN_COOLOFF_MINUTES": "15m"}, "LOGIN_COOLOFF_MINUTES='15m' must be a whole number"),
        ({"SIGNUPS_PER_ADDRESS_PER_HOUR": "-1"}, "SIGNUPS_PER_ADDRESS_PER_HOUR='-1' must be a whole number"),
    ],
)
def test_a_malformed_security_setting_stops_the_start_with_a_message_naming_it(env, message, tmp_path):
    done = manage("check", runtime=tmp_path, **env)

    assert done.returncode != 0
    assert message in done.stderr


def test_in_debug_the_https_settings_stay_off_so_plain_http_works(client, db):
    response = client.get("/")

    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response
    assert not settings.SESSION_COOKIE_SECURE
    assert not settings.CSRF_COOKIE_SECURE


def test_pages_carry_a_content_security_policy_that_allows_nothing_inline(client, db):
    policy = client.get("/")["Content-Security-Policy"]
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in (p.strip() for p in policy.split(";")) if part
    )

    assert "unsafe" not in policy
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["img-src"] == ["'self'"]
    assert directives["connect-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]


def test_htmx_is_told_to_inject_no_style_and_evaluate_no_code(client, db):
    page = client.get("/").content.decode()

    assert '"includeIndicatorStyles": false' in page
    assert '"allowEval": false' in page
