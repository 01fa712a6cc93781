"""The experiments that break a worker: each runs on a sandbox worker of its own (live_lab/sandbox.py),
configured by the learner, and its script kills the worker's pool process or the whole worker.

What each shows was checked against Celery 5.7 and kombu 5.7 and is asserted by
tests/live_lab/test_sandbox_experiments.py on real sandbox workers, in each mode where it holds:
- celery/worker/request.py `Request.on_failure`: a pool process that dies raises WorkerLostError
  in the worker's main process. Without acks_late the message was acknowledged when the task
  started, so FAILURE is stored and nothing runs again. With acks_late, `task_acks_on_failure`
  (True by default) acknowledges it and stores FAILURE all the same; only with
  `task_reject_on_worker_lost` is the message rejected with requeue=True, no failure stored
  or signalled, and the task runs again.
- celery/worker/request.py `Request._retry_worker_lost` (Celery 5.7): with
  `task_retry_on_worker_lost`, checked before acks_late and reject_on_worker_lost, the worker
  sends the task again as `retry()` would: the same id, retries + 1, countdown
  `task.default_retry_delay` (180 s unless set), on the queue it came from; it stores RETRY with
  the WorkerLostError, acknowledges the original message if acks_late, and sends task-retried
  and the task_retry signal. Once `max_retries` retries are used, FAILURE as without it.
- kombu/transport/redis.py: a message a worker fetched sits in the `unacked` hash until it is
  acknowledged; `restore_visible` puts back those older than `visibility_timeout`. A message
  with an ETA is held unacknowledged until it runs (even without acks_late), so an ETA further
  than the visibility timeout is handed out again, to the same worker: the task runs twice.
- kombu/transport/filesystem.py: a message's file is deleted when a worker fetches it; there is
  no visibility timeout and nothing to restore, so a worker killed whole loses what it held
  (a warm shutdown puts unacknowledged messages back: kombu's virtual `restore_at_shutdown`).
- celery/backends/redis.py `_set`: every store is a SETEX with the worker's `result_expires`, so
  Redis deletes the key that long after the last store and the id reads PENDING again. The
  django-db backend (base.py `supports_autoexpire = False`) expires nothing: only its `cleanup()`,
  the `celery.backend_cleanup` task that celery beat sends daily, deletes rows older than the
  *calling* process's result_expires, of every task in the table; the lab never sends it.
- celery/result.py: an AsyncResult that read a ready state keeps it (`_cache`) and never reads
  again; `result_cache_max` (off by default, -1) would keep SUCCESS in the backend of the
  reading process too. The lab's readings are fresh: one `backend.get_task_meta` each, no cache.
"""

import time

from django.conf import settings
from django.utils import timezone
from django_celery_results.models import TaskResult

from config.celery import app
from live_lab import forms, tasks
from live_lab.experiments import READY_TRUE, Experiment, Prediction, SandboxSpec, observe, outcome_of
from live_lab.models import LabEvent
from live_lab.sandbox import SandboxFailed
from live_lab.sandbox_config import SandboxConfig

RUNS_CHOICES = ("never", "once", "twice", "3 times")
READY_FALSE = Prediction("ready", "What will ready() return at the end?", ("True", "False"), "False")


def runs_prediction(answer: str) -> Prediction:
    return Prediction("runs", "How many times will the task start on the worker?", RUNS_CHOICES, answer)


def kill_after_start(script, kill) -> None:
    """Wait for the task's start, wait the chosen moment, then kill (`kill(script)`)."""
    if not script.wait_for_event("started", timeout=20):
        raise SandboxFailed("the task never started on the sandbox worker")
    script.pause(script.params["kill_after"])
    kill(script)


def kill_the_pool_process(script) -> None:
    """Kill the pool process mid-task; the worker replaces it and decides the task's fate."""
    kill_after_start(script, lambda s: s.kill_pool_process())
    # WorkerLostError comes worker_lost_wait (2 s here) after the kill; a requeued task runs
    # again in full: at most 10 s more.
    script.wait_for_last_word(timeout=20)
    script.count_runs()


