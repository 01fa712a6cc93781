"""What AsyncResult reports for a task that succeeds and one that fails, on a real worker."""

import pytest

from config.celery import app
from live_lab.queries import wait_for_result
from live_lab.tasks import LabError, add, fail
from tests.claims.observe import states_until_ready

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_task_that_succeeds_goes_from_pending_to_success(celery_worker):
    sent = add.apply_async((2, 3), {"seconds": 0.3})

    assert states_until_ready(sent.id) == ["PENDING", "SUCCESS"]
    result = app.AsyncResult(sent.id)
    assert result.successful()
    assert result.result == 5
    assert wait_for_result(sent.id, timeout=5) == 5


def test_a_task_that_fails_goes_from_pending_to_failure_and_get_reraises(celery_worker):
    sent = fail.apply_async(("boom",), {"seconds": 0.3})

    assert states_until_ready(sent.id) == ["PENDING", "FAILURE"]
    result = app.AsyncResult(sent.id)
    assert result.failed()
    assert result.ready(), "ready() is true after FAILURE too"
    with pytest.raises(LabError, match="boom"):
        wait_for_result(sent.id, timeout=5)
    returned = wait_for_result(sent.id, timeout=5, propagate=False)
    assert isinstance(returned, LabError)
    assert result.traceback.rstrip().endswith("live_lab.tasks.LabError: boom")


def test_an_id_that_was_never_sent_reports_pending(celery_worker):
    result = app.AsyncResult("no-task-ever-had-this-id")

    assert result.state == "PENDING"
    assert not result.ready()
    assert result.result is None
