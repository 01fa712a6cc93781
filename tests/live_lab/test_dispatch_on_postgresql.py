"""On PostgreSQL, two web processes' dispatchers take turns to fill the worker's free slots.

SQLite lets one write transaction run at a time; PostgreSQL runs them side by side, so
send_waiting_runs takes an advisory lock (live_lab/services.py). The test makes the two
dispatchers meet at the worst moment: the second counts the runs on the worker while the first
has chosen a run but not claimed it yet. Without the lock both fill the one free slot.
"""

import threading
import uuid

import pytest
from django.db import connection

from live_lab.models import LabRun
from live_lab.services import claim_a_run, send_waiting_runs
from tests.factories import make_learner
from tests.live_lab.runs import wait_until_over

pytestmark = [pytest.mark.postgresql_only, pytest.mark.worker]


def counts_runs_on_the_worker(sql: str) -> bool:
    """The statement of queries.unfinished_on_worker(): running runs without a last word."""
    return '"live_lab_labevent"' in sql and "EXISTS" in sql


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_fill_one_free_slot_once(celery_worker, settings):
    settings.LAB_WORKER_SLOTS = 1
    # A run that holds its slot for 5 s: the slot is not legitimately free again (the worker's
    # last word) before the count below, however slow the machine is to get there.
    runs = [
        claim_a_run(
            make_learner(),
            experiment="success",
            params={"args": [2, 3], "kwargs": {"seconds": 5.0}, "options": {}},
            task_id=str(uuid.uuid4()),
            prediction=["PENDING", "SUCCESS"],
        )
        for _ in range(3)
    ]
    first_counted, second_counted, first_done = threading.Event(), threading.Event(), threading.Event()
    errors = []

    def dispatcher(name, after_counting):
        def wrapper(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if counts_runs_on_the_worker(sql):
                after_counting()
            return result

        try:
            with connection.execute_wrapper(wrapper):
                send_waiting_runs()
        except Exception as error:  # reported by the assertion below, with the thread's name
            errors.append((name, error))
        finally:
            connection.close()

    def first_after_counting():
        first_counted.set()
        second_counted.wait(timeout=2)  # with the lock the second cannot count before we commit

    def second_after_counting():
        second_counted.set()
        first_done.wait(timeout=10)  # without the lock: the first claims and commits meanwhile

    first = threading.Thread(target=lambda: (dispatcher("first", first_after_counting), first_done.set()))
    second = threading.Thread(target=dispatcher, args=("second", second_after_counting))
    first.start()
    assert first_counted.wait(timeout=10), "the first dispatcher counted the runs on the worker"
    second.start()
    first.join(timeout=30)
    second.join(timeout=30)

    assert errors == []
    claimed = list(LabRun.objects.exclude(status=LabRun.Status.WAITING))
    assert len(claimed) == 1, f"one free slot, filled {len(claimed)} times"
    LabRun.objects.filter(status=LabRun.Status.WAITING, pk__in=[run.pk for run in runs]).delete()
    assert wait_until_over(claimed[0]).status == LabRun.Status.FINISHED
