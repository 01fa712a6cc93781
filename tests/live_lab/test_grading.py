"""The run page's words and keys: how it words each graded prediction ("ready(): you predicted
“False”; it returned True.", and for an answer that is not a verb "it was “twice”", never "it
twice"), and the keys its screen-reader log says each line once by."""

from live_lab.grading import GradedPrediction
from live_lab.models import LabBrokerReading
from live_lab.queries import timeline_of


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


def test_a_broker_reading_keeps_its_log_key_from_its_push_to_its_store():
    """The run page says each line once by its key: a lane-3 reading is pushed before it is
    stored (no pk yet) and again after, and must not be said twice (a CI run said it twice)."""
    reading = LabBrokerReading(task_id="t1", after_ms=27.0, where="queued", detail="in the queue")
    reading.task_label, reading.place = "", "in the queue"  # set by the lanes query
    before = [moment.key for moment in timeline_of([], [], [], [reading])]
    reading.pk = 41
    assert [moment.key for moment in timeline_of([], [], [], [reading])] == before
