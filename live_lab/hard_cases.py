"""The hard cases of issue 17 that the shared worker can show: a queue no worker consumes, a
countdown, canvas failures (chain, chord, group), GroupResult.save()/restore(), error callbacks.

Each is an Experiment like the first fifteen (live_lab/experiments.py), with its lanes and
graded predictions; tests/live_lab/test_hard_cases.py fires every one at a real worker in both
run modes. What each lesson says was run on Celery 5.7 and read in its source: the lines cited
are in celery/result.py and celery/backends/base.py.

Where a run sends several tasks, the run's own task (lane 1) is the one the client code reads,
the others are in `run.related_ids`, and `run.params["labels"]` names each one in lane 2.
"""

import uuid

from celery import chain, chord, group

from config.celery import app
from live_lab import broker_lane, forms, tasks
from live_lab.experiments import (
    EXPERIMENTS,
    GET_OUTCOMES,
    RAISES_CHORD_ERROR,
    RAISES_TASK_ERROR,
    RAISES_TIMEOUT,
    READY_TRUE,
    RETURNS,
    Experiment,
    Prediction,
    Step,
    get_now,
    get_prediction,
    observe,
    outcome_of,
)

READY_FALSE = Prediction("ready", "What will ready() return at the end?", ("True", "False"), "False")
# A rebuilt chord callback raises the ChordError its worker stored: a choice of its own.
CHORD_GET_OUTCOMES = (*GET_OUTCOMES, RAISES_CHORD_ERROR)


def new_ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def label_tasks(run, labels: dict[str, str]) -> None:
    """Keep the other tasks' ids on the run, and what lane 2 calls each task."""
    run.related_ids = [task_id for task_id in labels if task_id != run.task_id]
    run.params = {**run.params, "labels": labels}


def returned(value_of):
    """A step whose outcome is what it returned, said in a few words ("returns False")."""

    def call(handle):
        try:
            value = value_of(handle)
        except Exception as error:  # the point is to show whatever the call raises
            return f"raises {type(error).__name__}", repr(error)
        return f"returns {value}", repr(value)

    return call


# A queue no worker consumes ----------------------------------------------------------------


def send_to_unconsumed_queue(run, args, kwargs, options):
    return tasks.add.apply_async(args, kwargs, task_id=run.task_id, queue=broker_lane.UNCONSUMED_QUEUE)


def remove_the_message(result):
    return RETURNS, repr(broker_lane.remove_message(result.id, queue=broker_lane.UNCONSUMED_QUEUE))


NO_WORKER = Experiment(
    id="no-worker",
    title="Sent to a queue no worker consumes",
    summary="add.apply_async(..., queue='lab-unconsumed'): no worker listens to that queue. The client "
    "calls get(timeout=1.0); then the lab deletes the message.",
    task=tasks.add,
    form=forms.NumbersForm,
    lane1=("PENDING",),
    lane2=("published",),
    lesson="Nothing reads the queue, so nothing runs the task and nothing is stored: AsyncResult "
    "reads PENDING, exactly as for a queued task or an id never sent, ready() is False and "
    "get(timeout=1.0) raises TimeoutError. Without the lab's clean-up the message would wait in "
    "the broker for ever (even with expires: on Redis and the filesystem broker only a worker "
    "checks it), and PENDING would never change: a typo in a queue "
    "name, or a worker started without -Q for it, looks just like a slow worker.",
    client_code=observe(
        "add.apply_async((x, y), queue='lab-unconsumed')",
        "result.get(timeout=1.0)",
        "# then the lab deletes the message: nothing else ever would",
    ),
    send=send_to_unconsumed_queue,
    without_worker=True,
    steps=(
        Step(
            "get",
            "result.get(timeout=1.0)",
            ("after", 0.3),
            lambda r: outcome_of(lambda: get_now(r, timeout=1.0)),
        ),
        Step(
            "remove", "(the lab deletes the message from lab-unconsumed)", ("after", 0.3), remove_the_message
        ),
    ),
    predictions=(READY_FALSE, get_prediction("result.get(timeout=1.0)", RAISES_TIMEOUT)),
)


