"""Two workers on the same queues, as a deployment with a worker on another host runs them
(docs/DEPLOY.md): the lab's runs are spread over both, and each run page says which worker
received and ran its task.

The workers are real `celery worker` processes on the mode's real broker, each with a hostname of
its own; which one takes a task is the broker's choice. A revoke is a broadcast every worker
handles, which with more than one worker changes what a client reads (the last two tests).
"""

import re
from pathlib import Path

import pytest
from celery.exceptions import TaskRevokedError
from django.conf import settings

from config.celery import app
from live_lab.models import LabRun
from tests.claims.observe import get, states_until_ready, wait_for_state, wait_until
from tests.claims.tasks import sleep_then_return, tracked_sleep
from tests.conftest import OUTPUT_DIR, clear_broker, worker_env
from tests.factories import make_learner
from tests.live_lab.runs import wait_until_over
from tests.worker_process import CeleryWorkers, workers_to_start

pytestmark = pytest.mark.worker

CONCURRENCY = 2  # each worker's pool processes (CeleryWorker's default)
SECONDS = 4  # long enough that every run is sent while the first ones still run


@pytest.fixture(scope="module")
def two_workers(django_db_setup, django_db_blocker):
    """At least two workers, whatever TEST_WORKER_COUNT says: this module is about them."""
    clear_broker()
    workers = CeleryWorkers(
        max(2, workers_to_start()),
        env=worker_env(),
        log_path=OUTPUT_DIR / "workers" / f"two_workers-{settings.RUN_MODE}.log",
        concurrency=CONCURRENCY,
    )
    workers.wait_until_ready()
    yield workers
    workers.stop()


def lane2_hosts(page: str) -> dict[str, str]:
    """The run page's lane 2 as {event: host} for the worker's events."""
    return dict(re.findall(r"<td>(received|started|succeeded)</td><td>([^<]*)</td>", page))


@pytest.mark.django_db(transaction=True)
def test_runs_fired_in_the_lab_run_on_both_workers_and_each_page_names_the_worker_that_ran_it(
    client, two_workers, settings
):
    # The lab's slots are every worker's share added up: one running and one reserved task per
    # pool process (README, LAB_WORKER_SLOTS). A worker then holds at most 2 × CONCURRENCY of
    # them, so runs fired together cannot all go to one worker.
    workers = len(two_workers.hostnames)
    settings.LAB_WORKER_SLOTS = 2 * CONCURRENCY * workers
    runs = []
    for _ in range(settings.LAB_WORKER_SLOTS // settings.LAB_SLOTS_PER_LEARNER):
        learner = make_learner()
        client.force_login(learner)
        for _ in range(settings.LAB_SLOTS_PER_LEARNER):
            response = client.post(
                "/lab/slow-tracked/", {"seconds": SECONDS, "prediction": "PENDING, STARTED, SUCCESS"}
            )
            assert response.status_code == 302, response.content.decode()[-2000:]
        runs.extend(LabRun.objects.filter(owner=learner))

    ran_on = {}
    for run in runs:
        run = wait_until_over(run, timeout=60)
        assert run.status == LabRun.Status.FINISHED
        client.force_login(run.owner)
        page = client.get(f"/lab/runs/{run.pk}/").content.decode()
        hosts = lane2_hosts(page)
        assert set(hosts) == {"received", "started", "succeeded"}, page
        assert len(set(hosts.values())) == 1, f"one worker received and ran it: {hosts}"
        ran_on[run.pk] = hosts["received"]
        assert ran_on[run.pk] in two_workers.hostnames
        # Lane 1 agrees: track_started stores the worker's hostname with STARTED.
        started = re.search(r"<td><code>STARTED</code></td><td><code>([^<]*)</code>", page).group(1)
        assert ran_on[run.pk] in started
        assert "Your prediction was <strong>right</strong>" in page

    assert set(ran_on.values()) == set(two_workers.hostnames), f"every worker ran some: {ran_on}"


@pytest.mark.django_db(transaction=True)
def test_with_two_workers_revoking_a_running_untracked_task_reads_revoked_then_its_success(
    two_workers, tmp_path
):
    # Celery 5.7's revoke handler (celery/worker/control.py, _revoke) stores REVOKED for a task
    # the handling worker does not run, if the backend reads PENDING: the worker that does run an
    # untracked task stores nothing until it ends, so the other worker takes it for queued.
    marker = tmp_path / "started"
    sent = sleep_then_return.delay("finished", seconds=2, started_path=str(marker))
    wait_until(marker.exists, "the task starting")

    app.AsyncResult(sent.id).revoke()

    revoked = wait_for_state(sent.id, "REVOKED", timeout=5)
    assert isinstance(revoked.info, TaskRevokedError)
    with pytest.raises(TaskRevokedError):
        get(sent.id)
    # The task was running, so it runs on, and its worker's SUCCESS replaces the REVOKED.
    finished = wait_for_state(sent.id, "SUCCESS", timeout=10)
    assert finished.result == "finished"


@pytest.mark.django_db(transaction=True)
def test_with_two_workers_revoking_a_running_tracked_task_leaves_it_to_finish(two_workers, tmp_path):
    # STARTED in the backend tells the other worker that some worker runs it: the lab's revoke
    # experiments use a tracked task, so they read the same with one worker or several.
    marker = tmp_path / "started"
    sent = tracked_sleep.delay("finished", seconds=1.5, started_path=str(marker))
    wait_until(lambda: Path(marker).exists() and app.AsyncResult(sent.id).state == "STARTED", "STARTED")

    app.AsyncResult(sent.id).revoke()

    assert states_until_ready(sent.id) == ["STARTED", "SUCCESS"]
    assert get(sent.id) == "finished"
