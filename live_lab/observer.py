"""Lane 1: what app.AsyncResult(id) reports for each run, read each time the result backend
stores something for the run's task.

ONE thread per web process (the observatory) watches every run the process fired: one pattern
subscription to the Redis backend's store messages, or one query of the result rows every
20 ms in embedded mode, and one query of lane 2 for every run awaiting the worker's last word.
A thread per run cost a Celery backend, a Redis connection and a wake-up every 250 ms per run,
and a hundred threads fighting for the interpreter lock (docs/PERFORMANCE.md).
"""

import contextlib
import copy
import logging
import math
import threading
import time

from celery import states
from celery.result import ResultSet
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import DatabaseError, connection
from django.db.models import Count
from django.utils import timezone
from django_celery_results.models import TaskResult
from redis.exceptions import RedisError

from config.celery import app
from live_lab.broker_lane import QUEUES, BrokerLane
from live_lab.experiments import Experiment
from live_lab.grading import is_prediction_right, observed_states
from live_lab.models import LabBrokerReading, LabCall, LabEvent, LabObservation, LabRun
from live_lab.queries import LaneRows, read_lane_rows
from live_lab.run_changes import (
    TASKS_CHANNEL,
    listeners,
    listeners_lock,
    note_change,
    publish_lane_rows,
    remote_runs,
)

logger = logging.getLogger(__name__)

TICK = 0.02  # seconds between two looks at the backend's stores and at lane 2
IDLE_TICK = 0.5  # the same, while no run is watched
# Pub/sub drops the messages sent while it reconnects: a run with no store is read this often
# too. A hundred queued runs would cost a hundred reads a second at 1 s.
REDIS_READ_AT_LEAST_EVERY = 5.0
EVENT_CHECK_EVERY = 1.0  # seconds between two looks at lane 2 for runs whose lane 1 is not ready
OBSERVE_FOR = 90.0  # seconds after the worker received the task; then the run is timed out (tasks'
# hard limit is 45 s, so only a worker that died or a lost message gets there)
WAIT_FOR_WORKER = 900.0  # a task no worker has received by then is timed out (no worker runs)
HEARTBEAT_EVERY = 2.0  # seconds between two stamps of watched_at on the runs this process observes
ORPHANED_AFTER = 10.0  # a running run not stamped for this long lost its observer: it is adopted
# A worker killed with SIGKILL reports nothing more (docs/lab-faults.md). The workers that received
# the watched runs' tasks are asked every WORKER_CHECK_EVERY whether they still hold them; a task
# not shown by its worker for WORKER_GONE_AFTER s, in WORKER_GONE_CHECKS answers in a row, was lost.
WORKER_CHECK_EVERY = 2.0
WORKER_QUERY_TIMEOUT = 2.0  # how long one question waits for the workers' replies
WORKER_GONE_AFTER = 6.0  # the worker answered, without the task: it was restarted meanwhile
# The worker did not answer at all: slower to conclude, since a busy machine (a class on two
# cores) can delay a live worker's reply past the timeout now and then.
WORKER_SILENT_AFTER = 16.0
WORKER_GONE_CHECKS = 3
RESUBSCRIBE_EVERY = 0.5  # seconds between two attempts to subscribe again while Redis is down
GRACE = 1.0  # seconds lane 1 keeps reading after the worker's last word, when never ready
MAX_FAILED_READINGS = 50  # then the run is given up (logged); it counts as abandoned later
TERMINAL_EVENTS = list(LabEvent.LAST_WORDS)
ARRIVAL_EVENTS = [LabEvent.Kind.RECEIVED, LabEvent.Kind.STARTED]


def snapshot(task_id: str, header_ids: list[str] = (), stored: bytes | None = None) -> tuple:
    """(state, repr(info), ready(), successful(), progress) from ONE read of the result backend,
    or from the value it just `stored` (Redis publishes each value it stores on the key's
    channel, in the same transaction: the message get() itself waits for).

    Each AsyncResult property reads the backend again until the state is ready, so reading
    .state, then .info, then .ready() could mix two moments (PROGRESS with ready() True).
    These are the values AsyncResult derives from the meta it reads (celery/result.py).
    With `header_ids` (a chord), progress is the header's completed_count() out of its size.
    """
    backend = app.AsyncResult(task_id).backend
    meta = backend.decode_result(stored) if stored is not None else backend.get_task_meta(task_id)
    state, info = meta["status"], meta["result"]
    progress = None
    if header_ids:
        header = ResultSet([app.AsyncResult(i) for i in header_ids], app=app)
        progress = {"current": header.completed_count(), "total": len(header_ids)}
    elif isinstance(info, dict) and {"current", "total"} <= info.keys():
        progress = {"current": info["current"], "total": info["total"]}
    return state, repr(info), state in states.READY_STATES, state == states.SUCCESS, progress


def observation_of(run: LabRun, reading: tuple, *, after_ms: float) -> LabObservation:
    """A reading of lane 1 as the row that stores it (not saved)."""
    state, info, is_ready, is_successful, progress = reading
    return LabObservation(
        run=run,
        after_ms=after_ms,
        state=state,
        info=info[:1000],
        is_ready=is_ready,
        is_successful=is_successful,
        progress=progress,
    )