# A countdown -----------------------------------------------------------------------------

COUNTDOWN = Experiment(
    id="countdown",
    title="A countdown, then success",
    summary="add.apply_async((x, y), countdown=N): the worker receives it at once and holds it until "
    "N seconds have passed; the client asks ready() half a second after the send.",
    task=tasks.add,
    form=forms.CountdownForm,
    lane1=("PENDING", "SUCCESS"),
    lane2=("published", "received", "started", "succeeded"),
    lesson="A task waiting for its countdown (or ETA) reads PENDING and ready() is False, like a "
    "queued one; nothing is stored until it runs. The worker received it at once and keeps it in "
    "memory until it is due: on Redis the message stays unacknowledged (the unacked hash) all "
    "that time, which is why a countdown longer than the broker's visibility_timeout (one hour by "
    "default) gets the task delivered, and run, more than once.",
    client_code=observe(
        "add.apply_async((x, y), countdown=countdown)",
        "result.ready()  # half a second after the send",
    ),
    steps=(Step("ready-early", "result.ready()", ("after", 0.5), returned(lambda r: r.ready())),),
    predictions=(
        Prediction(
            "ready-early",
            "What will result.ready() do half a second after the send?",
            ("returns True", "returns False"),
            "returns False",
        ),
        READY_TRUE,
    ),
)


# A chain whose first task fails -----------------------------------------------------------


def send_failing_chain(run, args, kwargs, options):
    """fail → add: the run's task is the chain's last one, the result the client holds."""
    (first,) = new_ids(1)
    label_tasks(run, {first: "first: fail", run.task_id: "second: add"})
    return chain(
        tasks.fail.s(*args, **kwargs).set(task_id=first), tasks.add.si(2, 3).set(task_id=run.task_id)
    ).apply_async()


def chain_handle(run):
    return app.AsyncResult(run.task_id, parent=app.AsyncResult(run.related_ids[0]))


CHAIN_FAILURE = Experiment(
    id="chain-failure",
    title="A chain whose first task fails",
    summary="chain(fail.s(...), add.si(2, 3)): the first task raises; the client holds the chain's "
    "result (the last task's) and calls get() on it and on its parent.",
    task=tasks.fail,
    form=forms.FailureForm,
    lane1=("PENDING", "FAILURE"),
    lane2=(),
    lesson="The second task is never sent (“What the worker did” has no row for it), yet its result reads "
    "FAILURE: the worker that ran the failed task stores the same exception for every task "
    "chained after it (Backend._fail_chain, celery/backends/base.py). So get() on the chain's "
    "result raises the first task's exception, and so does result.parent.get(): get() checks "
    "the parents first (AsyncResult._maybe_reraise_parent_error).",
    client_code=(
        "from celery import chain\nfrom config.celery import app\n\n"
        "result = chain(fail.s('raised on purpose', seconds=seconds, exception=name), add.si(2, 3))()\n"
        "result.state, result.info, result.ready(), result.successful(), result.failed()  # the last task's\n"
        "result.get()\nresult.parent.get()  # the first task's\n"
    ),
    send=send_failing_chain,
    handle=chain_handle,
    last_word_of=lambda run: run.related_ids,
    steps=(
        Step("get", "result.get()", ("state", "FAILURE"), lambda r: outcome_of(lambda: get_now(r))),
        Step(
            "parent-get",
            "result.parent.get()",
            ("state", "FAILURE"),
            lambda r: outcome_of(lambda: get_now(r.parent)),
        ),
    ),
    predictions=(
        READY_TRUE,
        get_prediction("result.get()", RAISES_TASK_ERROR),
        get_prediction("result.parent.get()", RAISES_TASK_ERROR, key="parent-get"),
    ),
)

CHAIN_LANE2 = {"first: fail": ("published", "received", "started", "failed"), "second: add": ()}


# A chord whose header has a failing task --------------------------------------------------