def kill_once_and_wait_for_the_retry(script) -> None:
    """Kill the pool process during the first run only; read what AsyncResult holds once the
    worker has retried the task; wait for the retry to run (it is never killed)."""
    kill_after_start(script, lambda s: s.kill_pool_process())
    config = script.sandbox.config
    # WorkerLostError comes worker_lost_wait (2 s here) after the kill; the retry, if any, is
    # sent at once and runs default_retry_delay later, in full.
    if script.wait_for_event("retried", timeout=10, unless=LabEvent.LAST_WORDS):
        result = app.AsyncResult(script.run.task_id)
        state, info = result.state, result.info  # RETRY stays until the retry starts: seconds away
        code = "result.info while it reads RETRY"
        script.note("retry-info", code, type(info).__name__, f"{state}: {info!r}")
    seconds = script.run.params["args"][0]  # long_job(seconds)
    script.wait_for_last_word(timeout=config.default_retry_delay + seconds + 8)
    script.count_runs()


def kill_and_restart_the_worker(script) -> None:
    """Kill the whole worker mid-task, start a new one on the same queue, wait for a redelivery."""
    kill_after_start(script, lambda s: s.kill_worker())
    script.restart_worker()
    # Redis hands an unacknowledged message out again once visibility_timeout has passed since
    # it was fetched (the sandbox looks every second); the filesystem broker never does.
    config = script.sandbox.config
    wait = config.visibility_timeout + 12 if settings.RUN_MODE == "redis" and config.acks_late else 3
    script.wait_for_last_word(timeout=min(wait, 40))
    script.count_runs()


def kill_the_worker_for_good(script) -> None:
    """Kill the whole worker after the task started, and start no other: its last state stays."""
    kill_after_start(script, lambda s: s.kill_worker())
    script.pause(2.0)  # nothing more can come: no worker consumes the queue now
    script.count_runs()


def wait_past_the_countdown(script) -> None:
    """Wait until the countdown has passed and every copy of the message received has run."""
    countdown = script.run.params["options"]["countdown"]
    script.pause(countdown + 1.5 - script.seconds_since_send())
    script.wait_for_last_word(every_copy=True, timeout=15)
    script.count_runs()


def read_past_the_expiry(script) -> None:
    """Wait for SUCCESS, note how long the backend keeps it, then read the id again once
    result_expires (plus a second) has passed: with a new AsyncResult, and with the one that
    read SUCCESS before (it keeps what it read)."""
    if not script.wait_for_last_word(timeout=20):
        raise SandboxFailed("the task never ended on the sandbox worker")
    task_id = script.run.task_id
    held = app.AsyncResult(task_id)
    held_state = held.state  # SUCCESS: a ready state, which this AsyncResult now keeps
    note_how_long_the_backend_keeps(script, task_id)
    # Counted from the last store, which came before the worker's "succeeded" row.
    script.pause(script.sandbox.config.result_expires + 1.0)
    fresh = app.AsyncResult(task_id).state  # one read of the backend, nothing cached
    script.note("state-after-expiry", "app.AsyncResult(sent.id).state", f"reads {fresh}")
    script.note(
        "held-after-expiry",
        "result.state  # the AsyncResult that read SUCCESS before",
        f"reads {held.state}",
        f"it read {held_state} before the expiry, and a ready state is kept (celery/result.py, _cache)",
    )


def revoke_once_started(script) -> None:
    """As a client would: revoke(terminate=True) as soon as AsyncResult reads STARTED, then wait
    for the worker's last word (its revoked row)."""
    if not script.wait_for_event("started", timeout=20):
        raise SandboxFailed("the task never started on the sandbox worker")
    task_id = script.run.task_id
    deadline = time.monotonic() + 10
    while app.AsyncResult(task_id).state != "STARTED" and time.monotonic() < deadline:
        time.sleep(0.02)
    outcome, detail = outcome_of(lambda: app.AsyncResult(task_id).revoke(terminate=True))
    script.note("revoke", "result.revoke(terminate=True)", outcome, detail)
    script.wait_for_last_word(timeout=20)


