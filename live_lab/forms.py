"""Every lab input: an experiment's parameters (bounded) and the learner's prediction."""

from django import forms

from live_lab.tasks import FAILURES

PREDICTABLE_STATES = ["PENDING", "STARTED", "PROGRESS", "RETRY", "SUCCESS", "FAILURE", "REVOKED"]


class PredictionMixin(forms.Form):
    prediction = forms.CharField(
        label="Your prediction: the states AsyncResult will report, in order",
        help_text="Comma-separated, for example: PENDING, SUCCESS",
        max_length=200,
    )

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
