"""Telling open run pages of changes to runs, with what they need to show them.

A run's observer keeps the run's rows (its readings, client calls and lane-2 rows) and, with
every change, hands them to the pages its own process serves (note_change with LaneRows), which
render the lanes from them without reading the database. A page served by another web process
(several run behind one address, docs/DEPLOY.md) learns of changes from ONE watcher thread in
its process, for all of its pages:

- Redis mode, pushed: the observer publishes the run's rows, pickled, on the channel lab:runs
  with every change (publish_lane_rows); the watcher holds one subscription and hands them to the
  pages concerned, and keeps the newest rows of every run for a page opened later (recent_lane_rows).
  Other changes (a run sent or not sent) publish the run's id alone: its pages read the
  database. Pub/sub drops what is published while a subscriber reconnects, so every
  SAFETY_EVERY it also compares the runs' versions with what the pages show (two queries for
  all pages). Lane-2 rows are announced on lab:tasks by the processes that write them; the
  runs' observers listen (live_lab/observer.py), not the pages.
- Embedded mode (no Redis): the watcher compares the versions of all such runs every
  LOOK_EVERY, in two queries for all pages, instead of two queries per page every 50 ms.
"""

import contextlib
import functools
import logging
import pickle
import threading
import time
from collections import OrderedDict

from django.conf import settings
from django.db import connection
from redis.exceptions import RedisError

from config.celery import app
from live_lab.models import LabBrokerReading, LabCall, LabEvent, LabObservation, LabRun
from live_lab.queries import LaneRows, lanes_versions

logger = logging.getLogger(__name__)

# Who wants to hear at once when something changes for a run, by run id: the run page's
# streams served by this process (live_lab/views.py). A callback gets a new LabObservation
# (not saved yet), the run's LaneRows once a change is stored (a reading, a client call, the
# run's end, a lane-2 row), or None when the page must read the database (something changed
# that nobody described).
listeners: dict[int, set] = {}
listeners_lock = threading.Lock()
# The newest rows of the runs changed lately, for a page that opens after the change: LaneRows,
# or the rows of a lab:runs message not decoded yet (decoded when a page wants it).
recent: OrderedDict[int, LaneRows | bytes] = OrderedDict()
RECENT_RUNS = 500


def listen_for_changes(run_id: int, callback) -> None:
    with listeners_lock:
        listeners.setdefault(run_id, set()).add(callback)


def stop_listening(run_id: int, callback) -> None:
    with listeners_lock:
        callbacks = listeners.get(run_id, set())
        callbacks.discard(callback)
        if not callbacks:
            listeners.pop(run_id, None)


def note_change(run_id: int, change: LabObservation | LaneRows | None = None) -> None:
    with listeners_lock:
        callbacks = list(listeners.get(run_id, ()))
        if change is None:
            recent.pop(run_id, None)
        elif isinstance(change, LaneRows):
            keep_recent(run_id, change)
    for callback in callbacks:
        callback(change)


def keep_recent(run_id: int, rows: LaneRows | bytes) -> None:
    """Under listeners_lock."""
    recent.pop(run_id, None)
    recent[run_id] = rows
    while len(recent) > RECENT_RUNS:
        recent.popitem(last=False)


def recent_lane_rows(run_id: int) -> LaneRows | None:
    """The run's rows as last pushed to this process, or None: read them from the database."""
    with listeners_lock:
        rows = recent.get(run_id)
    if isinstance(rows, bytes):
        try:
            rows = lane_rows_from_bytes(rows)
        except ValueError:
            logger.warning("Pushed rows of run %s are of another version: read from the database", run_id)
            return None
        with listeners_lock:
            if recent.get(run_id) is not None:
                keep_recent(run_id, rows)
    return rows


def recent_run_for(user, run_id: int):
    """The learner's own run as last pushed to this process, or None (read it: get_run_for)."""
    rows = recent_lane_rows(run_id)
    return rows.run if rows is not None and rows.run.owner_id == user.pk else None


def lane_rows_as_bytes(rows: LaneRows) -> bytes:
    """The rows' field values, pickled (as Django's Redis cache pickles what it keeps: only this
    app's processes write to its Redis). Django's JSON serializers took 1.8 % of the web's CPU
    in a class of 200, at every change of every run (docs/PERFORMANCE.md)."""
    lists = [rows.observations, rows.calls, rows.events, rows.broker]
    return pickle.dumps(
        (field_values(rows.run), [[field_values(row) for row in each] for each in lists]),
        protocol=pickle.HIGHEST_PROTOCOL,
    )


