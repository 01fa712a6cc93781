"""revoke(terminate=True), in a module of its own: the module's worker is its own. Terminating a
pool process can leave a prefork pool stuck (docs/live-lab.md, "Sandbox workers"), and a stuck
worker would fail every later test that shares it."""

import pytest
from celery.exceptions import TaskRevokedError

from config.celery import app
from tests.claims.observe import wait_for_state, wait_until
from tests.claims.tasks import sleep_then_return
from tests.claims.test_asyncresult import one_worker, running, started

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@one_worker
def test_revoke_with_terminate_stops_a_running_task_and_stores_revoked_terminated(celery_worker, tmp_path):
    marker = started(tmp_path)
    sent = sleep_then_return.delay("never", seconds=10, started_path=marker)
    wait_until(lambda: running(marker), "the task starting")

    app.AsyncResult(sent.id).revoke(terminate=True)

    result = wait_for_state(sent.id, "REVOKED", timeout=5)
    assert isinstance(result.info, TaskRevokedError)
    assert result.info.args == ("terminated",)