def finish_run(run: LabRun, *, status: str, ending: str = "", results_lost: bool = False) -> None:
    """End the run. Only a run the worker finished is graded: a timed-out run ran into
    something that is not the learner's doing (no worker, a worker that died), and so did a
    run whose pool process was killed under it, or whose result store went away meanwhile.
    `ending` says why a run timed out, when the observer knows better than timed_out_ending();
    `results_lost`: the run was observed while the lab had lost touch with Redis."""
    run.status = status
    run.finished_at = timezone.now()
    # On a sandbox worker a killed pool process is the experiment itself, graded as any other.
    lost = pool_process_lost(run) if status == LabRun.Status.FINISHED and not run.is_on_sandbox else None
    run.is_prediction_right = None
    if lost is not None:
        run.ending = pool_process_lost_ending(lost)
    elif status == LabRun.Status.FINISHED and results_lost:
        run.ending = results_lost_ending(run)
    elif status == LabRun.Status.FINISHED:
        run.is_prediction_right = is_prediction_right(run)
    else:
        run.ending = ending or timed_out_ending(run)
    run.save(update_fields=["status", "finished_at", "is_prediction_right", "ending"])


def pool_process_lost(run: LabRun) -> LabEvent | None:
    """Lane 2's "failed" row of a task whose pool process was killed under it. The worker's
    main process notices the child's death, stores FAILURE with WorkerLostError and sends
    task_failure (celery/worker/request.py, Request.on_failure)."""
    failed = LabEvent.objects.filter(task_id__in=[run.task_id, *run.related_ids], kind=LabEvent.Kind.FAILED)
    return failed.filter(detail__startswith="WorkerLostError").first()


def pool_process_lost_ending(failed: LabEvent) -> str:
    return (
        f"The pool process running the task was killed ({failed.detail}). The worker's main process "
        "noticed, stored FAILURE with WorkerLostError and reported the task failed; the task is not run "
        "again (docs/lab-faults.md). That is what a learner sees when the operating system kills a task "
        "(the out-of-memory killer does it with SIGKILL). Not graded: the kill was not part of the "
        "experiment."
    )


def results_lost_ending(run: LabRun) -> str:
    """For a run observed while the lab had lost touch with Redis (a restart, docs/lab-faults.md)."""
    went_back = "PENDING" in observed_states(run)[1:]
    what = "The lab lost its connection to Redis, the result store, during this run."
    if went_back:
        what += (
            " When Redis answered again it no longer had the state stored before: it was restarted, "
            "and keeps nothing across a restart here (no persistence). So AsyncResult read PENDING "
            "again, as for any id Redis does not know, until the worker stored the next state; "
            "“What your code sees” still shows the earlier readings, kept in the lab's own database."
        )
    return what + " Not graded: the outage was not part of the experiment."


def worker_lost_ending(hostname: str, *, answers: bool) -> str:
    """What happened to a run whose worker no longer holds its task, in words for the learner."""
    if answers:
        what = (
            f"The worker {hostname} received the task, but no longer holds it and never reported it "
            "done: it was restarted (killed, then started again under the same name) while it had it."
        )
    else:
        what = (
            f"The worker {hostname} received the task, then stopped answering: it was stopped or "
            "killed (SIGKILL) while it had the task."
        )
    return (
        f"{what} A killed worker stores nothing and reports nothing more, so AsyncResult stays at its "
        "last state for ever, and the task is not run again (docs/lab-faults.md). Not graded."
    )


def timed_out_ending(run: LabRun) -> str:
    """What lane 2 says about a run that never ended, in words for the learner."""
    kinds = set(LabEvent.objects.filter(task_id=run.task_id).values_list("kind", flat=True))
    if LabEvent.Kind.RECEIVED not in kinds:
        return (
            f"No worker received the task in {WAIT_FOR_WORKER / 60:.0f} minutes: no worker consumes the "
            "lab queue. The task is still in the queue and reads PENDING. Not graded."
        )
    if LabEvent.Kind.STARTED in kinds:
        return (
            f"The worker started the task, then reported nothing for {OBSERVE_FOR:.0f} s. A worker killed "
            "with SIGKILL stores nothing and signals nothing: the result stays at its last state. "
            "Not graded."
        )
    return (
        f"A worker received the task, then reported nothing for {OBSERVE_FOR:.0f} s: it was most likely "
        "stopped or killed while holding the message. Not graded."
    )