def send_failing_chord(run, args, kwargs, options):
    """`count` header tasks, the last of which fails, then total(): the run's task is the body."""
    count, seconds = args
    header_ids = new_ids(count)
    header = [tasks.add.s(n, n, seconds=seconds).set(task_id=i) for n, i in enumerate(header_ids[:-1])]
    header.append(tasks.fail.s("raised on purpose", seconds=seconds).set(task_id=header_ids[-1]))
    labels = {task_id: f"header {n + 1}" for n, task_id in enumerate(header_ids)}
    label_tasks(run, {**labels, run.task_id: "body: total"})
    callback = chord(group(header), tasks.total.s().set(task_id=run.task_id)).apply_async()
    run.params = {**run.params, "group_id": callback.parent.id}
    return callback


def chord_handle(run):
    header = [app.AsyncResult(task_id) for task_id in run.related_ids]
    return app.AsyncResult(run.task_id, parent=app.GroupResult(run.params["group_id"], header))


CHORD_FAILURE = Experiment(
    id="chord-failure",
    title="A chord whose header has a failing task",
    summary="chord(group of add tasks and one fail task, total.s()): the header's last task raises. "
    "The client calls get() on the chord's result, and on one rebuilt from its id.",
    task=tasks.total,
    form=forms.ChordForm,
    lane1=("PENDING", "FAILURE"),
    lane2=(),
    lesson="The body never runs (“What the worker did” has no row for it): once the header is "
    "done, the worker that finished it stores FAILURE for the body with a ChordError that names the failure "
    "(celery/backends/base.py chord_error_from_stack; on Redis its text names the failed task's "
    "id, on django-db only its exception). The result the chord call returned has the header "
    "as parent, so its get() raises the header task's own exception first; a result rebuilt "
    "from the id has no parent and raises the ChordError. The header's other tasks ran and "
    "succeeded.",
    client_code=(
        "from celery import chord, group\nfrom config.celery import app\n\n"
        "header = group([add.s(n, n, seconds=seconds) for n in range(count - 1)]\n"
        "               + [fail.s('raised on purpose', seconds=seconds)])\n"
        "result = chord(header)(total.s())\n"
        "result.state, result.info, result.ready(), result.successful(), result.failed()\n"
        "result.get()  # the result the chord call returned\n"
        "app.AsyncResult(result.id).get()  # one rebuilt from the id\n"
    ),
    send=send_failing_chord,
    handle=chord_handle,
    last_word_of=lambda run: run.related_ids,
    steps=(
        Step("get", "result.get()", ("state", "FAILURE"), lambda r: outcome_of(lambda: get_now(r))),
        Step(
            "get-rebuilt",
            "app.AsyncResult(result.id).get()",
            ("state", "FAILURE"),
            lambda r: outcome_of(lambda: get_now(app.AsyncResult(r.id))),
        ),
    ),
    predictions=(
        Prediction("get", "What will result.get() do?", CHORD_GET_OUTCOMES, RAISES_TASK_ERROR),
        Prediction(
            "get-rebuilt",
            "What will app.AsyncResult(result.id).get() do?",
            CHORD_GET_OUTCOMES,
            RAISES_CHORD_ERROR,
        ),
    ),
)


def chord_lane2(count: int) -> dict[str, tuple]:
    succeeded = ("published", "received", "started", "succeeded")
    lanes = {f"header {n + 1}": succeeded for n in range(count - 1)}
    return {**lanes, f"header {count}": ("published", "received", "started", "failed"), "body: total": ()}


# A group with a failing member, and GroupResult.save()/restore() ---------------------------


def send_group(run, args, kwargs, options, *, failing: bool):
    """`count` add tasks in a group, the last of them a fail task when `failing`. The run's task
    (lane 1) is the group's last member; the client holds the GroupResult."""
    count, seconds = args
    member_ids = [*new_ids(count - 1), run.task_id]
    members = [tasks.add.s(n, n, seconds=seconds).set(task_id=i) for n, i in enumerate(member_ids[:-1])]
    last = (
        tasks.fail.s("raised on purpose", seconds=seconds) if failing else tasks.add.s(9, 9, seconds=seconds)
    )
    members.append(last.set(task_id=run.task_id))
    label_tasks(run, {task_id: f"member {n + 1}" for n, task_id in enumerate(member_ids)})
    sent = group(members).apply_async()
    run.params = {**run.params, "group_id": sent.id}
    return sent


