"""Every lab input: an experiment's parameters (bounded) and the learner's prediction."""

import dataclasses

from django import forms
from django.conf import settings

from live_lab.sandbox_config import POOLS, SandboxConfig
from live_lab.tasks import FAILURES

PREDICTABLE_STATES = ["PENDING", "STARTED", "PROGRESS", "RETRY", "SUCCESS", "FAILURE", "REVOKED"]


class PredictionMixin(forms.Form):
    """The state sequence the learner predicts, plus the experiment's extra predictions
    (`predict_<key>` choice fields, built from its Prediction list)."""

    prediction = forms.CharField(
        label="Your prediction: the states AsyncResult will report, in order",
        help_text="Comma-separated, for example: PENDING, SUCCESS",
        max_length=200,
    )

    def __init__(self, *args, predictions=(), sandbox=None, **kwargs):
        """`sandbox`: the experiment's SandboxSpec; its choosable settings become fields."""
        super().__init__(*args, **kwargs)
        self.predictions = predictions
        self.sandbox = sandbox
        for name in self.sandbox_fields():
            self.fields[f"sandbox_{name}"] = sandbox_field(name, getattr(sandbox.defaults, name))
        for prediction in predictions:
            self.fields[f"predict_{prediction.key}"] = forms.ChoiceField(
                label=prediction.question,
                choices=[("", "choose…")] + [(choice, choice) for choice in prediction.choices],
            )

    def sandbox_fields(self) -> list[str]:
        """The sandbox settings the learner chooses here: visibility_timeout only on Redis,
        since the filesystem broker has none (it would change nothing)."""
        if self.sandbox is None:
            return []
        return [
            name
            for name in self.sandbox.choosable
            if name != "visibility_timeout" or settings.RUN_MODE == "redis"
        ]

    def sandbox_config(self) -> SandboxConfig | None:
        """The sandbox worker's configuration: the experiment's defaults, with the learner's choices."""
        if self.sandbox is None:
            return None
        chosen = {name: self.cleaned_data[f"sandbox_{name}"] for name in self.sandbox_fields()}
        return dataclasses.replace(self.sandbox.defaults, **chosen)

    def clean(self):
        data = super().clean()
        if self.sandbox is not None and not any(f"sandbox_{n}" in self.errors for n in self.sandbox_fields()):
            try:
                self.sandbox_config()
            except ValueError as error:  # the fields' bounds are SandboxConfig's: a bug if reached
                self.add_error(None, f"That sandbox configuration cannot run: {error}.")
        return data

    def predicted(self) -> dict[str, str]:
        """The extra predictions, by key."""
        return {p.key: self.cleaned_data[f"predict_{p.key}"] for p in self.predictions}

    def send_options(self) -> dict:
        """Options for apply_async beyond the arguments (countdown, expires)."""
        return {}

    def script_params(self) -> dict:
        """Values for a sandbox experiment's script (when to kill the worker), not the task's."""
        return {}

    def clean_prediction(self):
        states = [part.strip().upper() for part in self.cleaned_data["prediction"].split(",") if part.strip()]
        unknown = [state for state in states if state not in PREDICTABLE_STATES]
        if unknown:
            raise forms.ValidationError(
                f"Unknown state {unknown[0]!r}: choose from " + ", ".join(PREDICTABLE_STATES) + "."
            )
        if not states:
            raise forms.ValidationError("Name at least one state.")
        return states


SANDBOX_LABELS = {
    "acks_late": "task_acks_late: acknowledge the message after the task ran, not before",
    "reject_on_worker_lost": (
        "task_reject_on_worker_lost: requeue the message when the process running it dies"
    ),
    "retry_on_worker_lost": (
        "task_retry_on_worker_lost: send the task again, as retry() would, when the process running it dies"
    ),
    "default_retry_delay": "default_retry_delay (seconds before a retry runs; Celery's default is 180)",
    "max_retries": "max_retries (retries allowed; then the task fails)",
    "track_started": "task_track_started: store STARTED when the task starts",
    "result_expires": "result_expires (seconds a result is kept)",
    "visibility_timeout": (
        "visibility_timeout (seconds before Redis hands an unacknowledged message out again)"
    ),
    "prefetch_multiplier": "worker_prefetch_multiplier (messages reserved ahead, per pool process)",
    "pool": "Worker pool",
}
# Bounds of the whole-number settings: SandboxConfig's own, but a visibility timeout of at
# least 2 s (below that, Redis hands out a running task's message again before it can start).
SANDBOX_BOUNDS = {
    "result_expires": (1, 86_400),
    # A few seconds: the run waits for the retry (at most LONGEST_WAIT, live_lab/sandbox_runs.py).
    "default_retry_delay": (1, 10),
    "max_retries": (0, 5),
    "visibility_timeout": (2, 3_600),
    "prefetch_multiplier": (1, 8),
}


