"""The lab's catalog: each experiment is a real task, bounded parameters, and what it shows.

`lane1` is what app.AsyncResult(id) reports, state by state; `lane2` what the worker itself
does. Tests (tests/live_lab/test_experiments.py) fire every experiment at a real worker in
both run modes and assert these sequences: they are the executable proof of the content.

Some experiments also make client calls while the task runs (`steps`: revoke(), forget(),
get(timeout=...)); the observer in live_lab/observer.py makes them when their trigger fires
and records what each returned or raised.
"""

import inspect
import uuid
from dataclasses import dataclass, field

from celery import chord, group
from django.conf import settings

from config.celery import app
from live_lab import forms, tasks
from live_lab.sandbox_config import SandboxConfig

# What a get() call did, as the learner predicts it (forms.py offers these choices).
RETURNS = "returns"
RAISES_TASK_ERROR = "raises the task's exception"
RAISES_TIMEOUT = "raises TimeoutError"
RAISES_REVOKED = "raises TaskRevokedError"
RAISES_CHORD_ERROR = "raises ChordError"
GET_OUTCOMES = (RETURNS, RAISES_TASK_ERROR, RAISES_TIMEOUT, RAISES_REVOKED)


def outcome_of(call) -> tuple[str, str]:
    """(outcome label, repr) of calling `call()`: what it returned, or which error it raised."""
    try:
        value = call()
    except Exception as error:  # the point is to show whatever the call raises
        name = type(error).__name__
        if name == "TimeoutError":
            return RAISES_TIMEOUT, repr(error)
        if name == "TaskRevokedError":
            return RAISES_REVOKED, repr(error)
        if name == "ChordError":
            return RAISES_CHORD_ERROR, repr(error)
        return RAISES_TASK_ERROR, repr(error)
    return RETURNS, repr(value)


def get_now(result, **options):
    # django-celery-results' get() would poll every 0.5 s by default (live_lab/queries.py).
    return result.get(interval=settings.RESULT_POLL_INTERVAL, **options)


@dataclass(frozen=True)
class Step:
    """A client call the observer makes during a run, once its trigger has fired.

    Triggers: ("after", seconds since the send), ("state", a state lane 1 read),
    ("event", a lane-2 event kind). Steps run one after another, in order.
    """

    key: str
    code: str
    trigger: tuple
    call: object  # (AsyncResult) -> (outcome label, repr)
    # Made on the AsyncResult that delay() returned, not on one rebuilt from the id: only that
    # one knows the options of the send (`ignored`, celery/app/base.py send_task).
    on_sent_handle: bool = False


@dataclass(frozen=True)
class Prediction:
    """An extra prediction: `ready` and `successful` are graded on the last reading, any
    other key on the outcome of the step with that key."""

    key: str
    question: str
    choices: tuple[str, ...]
    answer: str  # what really happens: the tests assert it, the page never shows it beforehand


READY_TRUE = Prediction("ready", "What will ready() return at the end?", ("True", "False"), "True")


def get_prediction(code: str, answer: str, *, key: str = "get") -> Prediction:
    return Prediction(key, f"What will {code} do?", GET_OUTCOMES, answer)


@dataclass(frozen=True)
class SandboxSpec:
    """An experiment that runs on a sandbox worker of its own (live_lab/sandbox.py).

    `choosable`: the SandboxConfig fields the learner may set on the page (forms.py validates
    them), starting from `defaults`. `script(SandboxScript)` runs once the task is sent: it
    kills and restarts the worker when it chooses (live_lab/sandbox_runs.py), and returns when
    nothing more can happen; the run is over then. `modes`: what each run mode can show, and why.
    """

    script: object  # (SandboxScript) -> None
    defaults: SandboxConfig = SandboxConfig()
    choosable: tuple[str, ...] = ()
    modes: str = ""
    # On the filesystem broker, where it differs: what the page says (and why), and the lanes and
    # prediction answers the tests assert there: (lane1, lane2, {prediction key: answer}).
    embedded: str = ""
    embedded_outcome: tuple | None = None


