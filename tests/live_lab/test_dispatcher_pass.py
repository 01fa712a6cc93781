"""What a dispatcher pass has to do is counted in one statement (live_lab/services.py): a pass
comes at every fire and every run's end, several a second in each web process during a class."""

import datetime as dt

import pytest
from django.utils import timezone

from live_lab.models import LabRun
from live_lab.observer import ORPHANED_AFTER
from live_lab.services import PendingLabWork, orphaned_now, pending_lab_work
from tests.factories import make_learner

pytestmark = pytest.mark.django_db


def make_run(owner, n, **fields) -> LabRun:
    return LabRun.objects.create(
        owner=owner, experiment="success", task_id=f"t{n}", prediction=["PENDING"], **fields
    )


def test_a_pass_counts_waiting_orphaned_and_unfinished_runs_in_one_statement(django_assert_num_queries):
    learner = make_learner()
    now = timezone.now()
    long_ago = now - dt.timedelta(seconds=ORPHANED_AFTER + 5)
    make_run(learner, 1)  # waiting for the shared worker
    make_run(learner, 2)
    make_run(learner, 3, sandbox_config={"concurrency": 1})  # waiting for a sandbox
    make_run(learner, 4, status=LabRun.Status.RUNNING, sent_at=now, watched_at=now)
    make_run(learner, 5, status=LabRun.Status.RUNNING, sent_at=long_ago, watched_at=long_ago)  # orphaned
    make_run(learner, 6, status=LabRun.Status.RUNNING, sent_at=long_ago, watched_at=None)  # orphaned
    make_run(learner, 7, status=LabRun.Status.FINISHED, sent_at=long_ago, watched_at=long_ago)

    with django_assert_num_queries(1):
        work = pending_lab_work()

    assert work == PendingLabWork(waiting=2, waiting_for_sandbox=1, orphaned=2, unfinished=6)
    # The count's rule (SQL) and the one adopt_orphaned_runs reads by (the ORM's Q) agree.
    assert set(LabRun.objects.filter(orphaned_now()).values_list("task_id", flat=True)) == {"t5", "t6"}


def test_with_nothing_unfinished_a_pass_has_nothing_to_do():
    make_run(make_learner(), 1, status=LabRun.Status.FINISHED)

    assert pending_lab_work() == PendingLabWork(waiting=0, waiting_for_sandbox=0, orphaned=0, unfinished=0)
