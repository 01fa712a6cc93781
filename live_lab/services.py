"""Firing experiments and watching them: the only lab code that sends tasks or writes runs."""

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from celery import states
from celery.result import ResultSet
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from django_celery_results.models import TaskResult

from config.celery import app
from live_lab.experiments import Experiment
from live_lab.models import LabCall, LabEvent, LabObservation, LabRun

MAX_UNFINISHED_RUNS = 5
MAX_RUNS_PER_MINUTE = 10
OBSERVE_EVERY = 0.02  # seconds between two AsyncResult reads of lane 1
ANNOUNCED_EVERY = 0.25  # a reading at least this often, though each store is announced
EVENT_CHECK_EVERY = 1.0  # seconds between two looks at lane 2 while lane 1 is not ready
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
    check_limits(owner)
    options = options or {}
    run = LabRun.objects.create(
        owner=owner,
        experiment=experiment.id,
        params={"args": list(args), "kwargs": kwargs, "options": options},
        task_id=str(uuid.uuid4()),
        prediction=prediction,
        predicted_calls=predicted_calls or {},
    )

    def send_and_observe():
        # Read once before sending: the id is ours already, and AsyncResult says PENDING for it.
        # With Redis a tracked task can be STARTED before a thread started after the send could
        # take its first reading.
        first = record_reading(run, snapshot(run.task_id), after_ms=0.0)
        observer = RunObserver(run, experiment, first)  # subscribes (Redis) before the send
        if experiment.send:
            experiment.send(run, args, kwargs, options)
            run.save(update_fields=["related_ids", "params"])
            observer.follow(run.related_ids)
        else:
            experiment.task.apply_async(args, kwargs, task_id=run.task_id, **options)
        threading.Thread(target=observer.watch, name=f"observe-{run.pk}", daemon=True).start()

    transaction.on_commit(send_and_observe)
    return run


def snapshot(task_id: str, header_ids: list[str] = ()) -> tuple:
    """(state, repr(info), ready(), successful(), progress) from ONE read of the result backend.

    Each AsyncResult property reads the backend again until the state is ready, so reading
    .state, then .info, then .ready() could mix two moments (PROGRESS with ready() True).
    These are the values AsyncResult derives from the meta it reads (celery/result.py).
    With `header_ids` (a chord), progress is the header's completed_count() out of its size.
    """
    meta = app.AsyncResult(task_id).backend.get_task_meta(task_id)
    state, info = meta["status"], meta["result"]
    progress = None
    if header_ids:
        header = ResultSet([app.AsyncResult(i) for i in header_ids], app=app)
        progress = {"current": header.completed_count(), "total": len(header_ids)}
    elif isinstance(info, dict) and {"current", "total"} <= info.keys():
        progress = {"current": info["current"], "total": info["total"]}
    return state, repr(info), state in states.READY_STATES, state == states.SUCCESS, progress


# Who wants to hear at once when the observer stores something for a run, by run id: the run
# page's streams served by this process (live_lab/views.py). Streams served by another process
# see the change at their next database read.
listeners: dict[int, set] = {}
listeners_lock = threading.Lock()


def listen_for_changes(run_id: int, callback) -> None:
    with listeners_lock:
        listeners.setdefault(run_id, set()).add(callback)


def stop_listening(run_id: int, callback) -> None:
    with listeners_lock:
        callbacks = listeners.get(run_id, set())
        callbacks.discard(callback)
        if not callbacks:
            listeners.pop(run_id, None)


def note_change(run_id: int) -> None:
    with listeners_lock:
        callbacks = list(listeners.get(run_id, ()))
    for callback in callbacks:
        callback()


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
    note_change(run.pk)
    return reading


TERMINAL_EVENTS = [LabEvent.Kind.SUCCEEDED, LabEvent.Kind.FAILED, LabEvent.Kind.REVOKED]
GRACE = 1.0  # seconds lane 1 keeps reading after the worker's last word, when never ready


class RedisWakeUp:
    """Redis mode: a subscription to the channel the Redis backend publishes each store of a
    task on (celery/backends/redis.py `_set`); this is how get() itself waits on Redis."""

    def __init__(self, task_id: str):
        self.subscription = app.backend.client.pubsub()
        self.follow([task_id])

    def follow(self, task_ids: list[str]) -> None:
        self.subscription.subscribe(*[app.backend.get_key_for_task(task_id) for task_id in task_ids])

    def wait(self, timeout: float) -> None:
        self.subscription.get_message(ignore_subscribe_messages=True, timeout=timeout)

    def close(self) -> None:
        self.subscription.close()