def group_handle(run):
    members = [app.AsyncResult(task_id) for task_id in [*run.related_ids, run.task_id]]
    return app.GroupResult(run.params["group_id"], members)


def every_member(run):
    return [*run.related_ids, run.task_id]


GROUP_FAILURE = Experiment(
    id="group-failure",
    title="A group with a failing member",
    summary="group(add tasks, and one fail task last): every member runs. The client calls "
    "get(propagate=False) and get() on the GroupResult; “What your code sees” follows the failing member.",
    task=tasks.fail,
    form=forms.ChordForm,
    lane1=("PENDING", "FAILURE"),
    lane2=("published", "received", "started", "failed"),
    lesson="A failing member stops nothing: the others run and succeed. get(propagate=False) "
    "returns one entry per member, in order, the exception instance in place of the failed "
    "member's value; get() raises that exception. ready() is True once every member is ready, "
    "failed() is True because one failed, successful() is False, and completed_count() counts "
    "only the successes.",
    client_code=(
        "from celery import group\n\n"
        "result = group([add.s(n, n, seconds=seconds) for n in range(count - 1)]\n"
        "               + [fail.s('raised on purpose', seconds=seconds)])()  # a GroupResult\n"
        "result.get(propagate=False)  # once every member is ready\n"
        "result.get()\n"
        "result.ready(), result.successful(), result.failed(), result.completed_count()\n"
    ),
    send=lambda run, args, kwargs, options: send_group(run, args, kwargs, options, failing=True),
    handle=group_handle,
    last_word_of=every_member,
    steps=(
        Step(
            "get-propagate-false",
            "result.get(propagate=False)",
            ("state", "FAILURE"),
            lambda g: outcome_of(lambda: get_now(g, propagate=False)),
        ),
        Step("get", "result.get()", ("state", "FAILURE"), lambda g: outcome_of(lambda: get_now(g))),
        Step(
            "counts",
            "result.ready(), result.successful(), result.failed(), result.completed_count()",
            ("state", "FAILURE"),
            lambda g: outcome_of(lambda: (g.ready(), g.successful(), g.failed(), g.completed_count())),
        ),
    ),
    predictions=(
        get_prediction("result.get(propagate=False)", RETURNS, key="get-propagate-false"),
        get_prediction("result.get()", RAISES_TASK_ERROR),
    ),
)


class RestoredGroup:
    """A restored group as a call's outcome says it ("returns the GroupResult": a LabCall's
    outcome holds 40 characters) and its detail shows it (its id and how many members)."""

    def __init__(self, group):
        self.group = group

    def __str__(self) -> str:
        return "the GroupResult"

    def __repr__(self) -> str:
        return f"GroupResult({self.group.id}) of {len(self.group.results)} results"


def restored(g):
    """What GroupResult.restore(id) gave: None, or the saved group with its members' ids."""
    found = app.GroupResult.restore(g.id)
    return None if found is None else RestoredGroup(found)