def note_how_long_the_backend_keeps(script, task_id: str) -> None:
    """The key's TTL on Redis; on django-db, that the row has none."""
    if settings.RUN_MODE == "redis":
        key = app.backend.get_key_for_task(task_id)
        ttl = app.backend.client.ttl(key)  # -2: no such key, -1: no TTL
        outcome = {-2: "no key (expired already)", -1: "no TTL: kept for ever"}.get(ttl, f"{ttl} s")
        script.note("result-ttl", f"redis.ttl({key.decode()!r})", outcome, "Redis deletes the key then")
        return
    row = TaskResult.objects.filter(task_id=task_id).values_list("date_done", flat=True).first()
    stored = f"date_done {timezone.localtime(row):%H:%M:%S}" if row else "no row"
    script.note(
        "result-ttl",
        "TaskResult.objects.get(task_id=sent.id).date_done",
        "no expiry of its own",
        f"{stored}; only celery.backend_cleanup deletes rows older than result_expires",
    )


EXPIRY_PREDICTION = Prediction(
    "state-after-expiry",
    "What will a new app.AsyncResult(sent.id).state read one second after result_expires has passed?",
    ("reads SUCCESS", "reads PENDING", "reads FAILURE", "reads REVOKED"),
    "reads PENDING",
)


KILL_CHOICES = ("acks_late", "reject_on_worker_lost", "track_started", "prefetch_multiplier")
TASK_CODE = "long_job.apply_async((seconds,), queue=sandbox_queue)"

