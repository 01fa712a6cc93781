"""Lane 2 of the lab: Celery signals record what the publisher and the worker did.

The one module where Celery signals write our rows (STYLE.md); with them, our one wrapper of
a worker remote-control command, `revoke`, since no signal says that a revoke arrived. Signals
are chosen over Celery's task events because events need a separate receiver, and on the
filesystem broker kombu never deletes a receiver's auto-delete queue, so every receiver that
ever ran keeps collecting files (docs/live-lab.md). Signals run inside the worker and write
to the Django database, which both run modes share.
"""

import logging
import os
import queue
import socket
import threading

from celery import signals, states
from celery.utils.functional import maybe_list
from celery.worker import control as worker_control
from celery.worker import state as worker_state
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from config.celery import app
from live_lab.models import LabEvent
from live_lab.run_changes import publish_task_rows

LAB_PREFIX = "live_lab.tasks."
logger = logging.getLogger(__name__)


def record(task_id: str | None, kind: str, *, hostname: str = "", detail: str = "", in_place=False) -> None:
    """One lane-2 row, timed now, written by the background writer; `in_place`: written now,
    after every row queued before it."""
    if not task_id:
        return
    event = LabEvent(
        task_id=task_id,
        kind=kind,
        hostname=hostname or socket.gethostname(),
        detail=detail[:500],
        at=timezone.now(),
    )
    if in_place:
        background_writer.flush()
        close_old_connections()
        event.save()
        publish_task_rows([event.task_id])
    else:
        background_writer.put(event)


class BackgroundWriter:
    """Writes lane-2 rows off the thread whose event they record; each process has its own.

    The row keeps the time of the event; only the write comes a moment later. A write in
    place waits for SQLite's lock whenever the web process writes: task_received and
    task_revoked run in the consumer's own loop, where that wait holds up the next message for
    every pool process; in a pool process it held up the next task (the lab's tasks took 5 %
    longer while learners fired them, docs/PERFORMANCE.md); a publish from the web would
    hold up the learner's form.

    The exception is a task's start: a pool process can be killed while the task runs (revoke
    with terminate, the hard time limit), and what its thread had not written yet would be
    lost. So on_started writes in place, after the rows queued before it.
    """

    def __init__(self):
        self.start_afresh()
        # A pool process forked while this process's writer ran inherits its queue but not
        # its thread (billiard starts a new pool process after a terminate).
        os.register_at_fork(after_in_child=self.start_afresh)

    def start_afresh(self) -> None:
        self.queue: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def put(self, event: LabEvent) -> None:
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self.write, name="lab-event-writer", daemon=True)
                self.thread.start()
        self.queue.put(event)

    def write(self) -> None:
        while True:
            event = self.queue.get()
            try:
                # One INSERT in autocommit: no transaction holds SQLite's lock around Python code.
                event.save()
                publish_task_rows([event.task_id])  # to open run pages in every web process
            except DatabaseError:
                logger.exception("Could not write the lane-2 row %s %s", event.task_id, event.kind)
                connection.close()  # the next row starts on a fresh connection
            finally:
                self.queue.task_done()

    def flush(self) -> None:
        self.queue.join()


background_writer = BackgroundWriter()


@signals.worker_shutdown.connect  # the worker's main process
@signals.worker_process_shutdown.connect  # each pool process
def flush_on_shutdown(**kwargs):
    background_writer.flush()


def is_lab(name: str | None) -> bool:
    return bool(name) and name.startswith(LAB_PREFIX)


# The hostname of the worker this process belongs to (its main process or a pool process), if any.
this_worker = ""


@signals.worker_init.connect
def remember_this_worker(sender=None, **kwargs):
    global this_worker
    this_worker = sender.hostname


def publisher() -> str:
    """Who publishes: a task running in a worker (a retry, a chord's callback), a worker's main
    process (the retry of a task whose pool process died: task_retry_on_worker_lost), or the web."""
    task = app.current_worker_task
    if task is not None and task.request.hostname:
        return task.request.hostname
    return this_worker or f"web@{socket.gethostname()}"


