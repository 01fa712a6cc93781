"""Firing experiments and watching them: the only lab code that sends tasks or writes runs."""

import threading
import time
import uuid
from datetime import timedelta

from celery import states
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from config.celery import app
from live_lab.experiments import Experiment
from live_lab.models import LabObservation, LabRun

MAX_UNFINISHED_RUNS = 5
MAX_RUNS_PER_MINUTE = 10
OBSERVE_EVERY = 0.02  # seconds between two AsyncResult reads of lane 1
OBSERVE_FOR = 90.0  # a run not ready by then is marked timed out (tasks' hard limit is 45 s)


class LabLimitReached(Exception):
    """The learner has too many unfinished runs, or fired too many in the last minute."""


def check_limits(owner) -> None:
    """Raise LabLimitReached with a message for the learner when a new run is not allowed."""
    # A run whose observer died with its web process stays "running" in the table; past the
    # observer's own time limit it no longer counts.
    unfinished = LabRun.objects.filter(
        owner=owner,
        status=LabRun.Status.RUNNING,
        sent_at__gte=timezone.now() - timedelta(seconds=OBSERVE_FOR),
    ).count()
    if unfinished >= MAX_UNFINISHED_RUNS:
        raise LabLimitReached(
            f"You already have {unfinished} runs that have not finished; wait for one to end "
            f"(at most {MAX_UNFINISHED_RUNS} at a time)."
        )
    recent = LabRun.objects.filter(owner=owner, sent_at__gte=timezone.now() - timedelta(minutes=1)).count()
    if recent >= MAX_RUNS_PER_MINUTE:
        raise LabLimitReached(f"That is {recent} runs in the last minute; wait a moment before the next.")


@transaction.atomic
def fire_experiment(
    owner, experiment: Experiment, *, args: tuple, kwargs: dict, prediction: list[str]
) -> LabRun:
    """Record the run, then send its task once the row is committed, and start watching it."""
    check_limits(owner)
    run = LabRun.objects.create(
        owner=owner,
        experiment=experiment.id,
        params={"args": list(args), "kwargs": kwargs},
        task_id=str(uuid.uuid4()),
        prediction=prediction,
    )

    def send_and_observe():
        # Read once before sending: the id is ours already, and AsyncResult says PENDING for it.
        # With Redis a tracked task can be STARTED before a thread started after the send could
        # take its first reading.
        first = record_reading(run, snapshot(run.task_id), after_ms=0.0)
        experiment.task.apply_async(args, kwargs, task_id=run.task_id)
        threading.Thread(
            target=observe_run, args=(run.pk, first), name=f"observe-{run.pk}", daemon=True
        ).start()

    transaction.on_commit(send_and_observe)
    return run


def snapshot(task_id: str) -> tuple:
    """(state, repr(info), ready(), successful(), progress) from ONE read of the result backend.

    Each AsyncResult property reads the backend again until the state is ready, so reading
    .state, then .info, then .ready() could mix two moments (PROGRESS with ready() True).
    These are the values AsyncResult derives from the meta it reads (celery/result.py).
    """
    meta = app.AsyncResult(task_id).backend.get_task_meta(task_id)
    state, info = meta["status"], meta["result"]
    progress = None
    if isinstance(info, dict) and {"current", "total"} <= info.keys():
        progress = {"current": info["current"], "total": info["total"]}
    return state, repr(info), state in states.READY_STATES, state == states.SUCCESS, progress


def record_reading(run: LabRun, reading: tuple, *, after_ms: float) -> tuple:
    state, info, is_ready, is_successful, progress = reading
    LabObservation.objects.create(
        run=run,
        after_ms=after_ms,
        state=state,
        info=info[:1000],
        is_ready=is_ready,
        is_successful=is_successful,
        progress=progress,
    )
    return reading


def observe_run(run_id: int, last: tuple | None = None) -> None:
    """Lane 1: read app.AsyncResult every 20 ms and store each distinct reading, until ready.

    Runs in its own thread of the web process, so lane 1 is recorded whether or not anyone
    watches the page; the run page only streams what is stored.
    """
    try:
        run = LabRun.objects.get(pk=run_id)
        started = time.monotonic()
        while time.monotonic() - started < OBSERVE_FOR:
            reading = snapshot(run.task_id)
            if reading != last:
                after_ms = (timezone.now() - run.sent_at).total_seconds() * 1000
                last = record_reading(run, reading, after_ms=after_ms)
                if reading[2]:  # ready()
                    finish_run(run, status=LabRun.Status.FINISHED)
                    return
            time.sleep(OBSERVE_EVERY)
        finish_run(run, status=LabRun.Status.TIMED_OUT)
    finally:
        connection.close()


def observed_states(run: LabRun) -> list[str]:
    """Lane 1's state sequence, one entry per change of state."""
    states: list[str] = []
    for state in run.observations.values_list("state", flat=True):
        if not states or states[-1] != state:
            states.append(state)
    return states


def finish_run(run: LabRun, *, status: str) -> None:
    close_old_connections()
    run.status = status
    run.finished_at = timezone.now()
    run.is_prediction_right = run.prediction == observed_states(run)
    run.save(update_fields=["status", "finished_at", "is_prediction_right"])
