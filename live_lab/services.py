"""Firing experiments: the lab's limits, the run's row, then its task once the worker has a
slot for it, watched from before the send.

A class shares one worker. A fired run waits in the web app (status WAITING) until the worker
has a free slot and its learner has fewer than LAB_SLOTS_PER_LEARNER runs there; the runs
that wait go out in fair order (live_lab/fair_share.py). Each web process has one dispatcher
thread that sends them, and that adopts the runs of a web process that stopped
(docs/live-lab.md, "A class at once").
"""

import dataclasses
import datetime as dt
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
from live_lab.observer import ORPHANED_AFTER, RunObserver, finish_run, observation_of, observatory, snapshot
from live_lab.queries import runs_on_sandboxes, unfinished_on_worker, waiting_runs, waiting_sandbox_runs
from live_lab.run_changes import publish_run_changes
from live_lab.sandbox import (
    START_TIMEOUT,
    Sandbox,
    SandboxFailed,
    claim_sandbox_slot,
    free_claims_of_dead_holders,
)
from live_lab.sandbox_config import SandboxConfig
from live_lab.sandbox_runs import SandboxScript
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
    sandbox_config: SandboxConfig | None = None,
    script_params: dict | None = None,
) -> LabRun:
    """Record the run; once its row is committed, the dispatcher sends it when the worker has
    a slot for it, or (with `sandbox_config`) once a sandbox worker is free and started for it.
    Waits (at most WAIT_FOR_SEND) for the dispatcher's next pass, so that a run the worker has
    room for is sent before the learner sees its page."""
    if sandbox_config is not None and settings.LAB_SANDBOXES == 0:
        raise LabLimitReached(
            "Sandbox workers are turned off on this site (LAB_SANDBOXES=0): this one cannot run."
        )
    run = claim_a_run(
        owner,
        experiment=experiment.id,
        params={
            "args": list(args),
            "kwargs": kwargs,
            "options": options or {},
            "script": script_params or {},
        },
        task_id=str(uuid.uuid4()),
        prediction=prediction,
        predicted_calls=predicted_calls or {},
        sandbox_config=None if sandbox_config is None else dataclasses.asdict(sandbox_config),
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
    with transaction.atomic():  # the dispatcher calls this only when a run waits (pending_lab_work)
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


def send_run(run: LabRun, *, queue: str | None = None) -> RunObserver | None:
    """Take the first reading, hand the run to the observer, send its task (to `queue`: a
    sandbox worker's). A run whose task cannot be sent (the broker or the result backend is
    unreachable) ends NOT_SENT, with a message for the learner; then None."""
    experiment = get_experiment(run.experiment)
    args, kwargs, options = tuple(run.params["args"]), run.params["kwargs"], run.params["options"]
    if queue is not None:
        options = {**options, "queue": queue}
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
        return None
    if experiment.send:
        run.save(update_fields=["related_ids", "params"])
    observer.announce()  # its page may be open, here or in another web process
    observer.start_calls()
    return observer


def send_waiting_sandbox_runs() -> list[LabRun]:
    """Start a sandbox worker for each waiting sandbox run there is a free slot for (at most
    LAB_SANDBOXES across the site, one run per learner at a time), in fair order.

    The slot is claimed first (a unique row, live_lab/sandbox.py), then the run moves from
    WAITING to RUNNING only if it still waits: two web processes never start one run twice.
    Each run then goes on in a thread of its own (run_on_sandbox), since its worker takes
    seconds to start and its script waits on it.
    """
    waiting = waiting_sandbox_runs()
    if not waiting:
        return []
    started = []
    on_sandboxes = runs_on_sandboxes()
    for chosen in runs_to_send(waiting, on_sandboxes, free_slots=len(waiting), per_learner=1):
        run = LabRun.objects.get(pk=chosen.run_id)
        sandbox = Sandbox(SandboxConfig(**run.sandbox_config))
        sandbox.claim = claim_sandbox_slot(hostname=sandbox.hostname)
        if sandbox.claim is None:
            break  # every sandbox is in use: the rest wait for one to stop
        now = timezone.now()
        # Stamped START_TIMEOUT ahead: the observer only stamps it once the worker is up, and
        # until then no other web process may take it for an orphan (ORPHANED_AFTER).
        claimed = LabRun.objects.filter(pk=run.pk, status=LabRun.Status.WAITING).update(
            status=LabRun.Status.RUNNING, sent_at=now, watched_at=now + dt.timedelta(seconds=START_TIMEOUT)
        )
        if not claimed:
            sandbox.stop()
            continue
        run.refresh_from_db()
        threading.Thread(
            target=run_on_sandbox, args=(run, sandbox), name=f"sandbox-run-{run.pk}", daemon=True
        ).start()
        started.append(run)
    return started


def run_on_sandbox(run: LabRun, sandbox: Sandbox) -> None:
    """Start the run's sandbox worker, send the task to its queue, play the experiment's script,
    then stop the worker once the observer has ended the run. The worker is always stopped and
    its slot freed, whatever fails; if this process dies, the worker dies with it."""
    observer = None
    try:
        try:
            sandbox.start()
        except SandboxFailed as error:
            logger.warning("A sandbox worker for lab run %s did not start: %s", run.pk, error)
            finish_run(run, status=LabRun.Status.NOT_SENT, ending=sandbox_failed_ending())
            publish_run_changes([run.pk])
            return
        now = timezone.now()
        run.sandbox_hostname, run.sent_at, run.watched_at = sandbox.hostname, now, now
        run.params = {**run.params, "queue": sandbox.queue}  # lane 3 looks in it (observer.py)
        run.save(update_fields=["sandbox_hostname", "sent_at", "watched_at", "params"])
        observer = send_run(run, queue=sandbox.queue)
        if observer is None:
            return  # not sent: the run says why
        script = SandboxScript(run, sandbox, observer)
        try:
            get_experiment(run.experiment).sandbox.script(script)
        except Exception as error:  # a worker that would not restart, a pool process already gone
            logger.warning("The script of lab run %s failed", run.pk, exc_info=True)
            observer.script_failure = script_failed_ending(error)
        finally:
            script.close()
    finally:
        if observer is not None:
            observer.steps_done.set()  # the script is over: the observer ends the run
            deadline = time.monotonic() + SANDBOX_RUN_ENDS_WITHIN
            while observatory.is_watching(run.pk) and time.monotonic() < deadline:
                time.sleep(0.1)
        # The run is over: whatever the worker still holds belongs to nobody, so it is killed
        # rather than asked to finish; stop() deletes its private queue.
        sandbox.kill()
        sandbox.stop()
        connection.close()
        dispatcher.wake()  # its slot is free: a run waiting for a sandbox can have it


# After its script returned, a sandbox run ends within the observer's GRACE (1 s); its worker
# is stopped then, or after this long at the latest.
SANDBOX_RUN_ENDS_WITHIN = 10.0


def sandbox_failed_ending() -> str:
    return (
        "Your run could not start: its sandbox worker did not answer within "
        f"{START_TIMEOUT:.0f} s (the machine may be very busy). Nothing was sent, and it is not graded. "
        "Fire it again in a minute."
    )


def script_failed_ending(error: Exception) -> str:
    return (
        f"The experiment could not do its part to the sandbox worker ({error}), so what the lanes show "
        "is not what the experiment is about. Not graded: fire it again."
    )


def sandbox_run_orphaned_ending() -> str:
    return (
        "The web process that ran this run's sandbox worker stopped during the run, and the worker "
        "was killed with it, as every sandbox is (docs/live-lab.md). The lanes show what happened "
        "until then. Not graded: fire it again."
    )


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


def orphaned_now() -> Q:
    """Running runs whose observer has not stamped them for ORPHANED_AFTER: its process stopped
    watching them (it stopped or died). The same rule, in SQL, in pending_lab_work."""
    stale = orphaned_before()
    return Q(status=LabRun.Status.RUNNING) & (
        Q(watched_at__lt=stale) | Q(watched_at__isnull=True, sent_at__lt=stale)
    )


def orphaned_before() -> dt.datetime:
    return timezone.now() - timezone.timedelta(seconds=ORPHANED_AFTER)


@dataclasses.dataclass(frozen=True)
class PendingLabWork:
    waiting: int  # for the shared worker
    waiting_for_sandbox: int
    orphaned: int
    unfinished: int  # waiting or running


def pending_lab_work() -> PendingLabWork:
    """What a dispatcher pass has to do, counted in one statement. A pass comes every
    DISPATCH_EVERY while runs are unfinished and at every fire and every run's end: in a class,
    several a second in each web process.

    Plain SQL: the ORM's build and compile of the same aggregate (four filtered counts) took
    1.1 ms of CPU, the cursor 0.1 (docs/PERFORMANCE.md). Unfinished runs are few: they are read
    and counted here."""
    table = connection.ops.quote_name(LabRun._meta.db_table)
    stale = connection.ops.adapt_datetimefield_value(orphaned_before())
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT status, sandbox_config IS NULL,"
            f" status = %s AND (watched_at < %s OR (watched_at IS NULL AND sent_at < %s))"
            f" FROM {table} WHERE status IN (%s, %s)",
            [LabRun.Status.RUNNING, stale, stale, LabRun.Status.WAITING, LabRun.Status.RUNNING],
        )
        rows = cursor.fetchall()
    waiting = [on_worker for status, on_worker, _ in rows if status == LabRun.Status.WAITING]
    return PendingLabWork(
        waiting=sum(1 for on_worker in waiting if on_worker),
        waiting_for_sandbox=sum(1 for on_worker in waiting if not on_worker),
        orphaned=sum(1 for *_, orphaned in rows if orphaned),
        unfinished=len(rows),
    )