SANDBOX_EXPERIMENTS = [
    Experiment(
        id="pool-killed",
        title="A pool process killed mid-task (Celery's defaults)",
        summary="A sandbox worker with Celery's defaults runs a 3-second task; its pool process is "
        "SIGKILLed one second in, as the out-of-memory killer would.",
        task=tasks.long_job,
        form=forms.KillMidTaskForm,
        lane1=("PENDING", "FAILURE"),
        lane2=("published", "received", "started", "failed"),
        lesson="The worker's main process sees its child die and stores FAILURE with WorkerLostError "
        "(ready() True). Without acks_late the message was acknowledged when the task started: the "
        "task is not run again.",
        client_code=observe(TASK_CODE, "# one second after it started: os.kill(<pool process>, SIGKILL)"),
        predictions=(READY_TRUE, runs_prediction("once")),
        sandbox=SandboxSpec(kill_the_pool_process, SandboxConfig(), KILL_CHOICES),
    ),
    Experiment(
        id="pool-killed-acks-late",
        title="A pool process killed mid-task, with acks_late",
        summary="The same kill, on a worker with task_acks_late=True.",
        task=tasks.long_job,
        form=forms.KillMidTaskForm,
        lane1=("PENDING", "FAILURE"),
        lane2=("published", "received", "started", "failed"),
        lesson="acks_late alone does not bring the task back: a task whose process died "
        "is acknowledged anyway (task_acks_on_failure, unset, falls back to "
        "task_acks_on_failure_or_timeout=True) and stored as FAILURE with "
        "WorkerLostError, because a task that kills its process would otherwise loop for ever. It "
        "runs once.",
        client_code=observe(TASK_CODE, "# one second after it started: os.kill(<pool process>, SIGKILL)"),
        predictions=(READY_TRUE, runs_prediction("once")),
        sandbox=SandboxSpec(kill_the_pool_process, SandboxConfig(acks_late=True), KILL_CHOICES),
    ),
    Experiment(
        id="pool-killed-reject",
        title="A pool process killed mid-task, with acks_late and task_reject_on_worker_lost",
        summary="The same kill, on a worker with task_acks_late=True and task_reject_on_worker_lost=True.",
        task=tasks.long_job,
        form=forms.KillMidTaskForm,
        lane1=("PENDING", "SUCCESS"),
        lane2=("published", "received", "started", "received", "started", "succeeded"),
        lesson="With reject_on_worker_lost the worker rejects the message with requeue=True: nothing is "
        "stored and no failure is reported, the broker hands the message out again, and the task runs "
        "a second time from the start. “What your code sees” never shows the first attempt; "
        "“What the worker did” shows both. The task must be safe to run twice (idempotent).",
        client_code=observe(TASK_CODE, "# one second after it started: os.kill(<pool process>, SIGKILL)"),
        predictions=(READY_TRUE, runs_prediction("twice")),
        sandbox=SandboxSpec(
            kill_the_pool_process, SandboxConfig(acks_late=True, reject_on_worker_lost=True), KILL_CHOICES
        ),
    ),
    Experiment(
        id="pool-killed-retry",
        title="A pool process killed mid-task, with task_retry_on_worker_lost",
        summary="The same kill, on a worker with task_retry_on_worker_lost=True (Celery 5.7), "
        "default_retry_delay=3 and task_track_started=True. Only the first run is killed.",
        task=tasks.long_job,
        form=forms.KillMidTaskForm,
        lane1=("PENDING", "STARTED", "RETRY", "STARTED", "SUCCESS"),
        lane2=("published", "received", "started")
        + ("published", "retried", "received", "started", "succeeded"),
        lesson="The worker sends the task again as retry() would: same id, retries + 1, with a "
        "countdown of default_retry_delay seconds. It stores RETRY, with the WorkerLostError as "
        ".info, so “What your code sees” shows the lost attempt, unlike reject_on_worker_lost, and "
        "the retry runs the task from the start: it must be idempotent. It needs no acks_late "
        "(with acks_late the original message is acknowledged), it wins over "
        "reject_on_worker_lost (which still applies if sending the retry fails), and max_retries "
        "bounds it (3 by default): once the retries are used up, the next loss stores FAILURE, so "
        "a task that kills its process every time does not loop for ever, unless max_retries is "
        "None. The trap: default_retry_delay is 180 s unless you set it, so by default the task "
        "reads RETRY for at least three minutes before the retry runs.",
        client_code=observe(TASK_CODE, "# one second after it started: os.kill(<pool process>, SIGKILL)"),
        predictions=(
            READY_TRUE,
            runs_prediction("twice"),
            Prediction(
                "retry-info",
                "While it reads RETRY, what does result.info hold?",
                ("NoneType", "WorkerLostError", "Retry", "str"),
                "WorkerLostError",
            ),
        ),
        sandbox=SandboxSpec(
            kill_once_and_wait_for_the_retry,
            SandboxConfig(retry_on_worker_lost=True, default_retry_delay=3, track_started=True),
            (
                "retry_on_worker_lost",
                "default_retry_delay",
                "max_retries",
                "acks_late",
                "reject_on_worker_lost",
                "track_started",
            ),
            modes="Both brokers show it: the worker itself notices the lost process and sends the retry.",
        ),
        notes=(
            "The retry is a new message with the same task id, published by the worker itself: lane "
            "2 shows a second “published” row from the sandbox worker.",
            "The pool must be prefork: only there does a process die apart from the worker.",
        ),
    ),
    Experiment(
        id="revoke-terminate",
        title="Revoking a running task with terminate=True",
        summary="A tracked slow task on a sandbox worker; result.revoke(terminate=True) is called as "
        "soon as it reads STARTED.",
        task=tasks.slow_tracked,
        form=forms.SleepForm,
        lane1=("PENDING", "STARTED", "REVOKED"),
        lane2=("published", "received", "started", "revoke arrived", "revoked"),
        lesson="terminate=True sends SIGTERM to the pool process running the task; the worker "
        "stores REVOKED. The task's own code gets no chance to clean up: a last resort. It can "
        "also leave the prefork pool stuck: a pool process killed while it holds the lock of the "
        "queue the pool's processes report on (billiard) leaves the process started in its place "
        "waiting on that lock for ever, and tasks sent to it never start. This happened to the "
        "lab's shared worker after a few terminates, which is why this experiment has a worker of "
        "its own.",
        client_code=observe(
            "slow_tracked.apply_async((seconds,), queue=sandbox_queue)",
            "result.revoke(terminate=True)  # once it reads STARTED",
        ),
        sandbox=SandboxSpec(revoke_once_started, SandboxConfig()),
    ),
    Experiment(
        id="worker-killed",
        title="The whole worker killed mid-task, then started again (acks_late)",
        summary="A sandbox worker with acks_late runs a 3-second task; one second in, the worker and its "
        "pool are SIGKILLed, and a new worker is started on the same queue.",
        task=tasks.long_job,
        form=forms.KillMidTaskForm,
        lane1=("PENDING", "SUCCESS"),
        lane2=("published", "received", "started", "received", "started", "succeeded"),
        lesson="A worker killed whole stores, acknowledges and reports nothing. On Redis the message "
        "waits in the `unacked` hash; once visibility_timeout has passed since it was fetched, the new "
        "worker puts it back in the queue and runs it: the task runs twice, the second time on the new "
        "worker. Without acks_late it was acknowledged at the start and is lost. With Celery's default "
        "visibility timeout, the redelivery comes an hour later.",
        client_code=observe(
            TASK_CODE,
            "# one second after it started: os.kill(<worker and its pool>, SIGKILL)",
            "# then a new `celery worker` on the same queue",
        ),
        predictions=(READY_TRUE, runs_prediction("twice")),
        sandbox=SandboxSpec(
            kill_and_restart_the_worker,
            SandboxConfig(acks_late=True, visibility_timeout=5),
            ("acks_late", "track_started", "visibility_timeout", "prefetch_multiplier", "pool"),
            modes="Redis shows the redelivery after visibility_timeout. The filesystem broker shows "
            "the loss instead.",
            embedded="this site runs the filesystem broker, which has no visibility timeout: it deletes a "
            "message's file when a worker fetches it, and keeps unacknowledged messages only in that "
            "worker's memory (put back on a warm shutdown, never after SIGKILL). So here the task is "
            "lost even with acks_late: it reads PENDING for ever and runs once. Run the lab in Redis mode "
            "to see the redelivery.",
            embedded_outcome=(
                ("PENDING",),
                ("published", "received", "started"),
                {"ready": "False", "runs": "once"},
            ),
        ),
    ),
    Experiment(
        id="eta-beyond-visibility",
        title="A countdown longer than the visibility timeout",
        summary="A short task sent with countdown=6 to a sandbox worker whose Redis visibility_timeout "
        "is 4 s.",
        task=tasks.long_job,
        form=forms.CountdownOnSandboxForm,
        lane1=("PENDING", "SUCCESS"),
        lane2=("published", "received", "received", "started", "succeeded", "started", "succeeded"),
        lesson="The worker holds a message with an ETA (countdown) unacknowledged until it runs, "
        "acks_late or not. On Redis, once visibility_timeout has passed, the message is handed out "
        "again, to the same worker, which now holds two copies: at the ETA the task runs twice. "
        "“What your code sees” shows one SUCCESS; “What the worker did” shows both runs. Keep ETAs "
        "and countdowns well below the visibility timeout, or raise it.",
        client_code=observe("long_job.apply_async((0.5,), countdown=countdown, queue=sandbox_queue)"),
        predictions=(READY_TRUE, runs_prediction("twice")),
        sandbox=SandboxSpec(
            wait_past_the_countdown,
            SandboxConfig(visibility_timeout=4),
            ("visibility_timeout", "acks_late", "prefetch_multiplier"),
            modes="Only Redis has a visibility timeout; the filesystem broker runs the task once.",
            embedded="this site runs the filesystem broker, which has no visibility timeout (a worker "
            "deletes a message's file when it fetches it, and holds it in memory until the ETA), so "
            "here the task runs once. Run the lab in Redis mode to see it run twice.",
            embedded_outcome=(
                ("PENDING", "SUCCESS"),
                ("published", "received", "started", "succeeded"),
                {"ready": "True", "runs": "once"},
            ),
        ),
        notes=(
            "Each copy of the message is received and run on its own, one after the other here (one "
            "pool process).",
            "What the broker holds may show the message unacknowledged, then gone: the worker fetches "
            "the copy put back within milliseconds, under the same delivery tag (kombu assigns it when "
            "the message is published), between two of the lab's looks.",
        ),
    ),
    Experiment(
        id="orphaned-started",
        title="Stuck in STARTED: the worker died after the start was stored",
        summary="A sandbox worker with track_started=True runs a 3-second task; one second in, the "
        "whole worker is SIGKILLed and no other is started.",
        task=tasks.long_job,
        form=forms.KillMidTaskForm,
        lane1=("PENDING", "STARTED"),
        lane2=("published", "received", "started"),
        lesson="STARTED was stored when the task started; the killed worker never stores anything "
        "again, so AsyncResult reads STARTED for ever (ready() False), as monitoring tools show "
        "“stuck” tasks. Nothing in the result backend can tell a running task from an orphan: ask "
        "the workers (inspect().query_task) or put a deadline on it.",
        client_code=observe(
            TASK_CODE, "# one second after it started: os.kill(<worker and its pool>, SIGKILL)"
        ),
        predictions=(READY_FALSE, runs_prediction("once")),
        sandbox=SandboxSpec(
            kill_the_worker_for_good,
            SandboxConfig(track_started=True),
            ("track_started", "acks_late", "prefetch_multiplier", "pool"),
            modes="Both brokers show it: no worker is left to receive the message again.",
        ),
    ),
    Experiment(
        id="result-expiry",
        title="A result that outlives result_expires",
        summary="A sandbox worker with result_expires=3 runs x + y; the client reads the id again "
        "once those seconds have passed since SUCCESS was stored.",
        task=tasks.add,
        form=forms.ResultExpiryForm,
        lane1=("PENDING", "SUCCESS", "PENDING"),
        lane2=("published", "received", "started", "succeeded"),
        lesson="The Redis backend stores every state with SETEX and the worker's result_expires as "
        "the TTL, so Redis deletes the key that long after the last store: the finished task's id "
        "reads PENDING again, ready() False and result None, like an id never sent. An AsyncResult "
        "that read SUCCESS before keeps it (it never reads a ready state again), so only a new one "
        "shows the loss. A page that lists old tasks must keep what it needs in its own tables; "
        "result_expires defaults to one day, and None or 0 keeps results for ever.",
        client_code=observe(
            "add.apply_async((x, y), queue=sandbox_queue)",
            "# result_expires + 1 s after SUCCESS:",
            "app.AsyncResult(sent.id).state  # a new handle: one read of the backend",
            "result.state  # the handle that read SUCCESS before",
        ),
        predictions=(READY_FALSE, EXPIRY_PREDICTION),
        sandbox=SandboxSpec(
            read_past_the_expiry,
            SandboxConfig(result_expires=3),
            ("result_expires", "track_started", "pool"),
            modes="Redis deletes the key after result_expires. The django-db backend keeps the row: "
            "only celery.backend_cleanup deletes expired rows.",
            embedded="this site keeps results in its database (django-celery-results), which expires "
            "nothing by itself: a row stays SUCCESS past result_expires until the celery.backend_cleanup "
            "task deletes it, which celery beat sends once a day (4:00). That task deletes every row "
            "older than result_expires, of every learner, so the lab never sends it. So here the "
            "result still reads SUCCESS. Run the lab in Redis mode to see it expire.",
            embedded_outcome=(
                ("PENDING", "SUCCESS"),
                ("published", "received", "started", "succeeded"),
                {"ready": "True", "state-after-expiry": "reads SUCCESS"},
            ),
        ),
        notes=(
            "The expiry counts from the last store: with track_started, STARTED sets a TTL that "
            "SUCCESS sets again.",
        ),
    ),
]
