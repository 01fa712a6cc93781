"""Claims about celery.states and AsyncResult's API that hold without a worker (static facts)."""

import importlib.util

import pytest
from celery import Celery, states
from celery.app import backends
from celery.result import AsyncResult

from config.celery import app
from live_lab.tasks import add


def test_ready_states_are_success_failure_and_revoked():
    assert frozenset({"SUCCESS", "FAILURE", "REVOKED"}) == states.READY_STATES


def test_unready_states_are_pending_received_started_rejected_and_retry():
    assert frozenset({"PENDING", "RECEIVED", "STARTED", "REJECTED", "RETRY"}) == states.UNREADY_STATES


def test_exception_states_are_failure_retry_and_revoked_and_propagate_states_failure_and_revoked():
    assert frozenset({"FAILURE", "RETRY", "REVOKED"}) == states.EXCEPTION_STATES
    assert frozenset({"FAILURE", "REVOKED"}) == states.PROPAGATE_STATES


def test_celery_has_no_running_or_completed_state():
    assert "RUNNING" not in states.ALL_STATES
    assert "COMPLETED" not in states.ALL_STATES
    assert not hasattr(states, "RUNNING")
    assert not hasattr(states, "COMPLETED")


def test_a_custom_state_is_in_neither_ready_nor_unready_states():
    for custom in ("PROGRESS", "DONE", "UPLOADING"):
        assert custom not in states.READY_STATES
        assert custom not in states.UNREADY_STATES


def test_state_precedence_puts_custom_states_between_started_and_failure():
    names = ["PENDING", "SUCCESS", "STARTED", "PROGRESS", "RETRY", "FAILURE"]

    assert sorted(names, key=states.state) == [
        "PENDING",
        "RETRY",
        "STARTED",
        "PROGRESS",
        "FAILURE",
        "SUCCESS",
    ]
    # Every custom state has the same precedence: neither is greater than the other.
    assert not states.state("UPLOADING") > states.state("PROGRESS")
    assert not states.state("UPLOADING") < states.state("PROGRESS")
    assert states.state("PROGRESS") > states.state("REVOKED")


def test_asyncresult_aliases_name_the_same_members():
    assert AsyncResult.status is AsyncResult.state
    assert AsyncResult.info is AsyncResult.result
    assert AsyncResult.wait is AsyncResult.get
    result = app.AsyncResult("some-id")
    assert result.task_id == result.id == "some-id"


def test_without_a_result_backend_reading_a_state_raises_attribute_error_and_storing_does_nothing():
    no_backend = Celery("no-backend", set_as_current=False)
    result = no_backend.AsyncResult("some-id")

    assert type(no_backend.backend).__name__ == "DisabledBackend"
    assert no_backend.backend.store_result("some-id", 4, states.SUCCESS) is None
    # Celery 5.7 fails before its own "No result backend is configured" message: the disabled
    # backend has no _get_task_meta_for.
    with pytest.raises(AttributeError, match="_get_task_meta_for"):
        result.state  # noqa: B018 - reading it is the point
    with pytest.raises(AttributeError, match="_get_task_meta_for"):
        result.ready()


def test_result_backend_urls_name_real_backends_by_their_scheme():
    def backend_class(url):
        cls, _ = backends.by_url(url, app.loader)
        return f"{cls.__module__}.{cls.__name__}"

    assert backend_class("redis://localhost:6379/1") == "celery.backends.redis.RedisBackend"
    assert backend_class("file:///srv/celery-results") == "celery.backends.filesystem.FilesystemBackend"
    assert backend_class("rpc://") == "celery.backends.rpc.RPCBackend"
    # Not one of Celery's own aliases: django-celery-results registers it by an entry point.
    assert "django-db" not in backends.BACKEND_ALIASES
    assert backend_class("django-db") == "django_celery_results.backends.database.DatabaseBackend"
    # db+<SQLAlchemy URL>: the SQLAlchemy backend, which imports SQLAlchemy (not installed here).
    assert backends.BACKEND_ALIASES["db"] == "celery.backends.database:DatabaseBackend"
    if importlib.util.find_spec("sqlalchemy") is None:
        with pytest.raises(ModuleNotFoundError, match="sqlalchemy"):
            backends.by_url("db+sqlite:///results.sqlite", app.loader)
    else:
        assert backend_class("db+sqlite:///results.sqlite") == "celery.backends.database.DatabaseBackend"


def test_app_asyncresult_is_bound_to_the_apps_backend_and_takes_the_id_first():
    result = app.AsyncResult("some-id")
    assert result.app is app
    assert result.backend is app.backend
    assert add.AsyncResult("some-id").backend is add.backend
    with pytest.raises(TypeError, match="unexpected keyword argument 'task'"):
        AsyncResult(task="some-id")
    assert not hasattr(AsyncResult, "fetch")