class RunObserver:
    """One run's lane 1: its last reading, and whether the worker has said its last word.

    The observatory's thread calls read() when the backend stored something for one of the
    run's tasks, after a client call, and (Redis) at least every 5 s; it asks verdict() on
    every tick. The experiment's client calls (steps) run in a thread of their own, since a
    call like get(timeout=...) blocks. A run is over once every step was made and the worker
    reported its last word (succeeded, failed, revoked) with lane 1 ready, or GRACE seconds
    after that word when lane 1 never becomes ready (ignore_result, forget). Waiting for the
    worker, not only for ready(), is what shows a task that stored SUCCESS early and went on
    working.
    """

    def __init__(
        self,
        run: LabRun,
        experiment: Experiment,
        first: tuple,
        *,
        first_row: LabObservation | None = None,
        adopted: bool = False,
    ):
        """`first_row`: the stored row of the `first` reading. `adopted`: the run was observed
        by a web process that stopped; go on from its last stored reading and make only the
        client calls not made yet."""
        self.run = run
        self.experiment = experiment
        self.last = first
        # The run's rows as stored, what its pages are rendered from (announce()).
        if adopted:
            self.rows = read_lane_rows(run)
        else:
            self.rows = LaneRows(run, [first_row] if first_row else [], [], [], [])
        self.rows_lock = threading.Lock()  # the calls' thread adds calls
        self.states_seen = {row.state for row in self.rows.observations}
        self.states_seen.add(first[0])
        # Monotonic time of the send, also for a run sent by another process before.
        self.started = time.monotonic() - max((timezone.now() - run.sent_at).total_seconds(), 0.0)
        # An adopted run is read at once: its last stored reading may be old.
        self.last_read_at = -math.inf if adopted else time.monotonic()
        # Its tasks a worker received and has not reported done: task id → that worker's name.
        self.held_by: dict[str, str] = {}
        self.lost_the_results = False  # observed while the lab had lost touch with Redis
        self.received_at: float | None = None  # when lane 2 was found to say the worker has it
        self.worker_done_at: float | None = None
        self.calls_made = {call.key for call in self.rows.calls}
        # The AsyncResult the send returned; None in a process that adopted the run, which
        # cannot make the calls that need it (Step.on_sent_handle).
        self.sent_handle = None
        self.steps_done = threading.Event()
        self.failed_readings = 0
        # A sandbox run ends when its script returns (steps_done), not on the worker's last
        # word: a task may run again after it, or never report at all (live_lab/sandbox_runs.py).
        self.script_over_at: float | None = None
        self.script_failure = ""  # why the script could not do its part: the run is not graded

    @property
    def task_ids(self) -> list[str]:
        return [self.run.task_id, *self.run.related_ids]

    @property
    def queues(self) -> tuple[str, ...]:
        """The queues lane 3 looks in for this run's messages: the lab's, and the one the run
        was sent to when it chose one (params["queue"], a sandbox's private queue)."""
        return (*QUEUES, *([self.run.params["queue"]] if self.run.params.get("queue") else []))

    @property
    def last_word_ids(self) -> list[str]:
        """The tasks whose last words end the run (a chain that fails early never sends its last)."""
        if self.experiment.last_word_of is None:
            return [self.run.task_id]
        return list(self.experiment.last_word_of(self.run))

    def add_rows(self, *, observations=(), calls=(), broker=(), events: list[LabEvent] | None = None) -> None:
        """Rows just stored (`events`: all of lane 2, as just read)."""
        with self.rows_lock:
            self.rows.observations.extend(observations)
            self.rows.calls.extend(calls)
            self.rows.broker.extend(broker)
            if events is not None:
                self.rows.events = events

    def announce(self) -> None:
        """Hand the run's rows, as stored now, to its open pages: to this process's at once, to
        the other processes' through Redis. The run is copied: it changes when the run ends."""
        with self.rows_lock:
            rows = self.rows
            rows = LaneRows(
                copy.copy(self.run),
                list(rows.observations),
                list(rows.calls),
                list(rows.events),
                list(rows.broker),
            )
        note_change(self.run.pk, rows)
        publish_lane_rows(rows)

    def elapsed_ms(self) -> float:
        return (timezone.now() - self.run.sent_at).total_seconds() * 1000

    def wants_last_word_check(self, sweep: bool) -> bool:
        """Lane 2 is looked at on every tick once lane 1 is ready (the worker stores the
        result, then signals); before that only in the observatory's sweep each second (only
        runs that never become ready need it then, and the time limits need the arrival)."""
        return self.worker_done_at is None and (self.last[2] or sweep)

    def was_stored(self, stored: dict[str, bytes | None]) -> bool:
        return any(task_id in stored for task_id in self.task_ids)

    def read(self, now: float, stored: bytes | None = None) -> LabObservation | None:
        """Take a reading (of the value just `stored` for the task, when known); the row to
        store when it differs from the last one. A new reading is handed to the run's
        listeners at once: the page can show it before it is stored."""
        header_ids = self.run.related_ids if self.experiment.watches_group else ()
        reading = snapshot(self.run.task_id, header_ids, stored)
        self.last_read_at = now
        if reading == self.last:
            return None
        new = observation_of(self.run, reading, after_ms=self.elapsed_ms())
        note_change(self.run.pk, new)
        self.last = reading
        self.states_seen.add(reading[0])
        return new

    def verdict(self, now: float, steps_done: bool) -> str | None:
        """The status to finish the run with, once it is over. Called after the tick's reads,
        with the last words found in earlier ticks: every store before such a word (the
        worker stores, then signals) was collected and read by now, so the last reading is
        final."""
        if self.received_at is None and now - self.started >= WAIT_FOR_WORKER:
            return LabRun.Status.TIMED_OUT
        if self.received_at is not None and now - self.received_at >= OBSERVE_FOR:
            return LabRun.Status.TIMED_OUT
        if self.run.is_on_sandbox:
            return self.sandbox_verdict(now, steps_done)
        if self.experiment.without_worker and steps_done:
            return LabRun.Status.FINISHED  # nothing will ever come: the calls were the experiment
        if self.worker_done_at is None or not steps_done:
            return None
        if self.last[2] or now - self.worker_done_at >= GRACE:
            return LabRun.Status.FINISHED
        return None

    def sandbox_verdict(self, now: float, steps_done: bool) -> str | None:
        """GRACE after the script returned: the stores it waited for have been read by then."""
        if not steps_done:
            return None
        if self.script_failure:
            return LabRun.Status.TIMED_OUT
        if self.script_over_at is None:
            self.script_over_at = now
        return LabRun.Status.FINISHED if now - self.script_over_at >= GRACE else None

    def start_calls(self) -> None:
        if self.run.is_on_sandbox:
            return  # the experiment's script makes them, and says when it is done
        if self.experiment.steps:
            threading.Thread(target=self.make_calls, name=f"calls-{self.run.pk}", daemon=True).start()
        else:
            self.steps_done.set()

    def result(self):
        """The AsyncResult the client code holds (a chord's callback has the group as parent)."""
        if self.experiment.handle is not None:
            return self.experiment.handle(self.run)
        parent = None
        if self.run.related_ids:
            header = [app.AsyncResult(i) for i in self.run.related_ids]
            parent = app.GroupResult(self.run.params["group_id"], header)
        return app.AsyncResult(self.run.task_id, parent=parent)

    def triggered(self, trigger: tuple) -> bool:
        kind, value = trigger
        if kind == "after":
            return time.monotonic() - self.started >= value
        if kind == "state":
            return value in self.states_seen
        return LabEvent.objects.filter(task_id=self.run.task_id, kind=value).exists()

    def make_calls(self) -> None:
        try:
            for step in self.experiment.steps:
                if step.key in self.calls_made:
                    continue
                if step.on_sent_handle and self.sent_handle is None:
                    continue  # adopted: the handle delay() returned died with its process
                while not self.triggered(step.trigger):
                    if self.run.pk not in observatory.observers:
                        return  # the run is over (or was given up) without this call
                    time.sleep(TICK)
                outcome, detail = step.call(self.sent_handle if step.on_sent_handle else self.result())
                call = LabCall.objects.create(
                    run=self.run,
                    key=step.key,
                    code=step.code,
                    after_ms=self.elapsed_ms(),
                    outcome=outcome,
                    detail=detail[:1000],
                )
                self.add_rows(calls=[call])
                self.announce()
                observatory.poke(self.run.pk)  # a reading after the call: forget() publishes nothing
            self.steps_done.set()
        finally:
            connection.close()