@dataclass(frozen=True)
class Experiment:
    id: str
    title: str
    summary: str
    task: object
    form: type
    lane1: tuple[str, ...]
    lane2: tuple[str, ...]
    lesson: str
    client_code: str
    steps: tuple[Step, ...] = ()
    predictions: tuple[Prediction, ...] = ()
    send: object = None  # (run, args, kwargs, options) -> the AsyncResult sent; sets run.related_ids
    watches_group: bool = False
    notes: tuple[str, ...] = field(default=())
    # (run) -> what the client code holds, which the steps are called on (a chain's last
    # result with its parent, a GroupResult); by default app.AsyncResult(run.task_id).
    handle: object = None
    # (run) -> the task ids whose last words (lane 2) end the run; by default the run's task.
    # A chain or chord that fails early never publishes its last task.
    last_word_of: object = None
    # No worker will ever receive the task (a queue nobody consumes): the run is over once its
    # client calls were made.
    without_worker: bool = False
    sandbox: SandboxSpec | None = None
    # States whose absence from lane 1, while lane 2 shows the worker got there, is the lesson:
    # the run page points them out (and any state the learner predicted but never read).
    points_out: tuple[str, ...] = ()

    @property
    def mode_note(self) -> str:
        """Why this site's mode cannot show what the experiment is about ("" where it can): a
        sandbox experiment's `embedded` note, outside Redis mode."""
        if self.sandbox is None or settings.RUN_MODE == "redis":
            return ""
        return self.sandbox.embedded

    @property
    def task_source(self) -> str:
        return inspect.getsource(self.task.run)

    def make_form(self, data=None):
        return self.form(data, predictions=self.predictions, sandbox=self.sandbox)


OBSERVE = """\
from config.celery import app

sent = {call}
result = app.AsyncResult(sent.id)  # the run page reads it after each store
result.state, result.info, result.ready(), result.successful(), result.failed()
"""


def observe(call: str, *extra: str) -> str:
    return OBSERVE.format(call=call) + "".join(f"\n{line}" for line in extra)


def send_chord(run, args, kwargs, options) -> None:
    """A chord: `count` add tasks in a group, then total() on their results.

    The run's task id is the callback's; the header's ids are chosen here and kept on the run
    (with the group's id), so that both lanes can follow every task.
    """
    count, seconds = args
    header_ids = [str(uuid.uuid4()) for _ in range(count)]
    header = group(
        tasks.add.s(n, n, seconds=seconds).set(task_id=task_id) for n, task_id in enumerate(header_ids)
    )
    callback = chord(header, tasks.total.s().set(task_id=run.task_id)).apply_async()
    run.related_ids = header_ids
    run.params = {**run.params, "group_id": callback.parent.id}
    return callback


def exists_outcome(result):
    return outcome_of(result.exists)


def unknown_id_state(result):
    never_sent = app.AsyncResult(str(uuid.uuid4()))
    return RETURNS, f"state={never_sent.state!r}, exists()={never_sent.exists()!r}"


