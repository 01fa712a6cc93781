"""How the run page words each graded prediction: "ready(): you predicted “False”; it returned True."
and, for an answer that is not a verb, "…; it was “twice”." (never "it twice")."""

from live_lab.grading import GradedPrediction


def test_each_kind_of_answer_reads_as_a_sentence_after_it():
    sentences = {
        GradedPrediction("ready()", "False", "True"): "returned True",
        GradedPrediction("result.get(timeout=1.0)", "returns", "raises TimeoutError"): "raises TimeoutError",
        GradedPrediction("app.AsyncResult(sent.id).state", "reads PENDING", "reads SUCCESS"): "reads SUCCESS",
        GradedPrediction("how many times the task started", "3 times", "twice"): "was “twice”",
        GradedPrediction("result.info", "str", "WorkerLostError"): "was “WorkerLostError”",
        GradedPrediction("result.get()", "returns", None): "was never called",
    }
    assert {graded: graded.outcome for graded in sentences} == sentences
