"""Settings come from the environment only, and a malformed value stops the start, named."""

import os
import subprocess
import sys

import pytest
from django.conf import settings


def manage_check(**env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_DEBUG": "flase"}, "DJANGO_DEBUG='flase' is not a boolean"),
        ({"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY is required"),
        (
            {"REDIS_URL": "localhost:6379"},
            "REDIS_URL='localhost:6379' is not of the form redis://HOST:PORT/DB",
        ),
        # The filesystem broker's settings are read in embedded mode only (REDIS_URL empty).
        (
            {"BROKER_POLLING_INTERVAL": "fast", "REDIS_URL": ""},
            "BROKER_POLLING_INTERVAL='fast' must be a number",
        ),
        (
            {"DATABASE_URL": "mysql://lab@127.0.0.1:3306/lab"},
            "DATABASE_URL='mysql://lab@127.0.0.1:3306/lab' is not a PostgreSQL URL",
        ),
        (
            {"DATABASE_URL": "postgres://lab:s3cret@127.0.0.1:port/lab"},
            "DATABASE_URL='postgres://lab:***@127.0.0.1:port/lab' is not a database URL",
        ),
        (
            {"DATABASE_URL": "postgres://lab:s3cret@127.0.0.1:5432/"},
            "DATABASE_URL='postgres://lab:***@127.0.0.1:5432/' is not a PostgreSQL URL with a database name",
        ),
        ({"DATABASE_POOL_SIZE": "2"}, "DATABASE_POOL_SIZE='2' must be a whole number from 4 to 1000"),
        (
            {"WORKER_TIMER_PRECISION": "0", "REDIS_URL": ""},
            "WORKER_TIMER_PRECISION='0' must be a number of seconds",
        ),
        (
            {"LAB_SANDBOX": '{"concurrency": 9}'},
            "LAB_SANDBOX='{\"concurrency\": 9}' is not a sandbox configuration: concurrency must be "
            "a whole number from 1 to 4, not 9",
        ),
        ({"LAB_SANDBOXES": "-1"}, "LAB_SANDBOXES='-1' must be a whole number from 0 to 64"),
        ({"WEB_PASSWORD_NICENESS": "20"}, "WEB_PASSWORD_NICENESS='20' must be a whole number from 0 to 19"),
    ],
)
def test_a_malformed_setting_stops_the_start_with_a_message_naming_it(env, message, tmp_path):
    done = manage_check(APP_RUNTIME_DIR=str(tmp_path), **env)

    assert done.returncode != 0
    assert message in done.stderr
    assert "s3cret" not in done.stderr, "a password is never shown"


def test_debug_off_over_plain_http_as_make_run_starts_uses_the_generated_key(tmp_path):
    done = manage_check(
        APP_RUNTIME_DIR=str(tmp_path), DJANGO_DEBUG="false", DJANGO_HTTPS="false", DJANGO_SECRET_KEY=""
    )

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "secret_key").stat().st_size > 40


def test_the_embedded_mode_needs_no_variables_and_writes_only_under_the_runtime_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "APP_SQLITE_PATH"}}
    runtime = tmp_path / "runtime"

    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=settings.BASE_DIR,
        env={**env, "APP_RUNTIME_DIR": str(runtime)},
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in runtime.iterdir() if not p.name.startswith("db.sqlite3-")) == [
        "db.sqlite3",
        "secret_key",
    ]