EXPERIMENTS = {
    experiment.id: experiment
    for experiment in [
        Experiment(
            id="success",
            title="A task that succeeds",
            summary="A small computation that returns x + y after a short sleep.",
            task=tasks.add,
            form=forms.SuccessForm,
            lane1=("PENDING", "SUCCESS"),
            lane2=("published", "received", "started", "succeeded"),
            lesson="The backend only learns of the task when it ends: while the worker runs it, "
            "AsyncResult still says PENDING.",
            client_code=observe("add.delay(x, y, seconds=seconds)"),
            points_out=("STARTED",),
        ),
        Experiment(
            id="failure",
            title="A task that fails",
            summary="A task that raises the exception you pick; the client then calls get() two ways.",
            task=tasks.fail,
            form=forms.FailureForm,
            lane1=("PENDING", "FAILURE"),
            lane2=("published", "received", "started", "failed"),
            lesson="ready() is True for FAILURE too; .info holds the exception instance; get() "
            "re-raises it, and get(propagate=False) returns it instead.",
            client_code=observe(
                'fail.delay("raised on purpose", seconds=seconds, exception=name)',
                "# once it is ready:",
                "result.get(propagate=False)",
                "result.get()",
            ),
            steps=(
                Step(
                    "get-propagate-false",
                    "result.get(propagate=False)",
                    ("state", "FAILURE"),
                    lambda result: outcome_of(lambda: get_now(result, propagate=False)),
                ),
                Step(
                    "get",
                    "result.get()",
                    ("state", "FAILURE"),
                    lambda result: outcome_of(lambda: get_now(result)),
                ),
            ),
            predictions=(READY_TRUE, get_prediction("result.get()", RAISES_TASK_ERROR)),
        ),
        Experiment(
            id="slow-untracked",
            title="A slow task, track_started off",
            summary="A task that sleeps for a few seconds, with track_started left at its default (off).",
            task=tasks.slow,
            form=forms.SleepForm,
            lane1=("PENDING", "SUCCESS"),
            lane2=("published", "received", "started", "succeeded"),
            lesson="Without track_started nothing is stored when the task starts: a running task "
            "reads PENDING, exactly like a queued one or an unknown id.",
            client_code=observe("slow.delay(seconds)"),
            points_out=("STARTED",),
        ),
        Experiment(
            id="slow-tracked",
            title="The same slow task, track_started on",
            summary="The same sleeping task, declared with track_started=True.",
            task=tasks.slow_tracked,
            form=forms.SleepForm,
            lane1=("PENDING", "STARTED", "SUCCESS"),
            lane2=("published", "received", "started", "succeeded"),
            lesson="STARTED comes from the worker, because of track_started, not from update_state; "
            ".info is {'pid': ..., 'hostname': ...} meanwhile.",
            client_code=observe("slow_tracked.delay(seconds)"),
        ),
        Experiment(
            id="progress",
            title="Progress with a custom state",
            summary="It calls update_state('PROGRESS', meta={'current': n, 'total': N}) after each step.",
            task=tasks.progress,
            form=forms.ProgressForm,
            lane1=("PENDING", "PROGRESS", "SUCCESS"),
            lane2=("published", "received", "started", "succeeded"),
            lesson="While it runs, .info (= .result) holds the meta dict, and ready() is False: "
            "a custom state is not a ready state.",
            client_code=observe("progress.delay(steps, step_seconds)"),
        ),
        Experiment(
            id="retry",
            title="Retries, then success or failure",
            summary="Its first attempts fail and call self.retry(countdown=...), within max_retries.",
            task=tasks.flaky,
            form=forms.RetryForm,
            lane1=("PENDING", "RETRY", "SUCCESS"),
            lane2=("published", "received", "started")
            + ("published", "retried", "received", "started") * 2
            + ("succeeded",),
            lesson="Between attempts the state is RETRY and .info is the exception that caused the "
            "retry; each retry is a new message, published by the worker itself. With more failures "
            "than max_retries, the last attempt raises the exception: FAILURE.",
            client_code=observe("flaky.delay(failures, max_retries, countdown)"),
            notes=(
                "The worker publishes each retry message itself, then reports the retry; the "
                "“received” of that message may land just before the “retried”: two processes, "
                "the same moment.",
            ),
        ),
        Experiment(
            id="revoke-queued",
            title="Revoked before it starts",
            summary="Sent with a countdown; result.revoke() is called one second later, before it may start.",
            task=tasks.add,
            form=forms.RevokeQueuedForm,
            lane1=("PENDING", "REVOKED"),
            # Until the run ends; the worker discards the message when its countdown ends: a
            # second "revoked" (celery/worker/request.py), after the run.
            lane2=("published", "received", "revoke arrived", "revoked"),
            lesson="The worker that holds the message stores REVOKED as soon as the revoke command "
            "reaches it (Celery 5.7); ready() is True and get() raises TaskRevokedError. The task "
            "never runs.",
            client_code=observe(
                "add.apply_async((2, 3), countdown=countdown)",
                "# one second later, while the worker holds it until its countdown ends:",
                "result.revoke()",
                "result.get()  # once it is ready",
            ),
            steps=(
                Step("revoke", "result.revoke()", ("after", 1.0), lambda r: outcome_of(r.revoke)),
                Step("get", "result.get()", ("state", "REVOKED"), lambda r: outcome_of(lambda: get_now(r))),
            ),
            predictions=(READY_TRUE, get_prediction("result.get()", RAISES_REVOKED)),
            notes=(
                "The client's revoke() stores nothing: it broadcasts a command. “What the worker did” "
                "shows the worker that holds the message storing REVOKED when the command arrives "
                "(celery/worker/control.py). The worker keeps the message until its countdown "
                "ends, then discards it unrun: a second “revoked”, after this run is over "
                "(reload the page to see it).",
            ),
        ),
        Experiment(
            id="revoke-running",
            title="Revoking a running task, without terminate",
            summary="A tracked slow task; result.revoke() is called as soon as it reads STARTED.",
            task=tasks.slow_tracked,
            form=forms.SleepForm,
            lane1=("PENDING", "STARTED", "SUCCESS"),
            lane2=("published", "received", "started", "revoke arrived", "succeeded"),
            lesson="revoke() only tells workers not to start the task: the revoke reaches the "
            "worker, which lets the running task finish and store SUCCESS. Stopping it takes "
            "terminate=True.",
            client_code=observe("slow_tracked.delay(seconds)", "result.revoke()  # once it reads STARTED"),
            steps=(Step("revoke", "result.revoke()", ("state", "STARTED"), lambda r: outcome_of(r.revoke)),),
            points_out=("REVOKED",),
        ),
        Experiment(
            id="ignore-result",
            title="ignore_result=True",
            summary="A task declared with ignore_result=True; once it ran, the client calls "
            "get(timeout=1) on the result delay() returned and on one rebuilt from the id.",
            task=tasks.add_ignored,
            form=forms.IgnoredForm,
            lane1=("PENDING",),
            lane2=("published", "received", "started", "succeeded"),
            lesson="With ignore_result the worker never writes to the result backend, so the state "
            "stays PENDING after the task succeeded. The AsyncResult that delay() returned knows "
            "the option (sent.ignored is True): its get() returns None at once, without asking the "
            "backend. An AsyncResult rebuilt from the id (in another request, another process) "
            "knows nothing of it: its get() waits and raises TimeoutError.",
            client_code=observe(
                "add_ignored.delay(x, y)",
                "# after the worker reported success:",
                "sent.get(timeout=1.0)    # the handle delay() returned",
                "result.get(timeout=1.0)  # a handle rebuilt from the id",
            ),
            steps=(
                Step(
                    "get-sent",
                    "sent.get(timeout=1.0)",
                    ("event", "succeeded"),
                    lambda sent: outcome_of(lambda: get_now(sent, timeout=1.0)),
                    on_sent_handle=True,
                ),
                Step(
                    "get",
                    "result.get(timeout=1.0)",
                    ("event", "succeeded"),
                    lambda r: outcome_of(lambda: get_now(r, timeout=1.0)),
                ),
            ),
            predictions=(
                get_prediction("sent.get(timeout=1.0)", RETURNS, key="get-sent"),
                get_prediction("result.get(timeout=1.0)", RAISES_TIMEOUT),
            ),
            points_out=("SUCCESS",),
        ),
        Experiment(
            id="forget",
            title="An unknown id, and a forgotten result",
            summary="A task runs, then the client calls result.forget(); beside it, an id never sent.",
            task=tasks.add,
            form=forms.ForgetForm,
            lane1=("PENDING", "SUCCESS", "PENDING"),
            lane2=("published", "received", "started", "succeeded"),
            lesson="forget() deletes the stored result, and then the backend cannot tell it from an "
            "id that never existed: both read PENDING, and exists() (Celery 5.7) is False for both. "
            "exists() tells apart ids with a stored result from those without one, not queued from "
            "unknown.",
            client_code=observe(
                "add.delay(x, y)",
                "app.AsyncResult(str(uuid.uuid4())).state, ….exists()  # an id never sent",
                "result.exists()  # once it reads SUCCESS",
                "result.forget()",
                "result.exists()",
            ),
            steps=(
                Step("unknown", "app.AsyncResult(<a new uuid>)", ("after", 0.0), unknown_id_state),
                Step("exists-before", "result.exists()", ("state", "SUCCESS"), exists_outcome),
                Step("forget", "result.forget()", ("state", "SUCCESS"), lambda r: outcome_of(r.forget)),
                Step("exists-after", "result.exists()", ("state", "SUCCESS"), exists_outcome),
            ),
        ),
        Experiment(
            id="get-timeout",
            title="get(timeout=...) while the task runs on",
            summary="A slow task; the client calls get(timeout=1.0) at once, and get() again later.",
            task=tasks.slow,
            form=forms.GetTimeoutForm,
            lane1=("PENDING", "SUCCESS"),
            lane2=("published", "received", "started", "succeeded"),
            lesson="A timeout only stops the waiting: the task keeps running and stores its result. "
            "A later get() returns it.",
            client_code=observe(
                "slow.delay(seconds)",
                "result.get(timeout=1.0)  # right away",
                "result.get()  # once it reads SUCCESS",
            ),
            steps=(
                Step(
                    "get",
                    "result.get(timeout=1.0)",
                    ("after", 0.2),
                    lambda r: outcome_of(lambda: get_now(r, timeout=1.0)),
                ),
                Step(
                    "get-again",
                    "result.get()",
                    ("state", "SUCCESS"),
                    lambda r: outcome_of(lambda: get_now(r)),
                ),
            ),
            predictions=(get_prediction("result.get(timeout=1.0)", RAISES_TIMEOUT),),
        ),
        Experiment(
            id="expires",
            title="expires passes before the task can start",
            summary="Sent with a countdown longer than its expires: when its time comes, expires has passed.",
            task=tasks.add,
            form=forms.ExpiresForm,
            lane1=("PENDING", "REVOKED"),
            lane2=("published", "received", "revoked"),
            lesson="An expired task is never run: the worker revokes it and stores REVOKED, so "
            "ready() is True and get() raises TaskRevokedError.",
            client_code=observe("add.apply_async((2, 3), countdown=countdown, expires=expires)"),
        ),
        Experiment(
            id="early-success",
            title="update_state('SUCCESS') before the end",
            summary="The task stores SUCCESS by hand, works on, then returns something else.",
            task=tasks.early_success,
            form=forms.SleepForm,
            lane1=("PENDING", "SUCCESS"),
            lane2=("published", "received", "started", "succeeded"),
            lesson="A client sees ready() True and the early meta while the task is still running. "
            "What the backend keeps depends on the backend: Redis, like every key-value backend, "
            "ignores any store once SUCCESS is stored (celery/backends/base.py), so the early "
            "meta stays and the return value is lost; django-db overwrites it with the return "
            "value.",
            client_code=observe("early_success.delay(seconds)"),
        ),
        Experiment(
            id="group-chord",
            title="A group in a chord",
            summary="N add tasks in parallel, then total() on their results; the bar is completed_count().",
            task=tasks.total,
            form=forms.ChordForm,
            lane1=("PENDING", "SUCCESS"),
            lane2=("published", "received", "started", "succeeded"),
            lesson="The callback stays PENDING until every header task has succeeded; the worker "
            "that finishes the last one publishes it. completed_count() counts successful tasks "
            "only.",
            client_code=(
                "from celery import chord, group\n"
                "from config.celery import app\n\n"
                "header = group(add.s(n, n, seconds=seconds) for n in range(count))\n"
                "result = chord(header)(total.s())  # AsyncResult of the callback\n"
                "result.parent.completed_count(), result.parent.ready()  # the GroupResult\n"
                "result.state, result.info, result.ready(), result.successful(), result.failed()\n"
            ),
            send=send_chord,
            watches_group=True,
            steps=(
                Step(
                    "group",
                    "result.parent.completed_count(), result.parent.ready()",
                    ("state", "SUCCESS"),
                    lambda r: outcome_of(lambda: (r.parent.completed_count(), r.parent.ready())),
                ),
            ),
        ),
    ]
}

# The experiments that break a worker live in a module of their own; it builds on the names above.
from live_lab.sandbox_experiments import SANDBOX_EXPERIMENTS  # noqa: E402

EXPERIMENTS.update((experiment.id, experiment) for experiment in SANDBOX_EXPERIMENTS)


# The hard cases of issue 17 live in a module of their own, built from the classes above; it
# adds them to EXPERIMENTS when imported (a plain module import, so either may be imported first).
import live_lab.hard_cases  # noqa: E402, F401


def get_experiment(experiment_id: str) -> Experiment | None:
    return EXPERIMENTS.get(experiment_id)
