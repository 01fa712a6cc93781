"""Firing experiments: the lab's limits, the run's row, then its task, watched from before the send."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from live_lab.experiments import Experiment
from live_lab.models import LabRun
from live_lab.observer import OBSERVE_FOR, RunObserver, observation_of, observatory, snapshot

MAX_UNFINISHED_RUNS = 5
MAX_RUNS_PER_MINUTE = 10

# Celery keeps one result backend per thread (app.backend), and Django serves each ASGI request
# in a thread of its own: sending from the request thread built a backend for every run, with
# its own Redis connection pool and pub/sub connection. Runs are sent from these few threads.
sender = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lab-sender")


class LabLimitReached(Exception):
    """The learner has too many unfinished runs, or fired too many in the last minute."""


def claim_a_run(owner, **fields) -> LabRun:
    """Insert the run, then count the owner's runs with it; over a limit, delete it and raise
    LabLimitReached with a message for the learner.

    Two statements in autocommit rather than a check and an insert in one transaction: a
    transaction would hold SQLite's write lock while this thread waits for the interpreter
    lock, and with twenty learners firing at once that starved the worker's own writes for
    seconds (docs/PERFORMANCE.md). Two runs inserted at the same moment count each other:
    both may be refused, never both allowed over the limit.
    """
    run = LabRun.objects.create(owner=owner, **fields)
    # A run whose observer died with its web process stays "running" in the table; past the
    # observer's own time limit it no longer counts.
    now = timezone.now()
    counts = (
        LabRun.objects.filter(owner=owner)
        .exclude(pk=run.pk)
        .aggregate(
            unfinished=Count(
                "pk",
                filter=Q(status=LabRun.Status.RUNNING, sent_at__gte=now - timedelta(seconds=OBSERVE_FOR)),
            ),
            recent=Count("pk", filter=Q(sent_at__gte=now - timedelta(minutes=1))),
        )
    )
    if counts["unfinished"] >= MAX_UNFINISHED_RUNS:
        message = (
            f"You already have {counts['unfinished']} runs that have not finished; wait for one to end "
            f"(at most {MAX_UNFINISHED_RUNS} at a time)."
        )
    elif counts["recent"] >= MAX_RUNS_PER_MINUTE:
        message = f"That is {counts['recent']} runs in the last minute; wait a moment before the next."
    else:
        return run
    LabRun.objects.filter(pk=run.pk).delete()
    raise LabLimitReached(message)


def fire_experiment(
    owner,
    experiment: Experiment,
    *,
    args: tuple,
    kwargs: dict,
    prediction: list[str],
    predicted_calls: dict | None = None,
    options: dict | None = None,
) -> LabRun:
    """Record the run, then send its task once the row is committed, and start watching it."""
    options = options or {}
    task_id = str(uuid.uuid4())
    # Read once before sending: the id is ours already, and AsyncResult says PENDING for it.
    # With Redis a tracked task can be STARTED before the observer's thread could take a
    # first reading after the send.
    first = celery_call(snapshot, task_id)
    run = claim_a_run(
        owner,
        experiment=experiment.id,
        params={"args": list(args), "kwargs": kwargs, "options": options},
        task_id=task_id,
        prediction=prediction,
        predicted_calls=predicted_calls or {},
    )
    observation_of(run, first, after_ms=0.0).save()

    def send_and_observe():
        observer = RunObserver(run, experiment, first)
        observatory.watch(observer)  # before the send: no store of the task is missed
        if experiment.send:
            experiment.send(run, args, kwargs, options)  # sets the chord header's ids on the run
            run.save(update_fields=["related_ids", "params"])
        else:
            experiment.task.apply_async(args, kwargs, task_id=run.task_id, **options)
        observer.start_calls()

    transaction.on_commit(lambda: celery_call(send_and_observe))  # at once, unless in an outer transaction
    return run


def celery_call(function, *args):
    """function(*args) in a sender thread (see `sender`); its result, or its exception."""
    return sender.submit(function, *args).result()
