"""Issue 17's hard cases on the shared worker, fired at a real worker in both run modes: lane 1,
lane 2 of every task the run sent, lane 3 (what the broker held) and the graded predictions."""

import time

import pytest
from django.conf import settings

from live_lab.hard_cases import CHAIN_LANE2, ERROR_CALLBACK_LANE2, HARD_CASES, chord_lane2
from live_lab.models import LabEvent, LabRun
from tests.factories import make_learner
from tests.live_lab.runs import wait_until_over

HARD = {experiment.id: experiment for experiment in HARD_CASES}
PARAMS = {
    "no-worker": {"x": 2, "y": 3},
    "countdown": {"x": 2, "y": 3, "countdown": 1.5},
    "chain-failure": {"exception": "ValueError", "seconds": 0.2},
    "chord-failure": {"count": 3, "seconds": 0.2},
    "group-failure": {"count": 3, "seconds": 0.2},
    "group-save-restore": {"count": 2, "seconds": 0.2},
    "error-callback": {"exception": "KeyError", "seconds": 0.2},
}
SUCCEEDED = ("published", "received", "started", "succeeded")
FAILED = ("published", "received", "started", "failed")
# Lane 2 of each task the run sent, by its label; the run's own task is experiment.lane2.
OTHER_LANES = {
    "chain-failure": CHAIN_LANE2,
    "chord-failure": chord_lane2(3),
    "group-failure": {"member 1": SUCCEEDED, "member 2": SUCCEEDED, "member 3": FAILED},
    "group-save-restore": {"member 1": SUCCEEDED, "member 2": SUCCEEDED},
    "error-callback": ERROR_CALLBACK_LANE2,
}


def no_worker_lane3(run, readings):
    """The message sits in the queue nobody consumes until the lab deletes it."""
    queued, gone = readings
    assert (queued.where, gone.where) == ("queued", "gone")
    if settings.RUN_MODE == "redis":
        assert queued.detail == "in the Redis list 'lab-unconsumed'"
    else:
        assert queued.detail.startswith("the file queue/")
        assert queued.detail.endswith(".lab-unconsumed.msg")
    assert gone.after_ms - queued.after_ms >= 1000, "it sat there while get(timeout=1.0) waited"
    assert run.calls.get(key="remove").detail == "1"


def countdown_lane3(run, readings):
    """Redis holds a countdown task's message unacknowledged until it runs; the filesystem
    broker deletes the file as soon as the worker takes it."""
    started = LabEvent.objects.get(task_id=run.task_id, kind="started").at
    started_ms = (started - run.sent_at).total_seconds() * 1000
    wheres = [(r.where, r.after_ms) for r in readings]
    if settings.RUN_MODE == "redis":
        unacked = [ms for where, ms in wheres if where == "unacked"]
        gone = [ms for where, ms in wheres if where == "gone"]
        assert unacked, wheres
        assert unacked[0] < 1000, wheres
        assert gone[0] >= started_ms - 100, "acknowledged when the countdown ended, not before"
    else:
        assert "unacked" not in {where for where, _ in wheres}
        gone = readings[-1]
        assert gone.where == "gone"
        # Taken within the 50 ms between two looks, it is only noted gone when the run ends.
        if "before the lab's first look" not in gone.detail:
            assert gone.after_ms < started_ms - 500, "the file was deleted long before the task ran"


LANE3_DETAILS = {"no-worker": no_worker_lane3, "countdown": countdown_lane3}


def lane2_of(task_id: str, expected: int) -> tuple[str, ...]:
    """The task's lane 2; the worker's signal handlers write it, the last a moment after lane 1."""
    deadline = time.monotonic() + 5
    while LabEvent.objects.filter(task_id=task_id).count() < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return tuple(LabEvent.objects.filter(task_id=task_id).values_list("kind", flat=True))


def fire(client, experiment, **answers):
    predictions = {f"predict_{p.key}": p.answer for p in experiment.predictions}
    data = {**PARAMS[experiment.id], **predictions, **answers, "prediction": ", ".join(experiment.lane1)}
    return client.post(f"/lab/{experiment.id}/", data)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("experiment_id", sorted(HARD))
def test_each_hard_case_shows_three_lanes_and_grades_predictions(client, celery_worker, experiment_id):
    experiment = HARD[experiment_id]
    learner = make_learner()
    client.force_login(learner)

    fire(client, experiment)

    run = wait_until_over(LabRun.objects.get(owner=learner))
    calls = {call.key: (call.outcome, call.detail) for call in run.calls.all()}
    assert run.status == LabRun.Status.FINISHED, run.ending
    assert run.is_prediction_right is True, (run.prediction, run.predicted_calls, calls)
    states = [o.state for o in run.observations.all()]
    assert tuple(dict.fromkeys(states)) == experiment.lane1
    assert lane2_of(run.task_id, len(experiment.lane2)) == experiment.lane2
    labels = run.params.get("labels", {})
    for task_id, label in labels.items():
        if task_id != run.task_id:
            documented = OTHER_LANES[experiment_id][label]
            assert lane2_of(task_id, len(documented)) == documented, label
    # Lane 3: every message published is gone from the broker at the end; one never sent was never there.
    lane3 = {}
    for reading in run.broker_readings.all():
        lane3.setdefault(reading.task_id, []).append(reading.where)
    published = LabEvent.objects.filter(task_id__in=labels or [run.task_id], kind="published")
    published = set(published.values_list("task_id", flat=True))
    assert set(lane3) == published | ({run.task_id} if experiment.lane2 else set())
    assert all(wheres[-1] == "gone" for wheres in lane3.values()), lane3
    if experiment_id in LANE3_DETAILS:
        LANE3_DETAILS[experiment_id](run, list(run.broker_readings.all()))
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    assert "What the broker holds" in page
    assert "Your prediction was <strong>right</strong>" in page