def lane_rows_from_bytes(data: bytes) -> LaneRows:
    """The rows as read from the database (no query: foreign keys stay ids). Raises ValueError
    for rows written by another version of the models (a web process not upgraded yet)."""
    run, (observations, calls, events, broker) = pickle.loads(data)
    return LaneRows(
        from_values(LabRun, run),
        [from_values(LabObservation, row) for row in observations],
        [from_values(LabCall, row) for row in calls],
        [from_values(LabEvent, row) for row in events],
        [from_values(LabBrokerReading, row) for row in broker],
    )


@functools.cache  # per model: the same for every row
def field_names(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def field_values(instance) -> tuple:
    return tuple(getattr(instance, name) for name in field_names(type(instance)))


def from_values(model, values: tuple):
    names = field_names(model)
    if len(values) != len(names):
        raise ValueError(f"{model.__name__} rows of another version: {len(values)} fields, not {len(names)}")
    return model.from_db(connection.alias, names, values)


RUNS_CHANNEL = "lab:runs"  # a run's id (read the database), or its rows pickled (PICKLED first)
PICKLED = b"\x80"  # how pickle's protocols 2 and later begin; an id is digits
TASKS_CHANNEL = "lab:tasks"
LOOK_EVERY = 0.1  # embedded mode: seconds between two looks at the watched runs' versions
SAFETY_EVERY = 5.0  # Redis mode: the same, in case a message was lost


def publish(channel: str, ids: list) -> None:
    """Redis mode: tell every web process's watcher. Never fails the caller: a page that misses
    the message sees the change at its watcher's next look."""
    if settings.RUN_MODE != "redis" or not ids:
        return
    try:
        with app.backend.client.pipeline(transaction=False) as pipe:
            for item in ids:
                pipe.publish(channel, item if isinstance(item, bytes) else str(item))
            pipe.execute()
    except (RedisError, OSError):
        logger.warning("Could not publish lab changes on %s", channel, exc_info=True)


def publish_run_changes(run_ids: list[int]) -> None:
    """The runs changed; their pages elsewhere read the database."""
    publish(RUNS_CHANNEL, run_ids)


def publish_lane_rows(rows: LaneRows) -> None:
    """The run changed, and here is all its pages need to show it."""
    if settings.RUN_MODE != "redis":
        return
    message = {"run": rows.run.pk, "version": rows.version, "rows": lane_rows_as_bytes(rows)}
    publish(RUNS_CHANNEL, [pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)])


def publish_task_rows(task_ids: list[str]) -> None:
    publish(TASKS_CHANNEL, task_ids)