def sandbox_field(name: str, default) -> forms.Field:
    """The form field for one SandboxConfig setting, starting at the experiment's default."""
    label = SANDBOX_LABELS[name]
    if isinstance(default, bool):
        return forms.BooleanField(label=label, initial=default, required=False)
    if name == "pool":
        return forms.ChoiceField(label=label, choices=[(pool, pool) for pool in POOLS], initial=default)
    low, high = SANDBOX_BOUNDS[name]
    return forms.IntegerField(label=label, initial=default, min_value=low, max_value=high)


def seconds_field(
    default: float, *, minimum: float = 0.0, maximum: float = 30.0, label="Seconds the task sleeps"
):
    return forms.FloatField(label=label, initial=default, min_value=minimum, max_value=maximum)


class SuccessForm(PredictionMixin):
    x = forms.IntegerField(initial=2, min_value=-1000, max_value=1000)
    y = forms.IntegerField(initial=3, min_value=-1000, max_value=1000)
    seconds = seconds_field(1.0, maximum=10.0)

    def task_arguments(self) -> tuple[tuple, dict]:
        data = self.cleaned_data
        return (data["x"], data["y"]), {"seconds": data["seconds"]}


class FailureForm(PredictionMixin):
    exception = forms.ChoiceField(choices=[(name, name) for name in FAILURES], initial="LabError")
    seconds = seconds_field(1.0, maximum=10.0)

    def task_arguments(self) -> tuple[tuple, dict]:
        data = self.cleaned_data
        return ("raised on purpose",), {"seconds": data["seconds"], "exception": data["exception"]}


class SleepForm(PredictionMixin):
    seconds = seconds_field(2.0, minimum=0.5)

    def task_arguments(self) -> tuple[tuple, dict]:
        return (self.cleaned_data["seconds"],), {}


class ProgressForm(PredictionMixin):
    steps = forms.IntegerField(initial=5, min_value=1, max_value=20)
    step_seconds = forms.FloatField(label="Seconds per step", initial=0.5, min_value=0.1, max_value=1.5)

    def task_arguments(self) -> tuple[tuple, dict]:
        return (self.cleaned_data["steps"], self.cleaned_data["step_seconds"]), {}


class RetryForm(PredictionMixin):
    failures = forms.IntegerField(label="Attempts that fail", initial=2, min_value=0, max_value=5)
    max_retries = forms.IntegerField(initial=3, min_value=0, max_value=5)
    countdown = forms.FloatField(label="Seconds between attempts", initial=0.5, min_value=0.2, max_value=3)

    def task_arguments(self) -> tuple[tuple, dict]:
        data = self.cleaned_data
        return (data["failures"], data["max_retries"], data["countdown"]), {}


class RevokeQueuedForm(PredictionMixin):
    countdown = forms.FloatField(
        label="countdown: seconds before it may start (it is revoked after 1 s)",
        initial=4.0,
        min_value=3.0,
        max_value=10.0,
    )

    def task_arguments(self) -> tuple[tuple, dict]:
        return (2, 3), {}

    def send_options(self) -> dict:
        return {"countdown": self.cleaned_data["countdown"]}


class NumbersForm(PredictionMixin):
    x = forms.IntegerField(initial=2, min_value=-1000, max_value=1000)
    y = forms.IntegerField(initial=3, min_value=-1000, max_value=1000)

    def task_arguments(self) -> tuple[tuple, dict]:
        return (self.cleaned_data["x"], self.cleaned_data["y"]), {}


IgnoredForm = NumbersForm
ForgetForm = NumbersForm


class GetTimeoutForm(PredictionMixin):
    seconds = seconds_field(2.5, minimum=2.0, maximum=10.0)

    def task_arguments(self) -> tuple[tuple, dict]:
        return (self.cleaned_data["seconds"],), {}


class ExpiresForm(PredictionMixin):
    countdown = forms.FloatField(label="countdown (seconds)", initial=3.0, min_value=1.0, max_value=10.0)
    expires = forms.FloatField(label="expires (seconds)", initial=1.0, min_value=0.5, max_value=9.0)

    def clean(self):
        data = super().clean()
        if "countdown" in data and "expires" in data and data["expires"] >= data["countdown"]:
            self.add_error(
                "expires", "Make expires shorter than countdown, so that it passes before the task may start."
            )
        return data

    def task_arguments(self) -> tuple[tuple, dict]:
        return (2, 3), {}

    def send_options(self) -> dict:
        return {"countdown": self.cleaned_data["countdown"], "expires": self.cleaned_data["expires"]}