def adopt_orphaned_runs() -> list[LabRun]:
    """Observe the running runs whose web process stopped watching them (it stopped or died).

    A run is claimed by moving its watched_at from the stale value read to now, so only one
    process adopts it. The new observer goes on from the run's last stored reading.
    """
    orphans = LabRun.objects.filter(orphaned_now())
    adopted = []
    for run in orphans:
        if observatory.is_watching(run.pk):
            continue
        still_orphaned = LabRun.objects.filter(pk=run.pk, watched_at=run.watched_at)
        if not still_orphaned.update(watched_at=timezone.now()):
            continue
        if run.is_on_sandbox:
            # Its worker died with the process that started it, and its script with it.
            finish_run(run, status=LabRun.Status.TIMED_OUT, ending=sandbox_run_orphaned_ending())
            free_claims_of_dead_holders()
            publish_run_changes([run.pk])
            adopted.append(run)
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
        self.looking = False  # passes every DISPATCH_EVERY: unfinished runs were found

    def wake(self) -> None:
        """Look for runs to send and to adopt now, not at the next DISPATCH_EVERY."""
        self.woken.set()
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.run_forever, name="lab-dispatcher", daemon=True)
                self.thread.start()

    def wake_unless_looking(self) -> None:
        """Wake the thread only if it is not looking every DISPATCH_EVERY already (it found
        nothing unfinished at its last pass, or this process has not started it): a run's page
        opened in a class would otherwise add a pass per page."""
        with self.lock:
            alive = self.thread is not None and self.thread.is_alive()
        if not (alive and self.looking):
            self.wake()

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
                # One statement says which of the three is needed: most passes need none.
                work = pending_lab_work()
                if work.orphaned:
                    adopt_orphaned_runs()
                if work.waiting:
                    send_waiting_runs()
                if work.waiting_for_sandbox:
                    send_waiting_sandbox_runs()
                anything_unfinished = work.unfinished > 0
            except Exception:
                # The database is locked or unreachable for a moment: say so (once a minute at
                # most, as this repeats every second), and try again.
                if time.monotonic() - logged_at >= 60:
                    logger.exception("The lab's dispatcher could not send or adopt runs")
                    logged_at = time.monotonic()
                connection.close()
                anything_unfinished = True
            self.looking = anything_unfinished
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
