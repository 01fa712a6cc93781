"""Firing experiments: the lab's limits, the run's row, then its task once the worker has a
slot for it, watched from before the send.

A class shares one worker. A fired run waits in the web app (status WAITING) until the worker
has a free slot and its learner has fewer than LAB_SLOTS_PER_LEARNER runs there; the runs
that wait go out in fair order (live_lab/fair_share.py). Each web process has one dispatcher
thread that sends them, and that adopts the runs of a web process that stopped
(docs/live-lab.md, "A class at once").
"""

import logging
import math
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from live_lab.challenges import Challenge, end_forgotten_attempts, run_in_background
from live_lab.experiments import Experiment, get_experiment
from live_lab.fair_share import runs_to_send
from live_lab.models import ChallengeAttempt, ChallengeHint, LabEvent, LabRun
from live_lab.observer import ORPHANED_AFTER, RunObserver, observation_of, observatory, snapshot
from live_lab.queries import unfinished_on_worker, waiting_runs
from live_lab.run_changes import publish_run_changes
from live_lab.worker_signals import background_writer

logger = logging.getLogger(__name__)

MAX_UNFINISHED_RUNS = 5
MAX_RUNS_PER_MINUTE = 10
DISPATCH_EVERY = 1.0  # seconds between two looks for waiting and orphaned runs, when not woken
WAIT_FOR_SEND = 5.0  # at most this long a learner's form waits for her run to be sent

# Celery keeps one result backend per thread (app.backend), with its own connections: runs are
# sent from these few long-lived threads, never from a request's thread.
senders = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lab-sender")


class LabLimitReached(Exception):
    """The learner has too many unfinished runs, fired too many in the last minute, or the
    whole lab has too many runs waiting."""


def claim_a_run(owner, **fields) -> LabRun:
    """Insert the run (waiting), then count the owner's runs with it; over a limit, delete it
    and raise LabLimitReached with a message for the learner.

    Two statements in autocommit rather than a check and an insert in one transaction: a
    transaction would hold SQLite's write lock while this thread waits for the interpreter
    lock, and with twenty learners firing at once that starved the worker's own writes for
    seconds (docs/PERFORMANCE.md). Two runs inserted at the same moment count each other:
    both may be refused, never both allowed over the limit. A run counts until it ends, however
    long it waits: a run of a stopped web process is adopted and ended by another.
    """
    run = LabRun.objects.create(owner=owner, **fields)
    minute_ago = timezone.now() - timezone.timedelta(minutes=1)
    unfinished = Q(status__in=[LabRun.Status.WAITING, LabRun.Status.RUNNING])
    counts = LabRun.objects.exclude(pk=run.pk).aggregate(
        unfinished=Count("pk", filter=Q(owner=owner) & unfinished),
        recent=Count("pk", filter=Q(owner=owner, fired_at__gte=minute_ago)),
        waiting=Count("pk", filter=Q(status=LabRun.Status.WAITING)),
    )
    if counts["unfinished"] >= MAX_UNFINISHED_RUNS:
        message = (
            f"You already have {counts['unfinished']} runs that have not finished; wait for one to end "
            f"(at most {MAX_UNFINISHED_RUNS} at a time)."
        )
    elif counts["recent"] >= MAX_RUNS_PER_MINUTE:
        message = f"That is {counts['recent']} runs in the last minute; wait a moment before the next."
    elif counts["waiting"] >= settings.LAB_MAX_WAITING_RUNS:
        message = (
            f"The lab is full: {counts['waiting']} runs of the class are waiting for the worker. "
            "Nothing was sent; try again in a minute."
        )
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
    """Record the run; once its row is committed, the dispatcher sends it when the worker has
    a slot for it. Waits (at most WAIT_FOR_SEND) for the dispatcher's next pass, so that a run
    the worker has room for is sent before the learner sees its page."""
    run = claim_a_run(
        owner,
        experiment=experiment.id,
        params={"args": list(args), "kwargs": kwargs, "options": options or {}},
        task_id=str(uuid.uuid4()),
        prediction=prediction,
        predicted_calls=predicted_calls or {},
    )
    transaction.on_commit(lambda: dispatcher.pass_now(wait=WAIT_FOR_SEND))
    return run


# The key of PostgreSQL's advisory lock that send_waiting_runs takes (any constant the app uses
# for nothing else).
SEND_WAITING_RUNS_LOCK = 1_407_001


