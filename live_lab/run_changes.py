"""Telling open run pages of changes to runs that another web process observes.

A run's observer tells the pages its own process serves at once (observer.note_change). A page
served by another web process (several run behind one address, docs/DEPLOY.md) learns of
changes from ONE watcher thread in its process, for all of its pages:

- Redis mode, pushed: the observer publishes a run's id on the channel lab:runs whenever it
  stores something for the run, and every process that writes lane-2 rows (the worker's, the
  web's) publishes the task's id on lab:tasks. The watcher holds one subscription to both and
  wakes the pages concerned. Pub/sub drops what is published while a subscriber reconnects, so
  every SAFETY_EVERY it also compares the runs' versions once (two queries for all pages).
- Embedded mode (no Redis): the watcher compares the versions of all such runs every
  LOOK_EVERY, in two queries for all pages, instead of two queries per page every 50 ms.
"""

import contextlib
import logging
import threading
import time

from django.conf import settings
from django.db import connection
from redis.exceptions import RedisError

from config.celery import app
from live_lab.queries import lanes_versions

logger = logging.getLogger(__name__)

# Who wants to hear at once when something changes for a run, by run id: the run page's
# streams served by this process (live_lab/views.py). A callback gets a new LabObservation
# (not saved yet), or None once anything is stored (the reading, a client call, the run's end,
# a lane-2 row).
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


def note_change(run_id: int, observation=None) -> None:
    with listeners_lock:
        callbacks = list(listeners.get(run_id, ()))
    for callback in callbacks:
        callback(observation)


RUNS_CHANNEL = "lab:runs"
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
                pipe.publish(channel, str(item))
            pipe.execute()
    except (RedisError, OSError):
        logger.warning("Could not publish lab changes on %s", channel, exc_info=True)


def publish_run_changes(run_ids: list[int]) -> None:
    publish(RUNS_CHANNEL, run_ids)


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
        self.tasks: dict[str, int] = {}  # task id → run id, for the lab:tasks messages
        self.versions: dict[int, tuple] = {}
        self.subscription = None
        self.new_page = threading.Event()  # look at once: its tasks are not known yet
        self.thread: threading.Thread | None = None

    def watch(self, run_id: int) -> None:
        self.new_page.set()
        with self.lock:
            self.pages[run_id] = self.pages.get(run_id, 0) + 1
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.run_forever, name="lab-page-watch", daemon=True)
                self.thread.start()

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
        """Wake the pages of the runs named by the messages that arrive within `timeout`."""
        if self.subscription is None:
            subscription = app.backend.client.pubsub(ignore_subscribe_messages=True)
            subscription.subscribe(RUNS_CHANNEL, TASKS_CHANNEL)
            self.subscription = subscription
            self.versions.clear()  # messages were missed meanwhile: compare every run afresh
        message = self.subscription.get_message(timeout=timeout)
        changed = set()
        while message is not None:
            if message["type"] == "message":
                changed.add(self.run_of(message["channel"].decode(), message["data"].decode()))
            message = self.subscription.get_message(timeout=0)
        remote = set(self.remote_runs())
        for run_id in changed & remote:
            note_change(run_id)

    def run_of(self, channel: str, data: str) -> int | None:
        if channel == RUNS_CHANNEL:
            return int(data)
        with self.lock:
            return self.tasks.get(data)

    def compare_versions(self) -> None:
        """Two queries for all remote runs: wake the pages of those that changed."""
        remote = self.remote_runs()
        if not remote:
            return
        versions, tasks = lanes_versions(remote)
        with self.lock:
            self.tasks = {task_id: run_id for run_id, task_ids in tasks.items() for task_id in task_ids}
            changed = [run_id for run_id in remote if self.versions.get(run_id) != versions.get(run_id)]
            self.versions.update(versions)
        for run_id in changed:
            note_change(run_id)

    def drop_subscription(self) -> None:
        if self.subscription is not None:
            with contextlib.suppress(RedisError, OSError):
                self.subscription.close()
            self.subscription = None


remote_runs = RemoteRunWatch()