class RowWatcher:
    """Embedded mode: ONE thread per web process looks at the result rows of every watched
    task every 20 ms, in one query, and wakes the observers whose rows changed.

    django-celery-results stamps `date_done` (auto_now) on every write, so (status, date_done)
    changes with each store; a forget() deletes the row, which is a change too. Without it,
    every observer would read the database every 20 ms on its own: with a hundred runs going,
    thousands of reads a second that starve SQLite's WAL checkpoints.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.watched: dict[str, list] = {}  # task id -> [event to set, last (status, date_done)]
        self.thread: threading.Thread | None = None

    def watch(self, task_ids: list[str], event: threading.Event) -> None:
        with self.lock:
            for task_id in task_ids:
                self.watched[task_id] = [event, "not read yet"]
            if self.thread is None:
                self.thread = threading.Thread(target=self.look, name="lab-row-watcher", daemon=True)
                self.thread.start()

    def unwatch(self, task_ids: list[str]) -> None:
        with self.lock:
            for task_id in task_ids:
                self.watched.pop(task_id, None)

    def look(self) -> None:
        try:
            while True:
                with self.lock:
                    if not self.watched:
                        self.thread = None  # the next watch() starts a new thread
                        return
                    task_ids = list(self.watched)
                rows = TaskResult.objects.filter(task_id__in=task_ids)
                seen = {row[0]: row[1:] for row in rows.values_list("task_id", "status", "date_done")}
                with self.lock:
                    for task_id, entry in self.watched.items():
                        if seen.get(task_id) != entry[1]:
                            entry[1] = seen.get(task_id)
                            entry[0].set()
                time.sleep(OBSERVE_EVERY)
        finally:
            connection.close()


row_watcher = RowWatcher()


class RowWakeUp:
    """Embedded mode's wake-up call, from the process's RowWatcher."""

    def __init__(self, task_id: str):
        self.event = threading.Event()
        self.task_ids = []
        self.follow([task_id])

    def follow(self, task_ids: list[str]) -> None:
        self.task_ids.extend(task_ids)
        row_watcher.watch(task_ids, self.event)

    def wait(self, timeout: float) -> None:
        self.event.wait(timeout)
        self.event.clear()  # before the reading that follows: a later store sets it again

    def close(self) -> None:
        row_watcher.unwatch(self.task_ids)


def backend_wake_up(task_id: str) -> RedisWakeUp | RowWakeUp:
    """What wakes an observer when the result backend stores something for its task.

    Only a wake-up call: the reading that follows is still a normal backend read, so lane 1
    stays what AsyncResult reports.
    """
    return RedisWakeUp(task_id) if settings.RUN_MODE == "redis" else RowWakeUp(task_id)


class RunObserver:
    """Lane 1: read app.AsyncResult each time the backend stores something for the task (at
    least every 250 ms) and store each distinct reading; make the experiment's client calls
    (steps) when their triggers fire.

    Runs in threads of the web process, so lane 1 is recorded whether or not anyone watches
    the page; the run page only streams what is stored. A run is over once every step was
    made and the worker reported its last word (succeeded, failed, revoked) with lane 1
    ready, or GRACE seconds after that word when lane 1 never becomes ready (ignore_result,
    forget). Waiting for the worker, not only for ready(), is what shows a task that stored
    SUCCESS early and went on working.
    """

    def __init__(self, run: LabRun, experiment: Experiment, first: tuple):
        self.run = run
        self.experiment = experiment
        self.last = first
        self.states_seen = {first[0]}
        self.started = time.monotonic()
        self.worker_done_at: float | None = None
        self.events_checked_at = 0.0
        self.steps_done = threading.Event()
        self.wake = backend_wake_up(run.task_id)

    def follow(self, task_ids: list[str]) -> None:
        """Wake up on these tasks' stores too (a chord's header: the progress bar)."""
        self.wake.follow(task_ids)

    def elapsed_ms(self) -> float:
        return (timezone.now() - self.run.sent_at).total_seconds() * 1000

    def watch(self) -> None:
        try:
            if self.experiment.steps:
                threading.Thread(target=self.make_calls, name=f"calls-{self.run.pk}", daemon=True).start()
            else:
                self.steps_done.set()
            while time.monotonic() - self.started < OBSERVE_FOR:
                worker_done = self.worker_is_done()
                reading = snapshot(self.run.task_id, self.run.related_ids)
                if reading != self.last:
                    self.last = record_reading(self.run, reading, after_ms=self.elapsed_ms())
                    self.states_seen.add(reading[0])
                if self.is_over(worker_done, reading):
                    finish_run(self.run, status=LabRun.Status.FINISHED)
                    return
                self.wait_for_change()
            finish_run(self.run, status=LabRun.Status.TIMED_OUT)
        finally:
            self.wake.close()
            connection.close()

    def wait_for_change(self) -> None:
        """Sleep until the backend stores something for the task (or 250 ms pass); while
        lane 1 is ready and the worker's last word is awaited, 20 ms (the word follows the
        store, and is no store)."""
        if self.last[2]:
            time.sleep(OBSERVE_EVERY)
        else:
            self.wake.wait(ANNOUNCED_EVERY)

    def worker_is_done(self) -> bool:
        """Has the worker reported its last word? Checked BEFORE a reading: the worker stores
        the result, then signals, so a reading taken after the signal is the final one.
        Looked up at every reading once lane 1 is ready, every second before that (only runs
        that never become ready need it then)."""
        if self.worker_done_at is not None:
            return True
        now = time.monotonic()
        if self.last[2] or now - self.events_checked_at >= EVENT_CHECK_EVERY:
            self.events_checked_at = now
            if self.worker_said_last_word():
                self.worker_done_at = now
        return self.worker_done_at is not None

    def worker_said_last_word(self) -> bool:
        return LabEvent.objects.filter(task_id=self.run.task_id, kind__in=TERMINAL_EVENTS).exists()

    def is_over(self, worker_done: bool, reading: tuple) -> bool:
        if not worker_done or not self.steps_done.is_set():
            return False
        return reading[2] or time.monotonic() - self.worker_done_at >= GRACE

    def result(self):
        """The AsyncResult the client code holds (a chord's callback has the group as parent)."""
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
                while not self.triggered(step.trigger):
                    if time.monotonic() - self.started > OBSERVE_FOR:
                        return
                    time.sleep(OBSERVE_EVERY)
                outcome, detail = step.call(self.result())
                LabCall.objects.create(
                    run=self.run,
                    key=step.key,
                    code=step.code,
                    after_ms=self.elapsed_ms(),
                    outcome=outcome,
                    detail=detail[:1000],
                )
                note_change(self.run.pk)
            self.steps_done.set()
        finally:
            connection.close()


def observed_states(run: LabRun) -> list[str]:
    """Lane 1's state sequence, one entry per change of state."""
    states: list[str] = []
    for state in run.observations.values_list("state", flat=True):
        if not states or states[-1] != state:
            states.append(state)
    return states


@dataclass(frozen=True)
class GradedPrediction:
    code: str  # what was predicted about: ready(), or the client call's code
    predicted: str
    actual: str | None  # None: the call was never made

    @property
    def is_right(self) -> bool:
        return self.predicted == self.actual

    @property
    def outcome(self) -> str:
        """What really happened, said after "it": "returned True", "raises TimeoutError"."""
        if self.actual is None:
            return "was never called"
        return f"returned {self.actual}" if self.code in READING_PREDICTIONS.values() else self.actual


READING_PREDICTIONS = {"ready": "ready()", "successful": "successful()"}


def graded_predictions(run: LabRun) -> list[GradedPrediction]:
    """Each extra prediction against what happened: ready()/successful() on the last reading,
    anything else on the outcome of the client call with that key."""
    if not run.predicted_calls:
        return []
    last = run.observations.last()
    calls = {call.key: call for call in run.calls.all()}
    readings = {"ready": str(last.is_ready), "successful": str(last.is_successful)} if last else {}
    graded = []
    for key, predicted in run.predicted_calls.items():
        if key in READING_PREDICTIONS:
            graded.append(GradedPrediction(READING_PREDICTIONS[key], predicted, readings.get(key)))
        else:
            call = calls.get(key)
            graded.append(
                GradedPrediction(call.code if call else key, predicted, call.outcome if call else None)
            )
    return graded


def is_prediction_right(run: LabRun) -> bool:
    """The states in order, and every extra prediction."""
    states_right = run.prediction == observed_states(run)
    return states_right and all(graded.is_right for graded in graded_predictions(run))


def finish_run(run: LabRun, *, status: str) -> None:
    close_old_connections()
    run.status = status
    run.finished_at = timezone.now()
    run.is_prediction_right = is_prediction_right(run)
    run.save(update_fields=["status", "finished_at", "is_prediction_right"])
    note_change(run.pk)
