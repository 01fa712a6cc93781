"""Grading a finished run's prediction against what lane 1 and the client calls recorded."""

from dataclasses import dataclass

from live_lab.models import LabRun


def observed_states(run: LabRun, *, observations: list | None = None) -> list[str]:
    """Lane 1's state sequence, one entry per change of state; from the run's `observations`
    (in order) when they are in hand, else one query."""
    if observations is None:
        sequence = run.observations.values_list("state", flat=True)
    else:
        sequence = [observation.state for observation in observations]
    states: list[str] = []
    for state in sequence:
        if not states or states[-1] != state:
            states.append(state)
    return states


@dataclass(frozen=True)
class GradedPrediction:
    code: str  # what was predicted about: ready(), or the client call's code
    predicted: str
    actual: str | None  # None: the call was never made

    @property
    def is_right(self) -> bool:
        return self.predicted == self.actual

    @property
    def outcome(self) -> str:
        """What really happened, said after "it": "returned True", "raises TimeoutError", or, for
        an answer that is not a verb ("twice", "WorkerLostError"), "was “twice”"."""
        if self.actual is None:
            return "was never called"
        if self.code in READING_PREDICTIONS.values():
            return f"returned {self.actual}"
        if self.actual.split(" ", 1)[0] in ANSWER_VERBS:
            return self.actual
        return f"was “{self.actual}”"


ANSWER_VERBS = {"returns", "raises", "reads", "blocks", "waits", "keeps", "is"}


READING_PREDICTIONS = {"ready": "ready()", "successful": "successful()"}


def graded_predictions(
    run: LabRun, *, observations: list | None = None, calls: list | None = None
) -> list[GradedPrediction]:
    """Each extra prediction against what happened: ready()/successful() on the last reading,
    anything else on the outcome of the client call with that key. The run's `observations`
    (in order) and `calls` are read unless in hand."""
    if not run.predicted_calls:
        return []
    in_hand = observations[-1] if observations else None
    last = run.observations.last() if observations is None else in_hand
    calls = {call.key: call for call in (run.calls.all() if calls is None else calls)}
    readings = {"ready": str(last.is_ready), "successful": str(last.is_successful)} if last else {}
    graded = []
    for key, predicted in run.predicted_calls.items():
        if key in READING_PREDICTIONS:
            graded.append(GradedPrediction(READING_PREDICTIONS[key], predicted, readings.get(key)))
        else:
            call = calls.get(key)
            graded.append(
                GradedPrediction(call.code if call else key, predicted, call.outcome if call else None)
            )
    return graded


def is_prediction_right(run: LabRun) -> bool:
    """The states in order, and every extra prediction."""
    states_right = run.prediction == observed_states(run)
    return states_right and all(graded.is_right for graded in graded_predictions(run))