def send_waiting_runs() -> list[LabRun]:
    """Send as many waiting runs as the worker has free slots for, in fair order.

    The choice and the claim (WAITING → RUNNING) are one short transaction: on SQLite it takes
    the write lock, on PostgreSQL an advisory lock, so two web processes never fill the same
    free slot; a run is only claimed if still waiting, so it is never sent twice.
    """
    if not LabRun.objects.filter(status=LabRun.Status.WAITING).exists():
        return []  # the common case, answered without the write lock
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # PostgreSQL lets two such transactions run side by side (row locks, no write lock
            # for the whole database): two web processes would both count the same free slot and
            # both fill it. This lock makes them take turns; it is released at commit.
            # https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEND_WAITING_RUNS_LOCK])
        on_worker = unfinished_on_worker()
        free = settings.LAB_WORKER_SLOTS - sum(on_worker.values())
        if free <= 0:
            return []
        chosen = runs_to_send(
            waiting_runs(), on_worker, free_slots=free, per_learner=settings.LAB_SLOTS_PER_LEARNER
        )
        now = timezone.now()
        LabRun.objects.filter(pk__in=[c.run_id for c in chosen], status=LabRun.Status.WAITING).update(
            status=LabRun.Status.RUNNING, sent_at=now, watched_at=now
        )
    runs = sorted(
        LabRun.objects.filter(pk__in=[c.run_id for c in chosen], sent_at=now), key=lambda r: r.fired_at
    )
    list(senders.map(send_run, runs))  # each send waits on the broker and the backend: a few at once
    return runs


def send_run(run: LabRun) -> None:
    """Take the first reading, hand the run to the observer, send its task. A run whose task
    cannot be sent (the broker or the result backend is unreachable) ends NOT_SENT, with a
    message for the learner."""
    experiment = get_experiment(run.experiment)
    args, kwargs, options = tuple(run.params["args"]), run.params["kwargs"], run.params["options"]
    try:
        # Read once before sending: the id is ours already, and AsyncResult says PENDING for
        # it. With Redis a tracked task can be STARTED before the observer could take a first
        # reading after the send.
        first = snapshot(run.task_id)
        first_row = observation_of(run, first, after_ms=0.0)
        first_row.save()
        observer = RunObserver(run, experiment, first, first_row=first_row)
        observatory.watch(observer)  # before the send: no store of the task is missed
        if experiment.send:
            sent = experiment.send(run, args, kwargs, options)  # sets the chord header's ids on the run
        else:
            sent = experiment.task.apply_async(args, kwargs, task_id=run.task_id, **options)
        observer.sent_handle = sent
    except Exception as error:  # whatever stopped the send, the run must not look sent
        logger.warning("Lab run %s could not be sent", run.pk, exc_info=True)
        observatory.forget(run.pk)
        mark_not_sent(run, error)
        return
    if experiment.send:
        run.save(update_fields=["related_ids", "params"])
    observer.announce()  # its page may be open, here or in another web process
    observer.start_calls()


def mark_not_sent(run: LabRun, error: Exception) -> None:
    """End the run as not sent, with what the learner is told (the experiment page shows it
    as the form's error, docs/lab-faults.md).

    Lane 2's "published" row is written by before_task_publish, before the message goes out
    (live_lab/worker_signals.py); a send that failed leaves no such row behind. The first
    reading, when it was taken, stays: AsyncResult did read PENDING.
    """
    what, next_step = "the broker", "Fire it again in a minute."
    if settings.RUN_MODE == "redis":
        what = "Redis, the lab's broker and result store,"
        next_step = "Fire it again in a minute; if it keeps happening, tell your instructor."
    run.status = LabRun.Status.NOT_SENT
    run.finished_at = timezone.now()
    run.ending = (
        f"Your run could not be sent: {what} did not answer ({type(error).__name__}). Nothing was queued "
        f"and nothing ran, so it is not graded. {next_step}"
    )
    run.save(update_fields=["status", "finished_at", "ending"])
    publish_run_changes([run.pk])
    background_writer.flush()  # a "published" row for it may still be on its way
    task_ids = [run.task_id, *run.related_ids]
    LabEvent.objects.filter(task_id__in=task_ids, kind=LabEvent.Kind.PUBLISHED).delete()


