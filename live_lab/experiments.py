"""The lab's catalog: each experiment is a real task, bounded parameters, and what it shows.

`lane1` is what app.AsyncResult(id) reports, state by state; `lane2` what the worker itself
does. Tests (tests/live_lab/test_experiments.py) fire every experiment at a real worker in
both run modes and assert these sequences: they are the executable proof of the content.
"""

import inspect
from dataclasses import dataclass

from live_lab import forms, tasks


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

    @property
    def task_source(self) -> str:
        return inspect.getsource(self.task.run)


OBSERVE = """\
from config.celery import app

sent = {call}
result = app.AsyncResult(sent.id)  # what the run page polls, every 20 ms
result.state, result.info, result.ready(), result.successful()
"""

EXPERIMENTS = {
    experiment.id: experiment
    for experiment in [
        Experiment(
            id="success",
            title="A task that succeeds",
            summary="A small computation: PENDING while queued and running, then SUCCESS and its value.",
            task=tasks.add,
            form=forms.SuccessForm,
            lane1=("PENDING", "SUCCESS"),
            lane2=("published", "received", "started", "succeeded"),
            lesson="The backend only learns of the task when it ends: while the worker runs it, "
            "AsyncResult still says PENDING.",
            client_code=OBSERVE.format(call="add.delay(x, y, seconds=seconds)"),
        ),
        Experiment(
            id="failure",
            title="A task that fails",
            summary="It raises the exception you pick: FAILURE, ready() is True, successful() is False.",
            task=tasks.fail,
            form=forms.FailureForm,
            lane1=("PENDING", "FAILURE"),
            lane2=("published", "received", "started", "failed"),
            lesson="ready() is True for FAILURE too; .info holds the exception instance, and get() "
            "would re-raise it.",
            client_code=OBSERVE.format(
                call='fail.delay("raised on purpose", seconds=seconds, exception=name)'
            ),
        ),
        Experiment(
            id="slow-untracked",
            title="A slow task, track_started off",
            summary="The worker runs it for a few seconds, yet AsyncResult reads PENDING until it ends.",
            task=tasks.slow,
            form=forms.SleepForm,
            lane1=("PENDING", "SUCCESS"),
            lane2=("published", "received", "started", "succeeded"),
            lesson="Without track_started nothing is stored when the task starts: a running task "
            "reads PENDING, exactly like a queued one or an unknown id.",
            client_code=OBSERVE.format(call="slow.delay(seconds)"),
        ),
        Experiment(
            id="slow-tracked",
            title="The same slow task, track_started on",
            summary="With track_started=True the worker stores STARTED (with its pid and hostname) first.",
            task=tasks.slow_tracked,
            form=forms.SleepForm,
            lane1=("PENDING", "STARTED", "SUCCESS"),
            lane2=("published", "received", "started", "succeeded"),
            lesson="STARTED comes from the worker, because of track_started, not from update_state; "
            ".info is {'pid': ..., 'hostname': ...} meanwhile.",
            client_code=OBSERVE.format(call="slow_tracked.delay(seconds)"),
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
            client_code=OBSERVE.format(call="progress.delay(steps, step_seconds)"),
        ),
    ]
}


def get_experiment(experiment_id: str) -> Experiment | None:
    return EXPERIMENTS.get(experiment_id)
