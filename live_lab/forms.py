"""Every lab input: an experiment's parameters (bounded) and the learner's prediction."""

from django import forms

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

    def __init__(self, *args, predictions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.predictions = predictions
        for prediction in predictions:
            self.fields[f"predict_{prediction.key}"] = forms.ChoiceField(
                label=prediction.question,
                choices=[("", "choose…")] + [(choice, choice) for choice in prediction.choices],
            )

    def predicted(self) -> dict[str, str]:
        """The extra predictions, by key."""
        return {p.key: self.cleaned_data[f"predict_{p.key}"] for p in self.predictions}

    def send_options(self) -> dict:
        """Options for apply_async beyond the arguments (countdown, expires)."""
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
    idempotent = forms.BooleanField(
        label="Idempotent task",
        required=False,
        help_text="The task applies its effect under a unique key: a second run adds nothing.",
    )
    prefetch_multiplier = forms.TypedChoiceField(
        label="worker_prefetch_multiplier", choices=[(1, "1"), (4, "4 (default)")], coerce=int, initial=4
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