GROUP_SAVE_RESTORE = Experiment(
    id="group-save-restore",
    title="GroupResult.save() and restore()",
    summary="A group of add tasks; the client calls GroupResult.restore(id) before and after result.save().",
    task=tasks.add,
    form=forms.ChordForm,
    lane1=("PENDING", "SUCCESS"),
    lane2=("published", "received", "started", "succeeded"),
    lesson="A group's id is not a task id, and running a group stores nothing under it: only "
    "save() stores the list of its members' ids, under the group's id (a django_celery_results "
    "GroupResult row, or a celery-taskset-meta key on Redis; both backends support it). Before "
    "that, restore(id) returns None; after it, a GroupResult with the same members, which "
    "another request can rebuild from the id alone.",
    client_code=(
        "from celery import group\nfrom config.celery import app\n\n"
        "result = group(add.s(n, n, seconds=seconds) for n in range(count))()\n"
        "app.GroupResult.restore(result.id)  # right away\n"
        "result.save()\n"
        "app.GroupResult.restore(result.id)\n"
    ),
    send=lambda run, args, kwargs, options: send_group(run, args, kwargs, options, failing=False),
    handle=group_handle,
    last_word_of=every_member,
    steps=(
        Step("restore-before", "app.GroupResult.restore(result.id)", ("after", 0.0), returned(restored)),
        Step("save", "result.save()", ("after", 0.0), lambda g: outcome_of(g.save)),
        Step("restore-after", "app.GroupResult.restore(result.id)", ("after", 0.0), returned(restored)),
    ),
    predictions=(
        Prediction(
            "restore-before",
            "What will GroupResult.restore(result.id) do before save()?",
            ("returns None", "returns the GroupResult", "raises an error"),
            "returns None",
        ),
    ),
)


# An error callback ---------------------------------------------------------------------------


def send_with_error_callback(run, args, kwargs, options):
    (errback_id,) = new_ids(1)
    label_tasks(run, {run.task_id: "fail", errback_id: "error callback"})
    errback = tasks.report_failure.s().set(task_id=errback_id)
    return tasks.fail.apply_async(args, kwargs, task_id=run.task_id, link_error=errback)


def errback_handle(run):
    return app.AsyncResult(run.task_id), app.AsyncResult(run.related_ids[0])


ERROR_CALLBACK = Experiment(
    id="error-callback",
    title="An error callback (link_error)",
    summary="fail.apply_async(..., link_error=report_failure.s()): when the task fails, the worker "
    "calls the error callback. The client asks the callback's own result.",
    task=tasks.report_failure,
    form=forms.FailureForm,
    lane1=("PENDING", "FAILURE"),
    lane2=("published", "received", "started", "failed"),
    lesson="The task's own result is FAILURE as ever; the error callback changes nothing about "
    "it. A callback that takes one argument is sent by the failing task's worker as a task of "
    "its own, with the failed task's id (“What the worker did”: published by the worker, then "
    "run), and has a result of its own. One that takes (request, exc, traceback) is called in place, inside "
    "the failing worker process: no message, no result (Backend._call_task_errbacks, "
    "celery/backends/base.py). sig.on_error(errback) is the same as link_error.",
    client_code=(
        "import uuid\n\nfrom config.celery import app\n\n"
        "errback = report_failure.s().set(task_id=str(uuid.uuid4()))\n"
        "result = fail.apply_async(('raised on purpose',), link_error=errback)\n"
        "result.state, result.info, result.ready(), result.successful(), result.failed()\n"
        "app.AsyncResult(errback.id).get(timeout=5.0)  # once the task failed\n"
    ),
    send=send_with_error_callback,
    handle=errback_handle,
    last_word_of=lambda run: [run.task_id, *run.related_ids],
    steps=(
        Step(
            "errback-get",
            "app.AsyncResult(errback.id).get(timeout=5.0)",
            ("state", "FAILURE"),
            lambda handles: outcome_of(lambda: get_now(handles[1], timeout=5.0)),
        ),
    ),
    predictions=(
        READY_TRUE,
        get_prediction("app.AsyncResult(errback.id).get(timeout=5.0)", RETURNS, key="errback-get"),
    ),
)

ERROR_CALLBACK_LANE2 = {
    "fail": ("published", "received", "started", "failed"),
    "error callback": ("published", "received", "started", "succeeded"),
}


HARD_CASES = [
    NO_WORKER,
    COUNTDOWN,
    CHAIN_FAILURE,
    CHORD_FAILURE,
    GROUP_FAILURE,
    GROUP_SAVE_RESTORE,
    ERROR_CALLBACK,
]
EXPERIMENTS.update((experiment.id, experiment) for experiment in HARD_CASES)