class RedisStores:
    """Redis mode: which tasks had a result stored, from ONE pattern subscription to the
    channels the Redis backend publishes every store on (celery/backends/redis.py `_set`);
    get() waits on the same messages.

    The same subscription hears which tasks had a lane-2 row written (lab:tasks, published by
    the processes that write them): the observer reads those runs' rows for their pages.

    When Redis goes away (a restart), the subscription fails; it is made again, every
    RESUBSCRIBE_EVERY while Redis is down. Pub/sub drops what is published while nobody is
    subscribed, so once subscribed again every watched task is read from the backend once:
    a store made in between is not missed (docs/lab-faults.md). Lane 2 too is read afresh.
    """

    read_every = REDIS_READ_AT_LEAST_EVERY

    def __init__(self, client=None):
        """`client`: the Redis to subscribe to; the result backend's by default."""
        self.client = client if client is not None else app.backend.client
        self.prefix = app.backend.task_keyprefix
        self.pending: dict[str, bytes | None] = {}
        self.lane2_pending: set[str] | None = set()  # None: anything may have changed
        # Subscribed before the first run is sent, so no store of it can be missed. Raises when
        # Redis does not answer: the run that asked cannot be observed, and is not sent.
        self.subscription = self.subscribe()
        self.heard_everything = True  # False from a lost subscription until the next stored()

    def subscribe(self):
        subscription = self.client.pubsub()
        try:
            subscription.psubscribe(self.prefix + b"*")
            if subscription.get_message(timeout=5.0) is None:
                raise ConnectionError("Redis did not confirm the lab's subscription to result stores")
            subscription.subscribe(TASKS_CHANNEL)
        except Exception:
            subscription.close()
            raise
        return subscription

    def wake(self) -> None:
        """Nothing to do: the first store for a new run is a message, and wakes the thread."""

    def wait(self, timeout: float) -> None:
        if self.subscription is None:
            self.subscribe_again()
            return
        try:
            message = self.subscription.get_message(ignore_subscribe_messages=True, timeout=timeout)
        except (RedisError, OSError):
            self.lost()
            return
        if message is not None:
            self.keep(message)

    def lost(self) -> None:
        logger.warning("The lab lost its subscription to result stores (Redis unreachable)", exc_info=True)
        with contextlib.suppress(Exception):
            self.subscription.close()
        self.subscription = None
        self.heard_everything = False
        self.lane2_pending = None

    def subscribe_again(self) -> None:
        try:
            self.subscription = self.subscribe()
        except (RedisError, OSError):  # OSError covers the unconfirmed subscription
            time.sleep(RESUBSCRIBE_EVERY)
            return
        logger.warning("The lab subscribed to result stores again; every watched run is read once")

    def stored(self, watched: list[str]) -> dict[str, bytes | None]:
        """The tasks stored since the last call, with the last value stored for each (any
        task: the caller picks its own). None for a value: read it from the backend."""
        if self.subscription is None:
            return {}  # Redis is down: reading the backend would fail as well
        try:
            while (message := self.subscription.get_message(ignore_subscribe_messages=True)) is not None:
                self.keep(message)
        except (RedisError, OSError):
            self.lost()
            return {}
        stored, self.pending = self.pending, {}
        if not self.heard_everything:
            # Subscribed again: what was published in between is lost, so read every run now.
            self.heard_everything = True
            stored = {**dict.fromkeys(watched), **stored}
        return stored

    def keep(self, message: dict) -> None:
        if message["type"] == "message":  # lab:tasks
            if self.lane2_pending is not None:
                self.lane2_pending.add(message["data"].decode())
            return
        self.pending[message["channel"][len(self.prefix) :].decode()] = message["data"]

    def lane2_named(self) -> set[str] | None:
        """The tasks that had a lane-2 row written since the last call; None: any may have."""
        named, self.lane2_pending = self.lane2_pending, set()
        return named