# before_task_publish, not after: with Redis a worker can receive the message before the
# publisher's after_task_publish handler runs, which would put "received" first.
@signals.before_task_publish.connect
def on_published(sender=None, headers=None, **kwargs):
    if is_lab(sender):
        record((headers or {}).get("id"), LabEvent.Kind.PUBLISHED, hostname=publisher())


@signals.task_received.connect
def on_received(sender=None, request=None, **kwargs):
    if request is not None and is_lab(request.name):
        record(request.id, LabEvent.Kind.RECEIVED, hostname=request.hostname or "")


@signals.task_prerun.connect
def on_started(sender=None, task_id=None, task=None, **kwargs):
    if task is not None and is_lab(task.name):
        record(task_id, LabEvent.Kind.STARTED, hostname=task.request.hostname or "", in_place=True)


@signals.task_retry.connect
def on_retried(sender=None, request=None, reason=None, **kwargs):
    if sender is not None and is_lab(sender.name):
        record(request.id, LabEvent.Kind.RETRIED, hostname=request.hostname or "", detail=str(reason))


@signals.task_success.connect
def on_succeeded(sender=None, result=None, **kwargs):
    if sender is not None and is_lab(sender.name):
        record(
            sender.request.id,
            LabEvent.Kind.SUCCEEDED,
            hostname=sender.request.hostname or "",
            detail=repr(result),
        )


@signals.task_failure.connect
def on_failed(sender=None, task_id=None, exception=None, **kwargs):
    if sender is not None and is_lab(sender.name):
        record(task_id, LabEvent.Kind.FAILED, hostname=sender.request.hostname or "", detail=repr(exception))


@signals.task_revoked.connect
def on_revoked(sender=None, request=None, terminated=None, signum=None, expired=None, **kwargs):
    # The sender is the task; `request` is its Context here, which has no name.
    if request is not None and sender is not None and is_lab(sender.name):
        detail = "terminated" if terminated else "expired" if expired else "discarded without running"
        record(request.id, LabEvent.Kind.REVOKED, hostname=request.hostname or "", detail=detail)


# Celery's own handler of the `revoke` remote-control command, which the wrapper below calls.
celery_revoke = worker_control.Panel.data["revoke"]


@worker_control.control_command(name="revoke", variadic="task_id", signature="[id1 [id2 [... [idN]]]]")
def revoke_and_record(state, task_id, terminate=False, signal=None, **kwargs):
    """Revoke task by task id (or list of ids): Celery's own command, recorded in lane 2.

    For each lab task this worker holds, lane 2 gets the revoke's arrival and, when this worker
    stored REVOKED at once, who did. In Celery 5.7 (celery/worker/control.py `_revoke`) the
    worker stores REVOKED on arrival for a task it holds but has not started (a countdown, a
    reserved message); a running task is only flagged (it runs on) unless terminate=True kills
    its pool process (then task_revoked reports it). A worker that does not hold the task
    stores REVOKED too while it reads PENDING. A message flagged before it started is still
    discarded later, when its turn comes: task_revoked, a second "revoked".
    """
    held = {}
    for one_id in set(maybe_list(task_id) or []):
        request = worker_state.requests.get(one_id)
        if request is not None and is_lab(request.name):
            held[one_id] = request
    running = {one_id for one_id, request in held.items() if request in worker_state.active_requests}
    stored_before = {}
    for one_id, request in held.items():
        if one_id not in running:
            detail = "not started yet: flagged, never to run"
            stored_before[one_id] = request.task.backend.get_state(one_id)
        elif terminate:
            detail = "running: terminate=True, the worker kills its pool process"
        else:
            detail = "running: only flagged, it runs on (no terminate)"
        record(one_id, LabEvent.Kind.REVOKE_ARRIVED, hostname=state.hostname, detail=detail)
    answer = celery_revoke(state, task_id, terminate=terminate, signal=signal, **kwargs)
    for one_id, before in stored_before.items():
        if held[one_id].task.backend.get_state(one_id) != states.REVOKED:
            continue
        if before == states.REVOKED:
            # Every worker the broadcast reaches stores REVOKED for an id it does not hold.
            detail = "REVOKED was stored already, by another worker that got the same revoke"
        else:
            detail = "this worker stored REVOKED as the revoke arrived, before the task started"
        record(one_id, LabEvent.Kind.REVOKED, hostname=state.hostname, detail=detail)
    return answer