class RemoteRunWatch:
    """The web process's one watcher of runs that have an open page here and are observed by
    another process."""

    def __init__(self):
        self.lock = threading.Lock()
        # Is a run observed by this process? Its observer tells its pages itself. Set by
        # live_lab/observer.py (which imports this module).
        self.observed_here = lambda run_id: False
        self.pages: dict[int, int] = {}  # run id → open pages of it in this process
        self.versions: dict[int, tuple] = {}  # run id → the version its pages show
        # Redis mode: run id → a version found in the database that its pages did not show. A
        # page is woken when the next look finds the same: a row stored a moment before its
        # message arrives is not a lost message.
        self.differing: dict[int, tuple] = {}
        self.subscription = None
        self.new_page = threading.Event()  # look soon: a page opened
        # Subscribed again: wake every page at the next look, since what was published while
        # nobody listened (a page's first read may be older) was not heard.
        self.wake_all = False
        self.listening = threading.Event()  # Redis mode: subscribed (a page waits for it)
        self.thread: threading.Thread | None = None

    def watch(self, run_id: int) -> None:
        self.new_page.set()
        with self.lock:
            self.pages[run_id] = self.pages.get(run_id, 0) + 1
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.run_forever, name="lab-page-watch", daemon=True)
                self.thread.start()

    def saw(self, run_id: int, version: tuple) -> None:
        """A page of the run shows this version: a look that finds another wakes it."""
        with self.lock:
            if run_id in self.pages:
                self.versions[run_id] = version

    def unwatch(self, run_id: int) -> None:
        with self.lock:
            self.pages[run_id] = self.pages.get(run_id, 1) - 1
            if self.pages[run_id] <= 0:
                del self.pages[run_id]
                self.versions.pop(run_id, None)

    def remote_runs(self) -> list[int]:
        """The watched runs this process does not observe (its observer tells their pages)."""
        with self.lock:
            run_ids = list(self.pages)
        return [run_id for run_id in run_ids if not self.observed_here(run_id)]

    def run_forever(self) -> None:
        looked_at = 0.0
        while True:
            try:
                if settings.RUN_MODE == "redis":
                    self.listen(timeout=0.5)
                else:
                    time.sleep(LOOK_EVERY)
                every = SAFETY_EVERY if settings.RUN_MODE == "redis" else LOOK_EVERY
                if self.new_page.is_set() or time.monotonic() - looked_at >= every:
                    self.new_page.clear()
                    looked_at = time.monotonic()
                    self.compare_versions()
            except Exception:
                # Redis or the database is unreachable for a moment: say so, try again.
                logger.warning("The lab's page watcher could not look for changes", exc_info=True)
                self.drop_subscription()
                connection.close()
                time.sleep(SAFETY_EVERY / 10)

    def listen(self, timeout: float) -> None:
        """Hand the pages of the runs named by the messages that arrive within `timeout` what
        the messages carry."""
        if self.subscription is None:
            subscription = app.backend.client.pubsub(ignore_subscribe_messages=True)
            subscription.subscribe(RUNS_CHANNEL)
            self.subscription = subscription
            # Redis's confirmation: from here on every message is heard.
            subscription.get_message(ignore_subscribe_messages=False, timeout=1.0)
            with listeners_lock:
                recent.clear()  # messages were missed meanwhile: these may be old
            with self.lock:
                self.versions.clear()  # and the pages' versions are compared afresh
            self.listening.set()
            self.new_page.set()
        message = self.subscription.get_message(timeout=timeout)
        changes: dict[int, dict | None] = {}
        while message is not None:
            if message["type"] == "message":
                data = message["data"]
                if data.startswith(PICKLED):
                    # Only the outer dict: the rows are decoded when a page here wants them.
                    pushed = pickle.loads(data)
                    changes[pushed["run"]] = pushed
                elif data.isdigit():
                    changes[int(data)] = None
                # Else a message of an older release (JSON, during an upgrade): its pages see
                # the change at the next look (SAFETY_EVERY).
            message = self.subscription.get_message(timeout=0)
        remote = set(self.remote_runs())
        for run_id, pushed in changes.items():
            if run_id in remote:
                self.hand_over(run_id, pushed)
            elif not self.observed_here(run_id):
                with listeners_lock:
                    if pushed is None:
                        recent.pop(run_id, None)
                    else:
                        keep_recent(run_id, pushed["rows"])  # for a page opened later

    def hand_over(self, run_id: int, pushed: dict | None) -> None:
        if pushed is None:
            note_change(run_id)
            return
        try:
            rows = lane_rows_from_bytes(pushed["rows"])
        except ValueError:
            logger.warning("Pushed rows of run %s are of another version: read from the database", run_id)
            note_change(run_id)
            return
        self.saw(run_id, tuple(pushed["version"]))
        note_change(run_id, rows)

    def compare_versions(self) -> None:
        """Two queries for all remote runs: wake the pages of those that changed since they
        last showed them."""
        remote = self.remote_runs()
        if not remote:
            return
        versions, _ = lanes_versions(remote)
        with self.lock:
            # A run no page has shown yet is left to the page's own first read, but after a
            # fresh subscription.
            wake_all, self.wake_all = self.wake_all, False
            differing = [
                run_id
                for run_id in remote
                if (wake_all or run_id in self.versions) and self.versions.get(run_id) != versions.get(run_id)
            ]
            changed = differing
            if settings.RUN_MODE == "redis" and not wake_all:
                changed = [r for r in differing if self.differing.get(r) == versions.get(r)]
                self.differing = {r: versions.get(r) for r in differing if r not in changed}
            for run_id in changed:
                self.versions[run_id] = versions.get(run_id)
        for run_id in changed:
            note_change(run_id)

    def drop_subscription(self) -> None:
        with self.lock:
            self.wake_all = True
        if self.subscription is not None:
            with contextlib.suppress(RedisError, OSError):
                self.subscription.close()
            self.subscription = None


remote_runs = RemoteRunWatch()