class WorkerWatch:
    """Do the workers that received the watched runs' tasks still hold them?

    A worker killed with SIGKILL stores nothing and reports nothing: lane 1 stays at its last
    state and lane 2 stops, so without this a run would wait for OBSERVE_FOR. A worker's main
    process answers remote-control commands while its pool processes work, and query_task
    shows the tasks it holds (running, reserved, or waiting for a countdown). A task that the
    worker which received it no longer shows, while lane 2 has no last word for it, was lost:
    the worker was killed, or restarted under the same name. The question is asked from a
    thread of its own, since it waits up to WORKER_QUERY_TIMEOUT for replies, which the
    observatory's 20 ms ticks cannot. A question that fails (the broker is unreachable) is no
    evidence: what was missing is forgotten.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.wanted: dict[str, str] = {}  # task id → name of the worker that received it
        self.missing: dict[str, tuple[float, int, bool]] = {}  # task id → (since, answers, host answered)
        self.thread: threading.Thread | None = None

    def ask_about(self, wanted: dict[str, str]) -> None:
        """From now on, ask about these tasks (and only these)."""
        with self.lock:
            self.wanted = dict(wanted)
            self.missing = {t: m for t, m in self.missing.items() if t in wanted}
            if wanted and (self.thread is None or not self.thread.is_alive()):
                self.thread = threading.Thread(target=self.run_forever, name="lab-worker-watch", daemon=True)
                self.thread.start()

    def gone(self, held_by: dict[str, str], now: float) -> tuple[str, bool] | None:
        """(worker name, whether it still answers) for the first of these tasks that is lost."""
        with self.lock:
            for task_id, hostname in held_by.items():
                since, answers, host_answered = self.missing.get(task_id, (now, 0, True))
                after = WORKER_GONE_AFTER if host_answered else WORKER_SILENT_AFTER
                if answers >= WORKER_GONE_CHECKS and now - since >= after:
                    return hostname, host_answered
        return None

    def run_forever(self) -> None:
        while True:
            time.sleep(WORKER_CHECK_EVERY)
            with self.lock:
                wanted = dict(self.wanted)
            if not wanted:
                continue
            try:
                self.check(wanted)
            except Exception:
                logger.warning("Could not ask the workers about the lab's tasks", exc_info=True)
                with self.lock:
                    self.missing.clear()

    def check(self, wanted: dict[str, str]) -> None:
        hosts = sorted(set(wanted.values()))
        inspect = app.control.inspect(destination=hosts, timeout=WORKER_QUERY_TIMEOUT)
        replies = inspect.query_task(*wanted) or {}  # returns as soon as every host replied
        now = time.monotonic()
        with self.lock:
            for task_id, hostname in wanted.items():
                if task_id not in self.wanted:
                    continue  # reported done meanwhile
                if task_id in (replies.get(hostname) or {}):
                    self.missing.pop(task_id, None)
                else:
                    since, answers, _ = self.missing.get(task_id, (now, 0, True))
                    self.missing[task_id] = (since, answers + 1, hostname in replies)


class RowStores:
    """Embedded mode: which tasks had a result stored, from ONE query of the watched tasks'
    result rows per tick. django-celery-results stamps `date_done` (auto_now) on every write,
    so (status, date_done) changes with each store; forget() deletes the row, a change too.
    Every tick looks at every row, so no store is missed and no other reading is needed."""

    read_every = float("inf")
    heard_everything = True  # every tick looks at every row

    def __init__(self):
        self.last_seen: dict[str, tuple | None] = {}
        self.woken = threading.Event()

    def wake(self) -> None:
        """A new run: end the idle wait, so its rows are looked at from the next tick."""
        self.woken.set()

    def wait(self, timeout: float) -> None:
        self.woken.wait(timeout)
        self.woken.clear()

    def stored(self, watched: list[str]) -> dict[str, None]:
        """Which of the watched tasks' rows changed since the last call (the value is read
        from the row afterwards: None)."""
        if not watched:
            self.last_seen.clear()
            return {}
        rows = TaskResult.objects.filter(task_id__in=watched).values_list("task_id", "status", "date_done")
        seen = {row[0]: row[1:] for row in rows}
        # A task new to the watch has no row yet (it is watched before it is sent): no change.
        changed = {task_id for task_id in watched if self.last_seen.get(task_id) != seen.get(task_id)}
        self.last_seen = {task_id: seen.get(task_id) for task_id in watched}
        return dict.fromkeys(changed)


class Observatory:
    """The web process's one observer thread, started with the first run it is given."""

    def __init__(self):
        self.lock = threading.Lock()
        self.observers: dict[int, RunObserver] = {}
        self.poked: set[int] = set()
        self.swept_at = 0.0  # when lane 2 was last looked at for every run
        self.lane2_counts: dict[int, int] = {}  # lane-2 rows of each run with an open page
        self.stores: RedisStores | RowStores | None = None
        self.thread: threading.Thread | None = None
        self.stamped_at = 0.0  # when watched_at was last stamped on the observed runs
        self.workers = WorkerWatch()
        self.broker_lane = BrokerLane()
        self.when_runs_end = None  # called from this thread after runs end (live_lab/services.py)

    def watch(self, observer: RunObserver) -> None:
        """Call before sending the run's task: from here on, no store for it is missed."""
        with self.lock:
            if self.stores is None:
                self.stores = RedisStores() if settings.RUN_MODE == "redis" else RowStores()
            self.observers[observer.run.pk] = observer
            self.stores.wake()
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.run_forever, name="lab-observatory", daemon=True)
                self.thread.start()

    def forget(self, run_id: int) -> None:
        """Stop observing a run that was never sent."""
        with self.lock:
            self.observers.pop(run_id, None)

    def poke(self, run_id: int) -> None:
        """Read this run at the next tick."""
        with self.lock:
            self.poked.add(run_id)

    def run_forever(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                # The backend or the database is unreachable for a moment: say so, try again.
                logger.exception("The lab's observer could not look at the result backend")
                connection.close()
                time.sleep(IDLE_TICK)

    def tick(self) -> None:
        self.stores.wait(TICK if self.observers else IDLE_TICK)
        # Which runs to look at is taken after the wait: a run added during it is one of them.
        with self.lock:
            observers = dict(self.observers)
            poked, self.poked = self.poked, set()
        now = time.monotonic()
        if not self.stores.heard_everything:
            for observer in observers.values():
                if not observer.lost_the_results:
                    note_change(observer.run.pk)  # its open pages show the outage at once
                observer.lost_the_results = True
        stored = self.stores.stored([task_id for o in observers.values() for task_id in o.task_ids])
        writes = TickWrites()
        # Runs with something new first (someone may be watching their page), then the rest.
        fresh = [o for run_id, o in observers.items() if run_id in poked or o.was_stored(stored)]
        due = [o for o in observers.values() if now - o.last_read_at >= self.stores.read_every]
        for observer in fresh + [o for o in due if o not in fresh]:
            self.read(observer, now, writes, stored.get(observer.run.task_id))
        # A step's thread pokes after each client call, then marks the steps done: a run whose
        # steps were done before this look has its last call's poke read, or pending here.
        steps_done = {run_id: o.steps_done.is_set() for run_id, o in observers.items()}
        with self.lock:
            poked_since = set(self.poked)
        for run_id, observer in observers.items():
            status = None if run_id in poked_since else observer.verdict(now, steps_done[run_id])
            if status is not None and observer.script_failure:
                writes.finish(observer.run, status, ending=observer.script_failure)
            elif status is not None:
                writes.finish(observer.run, status, results_lost=observer.lost_the_results)
            elif (gone := self.workers.gone(observer.held_by, now)) is not None:
                hostname, answers = gone
                ending = worker_lost_ending(hostname, answers=answers)
                writes.finish(observer.run, LabRun.Status.TIMED_OUT, ending=ending)
        self.sample_broker(observers, now, writes)
        # Lane 2 last: a last word found now is acted on from the next tick, once the stores
        # that came before it have been collected and read.
        sweep = now - self.swept_at >= EVENT_CHECK_EVERY
        if sweep:
            self.swept_at = now
        waiting = [o for run_id, o in observers.items() if run_id not in writes.over]
        slot_freed = self.look_for_last_words([o for o in waiting if o.wants_last_word_check(sweep)], now)
        if slot_freed and self.when_runs_end is not None:
            self.when_runs_end()  # the next waiting run need not wait for this one's last reading
        if sweep:
            # A sandbox run's script kills its worker on purpose, and knows when the run is over.
            self.watch_workers([o for o in waiting if o.worker_done_at is None and not o.run.is_on_sandbox])
        writes.store()
        # What changed is handed to the runs' pages: the readings and ends just stored, the
        # lane-2 rows written since the last tick (all of them for a run that ended).
        ending = [observers[run_id] for run_id in writes.finished if run_id in writes.stored]
        lane2 = self.read_lane2(self.lane2_news(waiting) + ending)
        for run_id in writes.stored | lane2:
            observers[run_id].add_rows(
                observations=writes.rows.get(run_id, []), broker=writes.broker_rows.get(run_id, [])
            )
            observers[run_id].announce()
        with self.lock:
            for run_id in writes.over:
                self.observers.pop(run_id, None)
        if writes.finished and self.when_runs_end is not None:
            self.when_runs_end()
        if now - self.stamped_at >= HEARTBEAT_EVERY:
            self.stamped_at = now
            self.stamp([run_id for run_id in observers if run_id not in writes.over])

    def sample_broker(self, observers: dict[int, RunObserver], now: float, writes: "TickWrites") -> None:
        """Lane 3: where the broker holds the runs' messages, in one look for all of them, at
        most every broker_lane.SAMPLE_EVERY; a run that ends now gets a last look."""
        ending = [o for run_id, o in observers.items() if run_id in writes.finished]
        if not observers or not (ending or self.broker_lane.due(now)):
            return
        task_ids = {t: o for o in observers.values() for t in o.task_ids}
        # A task never published (the rest of a chain that failed early) was never in the broker.
        ending_ids = [t for o in ending for t in o.task_ids]
        final = set(
            LabEvent.objects.filter(task_id__in=ending_ids, kind=LabEvent.Kind.PUBLISHED).values_list(
                "task_id", flat=True
            )
            if ending_ids  # most samples: no run ends, and no query need be built
            else ()
        )
        try:
            queues = tuple(dict.fromkeys(q for o in observers.values() for q in o.queues))
            changes = self.broker_lane.sample(list(task_ids), final=final, queues=queues)
        except Exception:
            # The broker does not answer: lane 3 misses a sample, lanes 1 and 2 go on.
            logger.warning("The lab could not look at what the broker holds", exc_info=True)
            return
        for task_id, place in changes.items():
            observer = task_ids[task_id]
            writes.keep_broker(
                LabBrokerReading(
                    run=observer.run,
                    task_id=task_id,
                    after_ms=observer.elapsed_ms(),
                    where=place.where,
                    detail=place.detail[:300],
                )
            )
        self.broker_lane.forget([t for o in ending for t in o.task_ids])

    @staticmethod
    def stamp(run_ids: list[int]) -> None:
        """ONE statement: these runs are observed, by a process alive now (see ORPHANED_AFTER)."""
        if run_ids:
            running = LabRun.objects.filter(pk__in=run_ids, status=LabRun.Status.RUNNING)
            running.update(watched_at=timezone.now())

    @staticmethod
    def look_for_last_words(observers: list[RunObserver], now: float) -> bool:
        """ONE query: which of these runs' tasks a worker received, and which it reported
        succeeded, failed or revoked. True when a last word is new: a worker slot is free."""
        if not observers:
            return False
        found = False
        said = set(
            LabEvent.objects.filter(
                task_id__in=[t for o in observers for t in o.last_word_ids],
                kind__in=TERMINAL_EVENTS + ARRIVAL_EVENTS,
            ).values_list("task_id", "kind")
        )
        for observer in observers:
            kinds = {t: {kind for task_id, kind in said if task_id == t} for t in observer.last_word_ids}
            if observer.received_at is None and any(kinds.values()):
                observer.received_at = now
            if all(task_kinds & set(TERMINAL_EVENTS) for task_kinds in kinds.values()):
                observer.worker_done_at = now
                found = True
        return found

    def watch_workers(self, observers: list[RunObserver]) -> None:
        """ONE query: which of these runs' tasks (a chord's header too) a worker received and
        has not reported done, and which worker; the worker watch asks about those."""
        kinds = [*TERMINAL_EVENTS, LabEvent.Kind.RECEIVED]
        task_ids = [t for o in observers for t in o.task_ids]
        rows = LabEvent.objects.filter(task_id__in=task_ids, kind__in=kinds)
        rows = rows.values_list("task_id", "kind", "hostname")
        held: dict[str, str] = {}
        done: set[str] = set()
        for task_id, kind, hostname in rows:  # in the order written: a retry is received again
            if kind != LabEvent.Kind.RECEIVED:
                done.add(task_id)
            elif "@" in hostname:  # a worker's node name, the one remote control answers to
                held[task_id] = hostname
        for observer in observers:
            observer.held_by = {t: held[t] for t in observer.task_ids if t in held and t not in done}
        self.workers.ask_about({t: h for o in observers for t, h in o.held_by.items()})

    def lane2_news(self, observers: list[RunObserver]) -> list[RunObserver]:
        """The runs whose lane-2 rows may have changed since the last tick. Redis mode: those
        whose tasks were named on lab:tasks. Embedded mode: those with an open page here
        whose rows' count changed (ONE query), so that open pages need not look themselves."""
        if isinstance(self.stores, RedisStores):
            named = self.stores.lane2_named()
            return observers if named is None else [o for o in observers if named.intersection(o.task_ids)]
        with listeners_lock:
            watched = [o for o in observers if o.run.pk in listeners]
        if not watched:
            self.lane2_counts.clear()
            return []
        counts = dict(
            LabEvent.objects.filter(task_id__in=[t for o in watched for t in o.task_ids])
            .order_by()
            .values_list("task_id")
            .annotate(rows=Count("pk"))
        )
        fresh = {o.run.pk: sum(counts.get(t, 0) for t in o.task_ids) for o in watched}
        changed = [o for o in watched if self.lane2_counts.get(o.run.pk) != fresh[o.run.pk]]
        self.lane2_counts = fresh
        return changed

    @staticmethod
    def read_lane2(observers: list[RunObserver]) -> set[int]:
        """ONE query: these runs' lane-2 rows; the ids of the runs whose rows changed."""
        if not observers:
            return set()
        task_ids = {t for o in observers for t in o.task_ids}
        rows: dict[str, list[LabEvent]] = {}
        for event in LabEvent.objects.filter(task_id__in=task_ids):
            rows.setdefault(event.task_id, []).append(event)
        changed = set()
        for observer in observers:
            events = [e for t in observer.task_ids for e in rows.get(t, [])]
            events.sort(key=lambda e: (e.at, e.pk))
            if [e.pk for e in events] != [e.pk for e in observer.rows.events]:
                observer.add_rows(events=events)
                changed.add(observer.run.pk)
        return changed

    def is_watching(self, run_id: int) -> bool:
        """Is this process observing the run (and announcing its changes)?"""
        with self.lock:
            return run_id in self.observers

    @staticmethod
    def read(observer: RunObserver, now: float, writes: "TickWrites", stored: bytes | None) -> None:
        """observer.read(), kept from stopping the other runs' observation when it fails."""
        try:
            new = observer.read(now, stored)
        except Exception:
            observer.failed_readings += 1
            logger.exception(
                "Reading lab run %s failed (%d in a row)", observer.run.pk, observer.failed_readings
            )
            connection.close()
            if observer.failed_readings >= MAX_FAILED_READINGS:
                writes.give_up(observer.run)  # its age makes it abandoned later
            return
        observer.failed_readings = 0
        if new is not None:
            writes.keep(new)


class TickWrites:
    """What one tick stores: new readings, then finished runs.

    Each write is one statement in autocommit, never a transaction around Python code: SQLite
    has one writer at a time, and a thread of this busy process that holds the write lock can
    wait for the interpreter lock for tens of milliseconds, while the worker's own writes
    (lane 2, results) back off and starve (docs/PERFORMANCE.md).
    """

    def __init__(self):
        self.rows: dict[int, list[LabObservation]] = {}
        self.broker_rows: dict[int, list[LabBrokerReading]] = {}
        self.finished: dict[int, tuple[LabRun, str, dict]] = {}
        self.over: set[int] = set()
        self.stored: set[int] = set()  # the runs whose rows and end were stored

    def keep(self, observation: LabObservation) -> None:
        self.rows.setdefault(observation.run.pk, []).append(observation)

    def keep_broker(self, reading: LabBrokerReading) -> None:
        self.broker_rows.setdefault(reading.run.pk, []).append(reading)

    def finish(self, run: LabRun, status: str, **why) -> None:
        """`why`: finish_run's ending or results_lost."""
        self.finished[run.pk] = (run, status, why)
        self.over.add(run.pk)

    def give_up(self, run: LabRun) -> None:
        """Stop observing the run without finishing it."""
        self.over.add(run.pk)

    def store(self) -> None:
        changed = self.rows.keys() | self.broker_rows.keys() | self.finished.keys()
        for run_id in changed:
            try:
                for row in self.rows.get(run_id, []):
                    row.save()
                if run_id in self.broker_rows:
                    LabBrokerReading.objects.bulk_create(self.broker_rows[run_id])
                if run_id in self.finished:
                    run, status, why = self.finished[run_id]
                    finish_run(run, status=status, **why)
                self.stored.add(run_id)
            except (DatabaseError, ObjectDoesNotExist):
                # A run deleted while observed (its learner's account was deleted) fails its
                # writes for ever ("did not affect any rows", a foreign key): stop observing
                # it, or every tick would fail on it. Any other failure (the database is locked
                # or unreachable) fails the tick, which is tried again.
                if LabRun.objects.filter(pk=run_id).exists():
                    raise
                logger.warning("Lab run %s was deleted while observed", run_id)
                self.over.add(run_id)
                note_change(run_id)


observatory = Observatory()
remote_runs.observed_here = observatory.is_watching