class ChordForm(PredictionMixin):
    count = forms.IntegerField(label="Tasks in the group", initial=4, min_value=2, max_value=10)
    seconds = seconds_field(0.5, maximum=3.0, label="Seconds each header task sleeps")

    def task_arguments(self) -> tuple[tuple, dict]:
        return (self.cleaned_data["count"], self.cleaned_data["seconds"]), {}


class KillMidTaskForm(PredictionMixin):
    """A task that runs for `seconds`; the sandbox's script kills it `kill_after` s after it started."""

    seconds = seconds_field(3.0, minimum=1.0, maximum=10.0, label="Seconds the task runs")
    kill_after = forms.FloatField(
        label="Kill it this many seconds after it started", initial=1.0, min_value=0.2, max_value=9.0
    )

    def clean(self):
        data = super().clean()
        if "seconds" in data and "kill_after" in data and data["kill_after"] > data["seconds"] - 0.5:
            self.add_error(
                "kill_after",
                f"Kill it at least half a second before it would end (at most {data['seconds'] - 0.5:g} s), "
                "or the task is done before the kill.",
            )
        return data

    def task_arguments(self) -> tuple[tuple, dict]:
        return (self.cleaned_data["seconds"],), {}

    def script_params(self) -> dict:
        return {"kill_after": self.cleaned_data["kill_after"]}


class CountdownOnSandboxForm(PredictionMixin):
    countdown = forms.FloatField(
        label="countdown (seconds before it may start)", initial=6.0, min_value=1.0, max_value=12.0
    )

    def task_arguments(self) -> tuple[tuple, dict]:
        return (0.5,), {}

    def send_options(self) -> dict:
        return {"countdown": self.cleaned_data["countdown"]}


class ResultExpiryForm(NumbersForm):
    """x + y on a sandbox worker whose result_expires the learner chooses, a few seconds: the
    script waits that long after SUCCESS (plus one second) before it reads the result again."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "sandbox_result_expires" in self.fields:
            low, high = RESULT_EXPIRY_BOUNDS
            self.fields["sandbox_result_expires"] = forms.IntegerField(
                label=SANDBOX_LABELS["result_expires"],
                initial=self.sandbox.defaults.result_expires,
                min_value=low,
                max_value=high,
                help_text=f"From {low} to {high} s here: the run waits that long for the result to expire.",
            )


# A result kept a day would hold the sandbox (and the learner) past its lifetime.
RESULT_EXPIRY_BOUNDS = (2, 20)


class CountdownForm(NumbersForm):
    countdown = forms.FloatField(label="countdown (seconds)", initial=2.0, min_value=1.5, max_value=10.0)

    def send_options(self) -> dict:
        return {"countdown": self.cleaned_data["countdown"]}


class ChallengeForm(forms.Form):
    """The configuration a learner chooses for a challenge, and the size of the batch. Only
    the challenge's own options are kept (Challenge.options)."""

    acks_late = forms.BooleanField(
        label="task_acks_late", required=False, help_text="Acknowledge each message after its task returns."
    )
    reject_on_worker_lost = forms.BooleanField(
        label="task_reject_on_worker_lost",
        required=False,
        help_text="With acks_late: give the message back when the process running it dies.",
    )
    retry_on_worker_lost = forms.BooleanField(
        label="task_retry_on_worker_lost",
        required=False,
        help_text="Celery 5.7: send the task again, as retry() would, when the process running it dies.",
    )
    default_retry_delay = forms.TypedChoiceField(
        label="default_retry_delay (seconds)",
        choices=[(2, "2"), (180, "180 (default)")],
        coerce=int,
        initial=180,
        help_text="How long a retry waits before it runs.",
    )
    idempotent = forms.BooleanField(
        label="Idempotent task",
        required=False,
        help_text="The task applies its effect under a unique key: a second run adds nothing.",
    )
    prefetch_multiplier = forms.TypedChoiceField(
        label="worker_prefetch_multiplier",
        choices=[(1, "1"), (4, "4 (default)")],
        coerce=int,
        initial=4,
        help_text="How many messages the worker reserves ahead, per pool process: fetched, not yet "
        "acknowledged.",
    )
    visibility_timeout = forms.TypedChoiceField(
        label="visibility_timeout (Redis broker, seconds)",
        choices=[(10, "10"), (60, "60"), (3600, "3600 (default)")],
        coerce=int,
        initial=3600,
    )
    size = forms.IntegerField(
        label="Tasks in the batch", min_value=4, max_value=20, initial=10, help_text="From 4 to 20."
    )

    def __init__(self, *args, challenge, **kwargs):
        super().__init__(*args, **kwargs)
        for name in list(self.fields):
            if name != "size" and name not in challenge.options:
                del self.fields[name]

    def choices(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if name != "size"}