def adopt_orphaned_runs() -> list[LabRun]:
    """Observe the running runs whose web process stopped watching them (it stopped or died).

    A run is claimed by moving its watched_at from the stale value read to now, so only one
    process adopts it. The new observer goes on from the run's last stored reading.
    """
    stale = timezone.now() - timezone.timedelta(seconds=ORPHANED_AFTER)
    orphans = LabRun.objects.filter(status=LabRun.Status.RUNNING).filter(
        Q(watched_at__lt=stale) | Q(watched_at__isnull=True, sent_at__lt=stale)
    )
    adopted = []
    for run in orphans:
        if observatory.is_watching(run.pk):
            continue
        still_orphaned = LabRun.objects.filter(pk=run.pk, watched_at=run.watched_at)
        if not still_orphaned.update(watched_at=timezone.now()):
            continue
        last = run.observations.last()
        first = snapshot(run.task_id) if last is None else last.as_reading()
        observer = RunObserver(run, get_experiment(run.experiment), first, adopted=True)
        observatory.watch(observer)
        observer.start_calls()
        adopted.append(run)
    return adopted


class Dispatcher:
    """The web process's one thread that chooses waiting runs to send (the senders send them)
    and adopts orphaned ones. No request sends: a broker that does not answer holds up a
    learner's form for WAIT_FOR_SEND at most."""

    def __init__(self):
        self.woken = threading.Event()
        self.passed = threading.Condition()
        self.started = 0  # passes begun since the process started
        self.passes = 0  # passes completed
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def wake(self) -> None:
        """Look for runs to send and to adopt now, not at the next DISPATCH_EVERY."""
        self.woken.set()
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.run_forever, name="lab-dispatcher", daemon=True)
                self.thread.start()

    def pass_now(self, *, wait: float) -> None:
        """Wake the thread and wait (at most `wait` s) until a whole pass began after this call."""
        with self.passed:
            target = self.started + 1  # a pass under way may have looked before the run existed
        self.wake()
        with self.passed:
            self.passed.wait_for(lambda: self.passes >= target, timeout=wait)

    def run_forever(self) -> None:
        anything_unfinished, logged_at = True, -math.inf
        while True:
            # While no run waits or runs anywhere, nothing can need sending or adopting until
            # a run is fired, a page of one is opened or a run ends: each of those wakes it.
            self.woken.wait(DISPATCH_EVERY if anything_unfinished else None)
            self.woken.clear()
            with self.passed:
                self.started += 1
            try:
                adopt_orphaned_runs()
                send_waiting_runs()
                anything_unfinished = LabRun.objects.filter(
                    status__in=[LabRun.Status.WAITING, LabRun.Status.RUNNING]
                ).exists()
            except Exception:
                # The database is locked or unreachable for a moment: say so (once a minute at
                # most, as this repeats every second), and try again.
                if time.monotonic() - logged_at >= 60:
                    logger.exception("The lab's dispatcher could not send or adopt runs")
                    logged_at = time.monotonic()
                connection.close()
                anything_unfinished = True
            with self.passed:
                self.passes += 1
                self.passed.notify_all()


dispatcher = Dispatcher()
observatory.when_runs_end = dispatcher.wake  # a slot is free: send the next waiting run


class ChallengeBusy(Exception):
    """The learner already has an attempt running: one at a time."""


def start_challenge_attempt(owner, challenge: Challenge, *, choices: dict, size: int) -> ChallengeAttempt:
    """Record the attempt (running) and run it on a challenge thread (live_lab/challenges.py).

    Raises ChallengeBusy if the learner has one running: the partial unique constraint decides,
    so two clicks at once start one sandbox.
    """
    end_forgotten_attempts(owner)
    try:
        with transaction.atomic():
            attempt = ChallengeAttempt.objects.create(
                owner=owner, challenge=challenge.id, choices=choices, size=size
            )
    except IntegrityError:
        raise ChallengeBusy("You have an attempt running already; wait for its check.") from None
    run_in_background(attempt)
    return attempt


def reveal_next_hint(owner, challenge: Challenge) -> int:
    """Reveal the next hint of the challenge's ladder for the learner; returns how many are
    revealed. A replayed request reveals nothing more (the unique level decides)."""
    taken = ChallengeHint.objects.filter(owner=owner, challenge=challenge.id).count()
    if taken < len(challenge.hints):
        ChallengeHint.objects.get_or_create(owner=owner, challenge=challenge.id, level=taken + 1)
    return ChallengeHint.objects.filter(owner=owner, challenge=challenge.id).count()
