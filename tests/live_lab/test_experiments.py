"""Every lab experiment fired at a real worker: both lanes match what the catalog documents."""

import re
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import AsyncClient
from django.utils import timezone
from django.utils.html import escape

from live_lab.experiments import EXPERIMENTS
from live_lab.grading import graded_predictions
from live_lab.hard_cases import CHAIN_LANE2, ERROR_CALLBACK_LANE2, HARD_CASES, chord_lane2
from live_lab.models import LabCall, LabEvent, LabObservation, LabRun
from live_lab.services import MAX_UNFINISHED_RUNS
from tests.factories import make_learner
from tests.live_lab.runs import wait_until_over

PARAMS = {
    "success": {"x": 2, "y": 3, "seconds": 0.5},
    "failure": {"exception": "ValueError", "seconds": 0.5},
    "slow-untracked": {"seconds": 1},
    "slow-tracked": {"seconds": 1},
    "progress": {"steps": 3, "step_seconds": 0.3},
    "retry": {"failures": 2, "max_retries": 3, "countdown": 0.3},
    "revoke-queued": {"countdown": 3},
    "revoke-running": {"seconds": 1.5},
    "ignore-result": {"x": 2, "y": 3},
    "forget": {"x": 2, "y": 3},
    "get-timeout": {"seconds": 2},
    "expires": {"countdown": 2, "expires": 0.5},
    "early-success": {"seconds": 1},
    "group-chord": {"count": 3, "seconds": 0.3},
}

# Events that two processes report at the same moment may land in either order: a retry's
# "retried" (pool process) and the "received" of the message it published (main process).
# Within each attempt they are compared in the order the catalog documents.
DOCUMENTED_ORDER = {"published": 0, "retried": 1, "received": 2}


def in_documented_order(kinds: list[str]) -> tuple[str, ...]:
    attempts, current = [], []
    for kind in kinds:
        if kind in DOCUMENTED_ORDER:
            current.append(kind)
        else:
            attempts.extend(sorted(current, key=DOCUMENTED_ORDER.get))
            attempts.append(kind)
            current = []
    return tuple(attempts + sorted(current, key=DOCUMENTED_ORDER.get))


def page_of(client, run: LabRun) -> str:
    return client.get(f"/lab/runs/{run.pk}/").content.decode()


def predictions_of(experiment) -> dict:
    return {f"predict_{p.key}": p.answer for p in experiment.predictions}


def fire(client, experiment_id: str, prediction: str, **params):
    return client.post(
        f"/lab/{experiment_id}/", {**PARAMS.get(experiment_id, {}), **params, "prediction": prediction}
    )


def stream(client_user, url: str) -> str:
    async def read():
        client = AsyncClient()
        await client.aforce_login(client_user)
        response = await client.get(url)
        return "".join([chunk.decode() async for chunk in response.streaming_content])

    return async_to_sync(read)()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
# The hard cases, which send several tasks, are fired at the end of this module; those on a
# sandbox worker of their own in tests/live_lab/test_sandbox_experiments.py.
@pytest.mark.parametrize(
    "experiment_id",
    sorted(i for i, e in EXPERIMENTS.items() if e.sandbox is None and i not in {h.id for h in HARD_CASES}),
)
def test_each_experiment_shows_the_documented_lanes_on_a_real_worker(client, celery_worker, experiment_id):
    experiment = EXPERIMENTS[experiment_id]
    learner = make_learner()
    client.force_login(learner)

    response = fire(client, experiment_id, ", ".join(experiment.lane1), **predictions_of(experiment))

    run = wait_until_over(LabRun.objects.get(owner=learner))
    assert response["Location"] == f"/lab/runs/{run.pk}/"
    assert run.status == LabRun.Status.FINISHED
    assert [o.state for o in run.observations.all()][0] == "PENDING"
    states = []
    for observation in run.observations.all():
        if not states or states[-1] != observation.state:
            states.append(observation.state)
    assert tuple(states) == experiment.lane1
    # Lane 2 is written by the worker's own signal handlers; the last may land just after lane 1.
    deadline = time.monotonic() + 5
    while (
        LabEvent.objects.filter(task_id=run.task_id).count() < len(experiment.lane2)
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    kinds = list(LabEvent.objects.filter(task_id=run.task_id).values_list("kind", flat=True))
    assert in_documented_order(kinds) == experiment.lane2
    if experiment_id == "revoke-queued":  # over once the worker stored REVOKED, not at the countdown's end
        stored = LabEvent.objects.get(task_id=run.task_id, kind="revoked")
        assert "REVOKED" in stored.detail, stored.detail  # by the holder, or by another worker first
        assert (
            stored.at <= run.finished_at < run.sent_at + timedelta(seconds=PARAMS[experiment_id]["countdown"])
        )
    for header_id in run.related_ids:  # a chord's header tasks: each one runs once
        header = LabEvent.objects.filter(task_id=header_id).values_list("kind", flat=True)
        assert tuple(header) == ("published", "received", "started", "succeeded")
    assert run.is_prediction_right is True, (run.prediction, run.predicted_calls, list(run.calls.values()))
    if experiment.watches_group:  # the bar counts the header's successes, not a task's meta
        assert "Progress from <code>result.parent.completed_count()</code>" in page_of(client, run)
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    assert "Your prediction was <strong>right</strong>" in page
    events = stream(learner, f"/lab/runs/{run.pk}/events")
    assert events.startswith("event: lanes\n")
    assert events.rstrip().endswith("event: done\ndata: over")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_page_points_out_the_started_state_asyncresult_never_saw(client, celery_worker):
    learner = make_learner()
    client.force_login(learner)

    fire(client, "slow-untracked", "PENDING, STARTED, SUCCESS")

    run = wait_until_over(LabRun.objects.get(owner=learner))
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    assert run.is_prediction_right is False
    assert "Your prediction was <strong>wrong</strong>" in page
    assert "The worker reported “started”" in page
    assert "but AsyncResult never read STARTED" in page


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_progress_shows_the_meta_while_it_runs(client, celery_worker):
    learner = make_learner()
    client.force_login(learner)

    fire(client, "progress", "PENDING, PROGRESS, SUCCESS", steps=3, step_seconds=0.4)

    run = wait_until_over(LabRun.objects.get(owner=learner))
    progress = [o for o in run.observations.all() if o.state == "PROGRESS"]
    seen = [o.info for o in progress]
    # Steps 1 and 2 last 0.4 s each; step 3 is replaced by SUCCESS at once, so a poller may miss it.
    assert seen[:2] == ["{'current': 1, 'total': 3}", "{'current': 2, 'total': 3}"]
    assert not any(o.is_ready for o in progress), "a custom state is not a ready state"


@pytest.mark.django_db
def test_another_learner_gets_404_for_a_run_and_its_stream(client):
    owner, other = make_learner(), make_learner()
    run = LabRun.objects.create(
        owner=owner, experiment="success", task_id="a-task-id", prediction=["PENDING"]
    )
    client.force_login(other)

    assert client.get(f"/lab/runs/{run.pk}/").status_code == 404
    response = async_to_sync(AsyncClient().get)(f"/lab/runs/{run.pk}/events")
    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("experiment_id", "params", "error"),
    [
        ("slow-untracked", {"seconds": 31}, "Ensure this value is less than or equal to 30.0."),
        ("progress", {"steps": 50, "step_seconds": 0.3}, "Ensure this value is less than or equal to 20."),
        ("failure", {"exception": "SystemExit", "seconds": 1}, "Select a valid choice."),
        (
            "success",
            {"x": 2, "y": 3, "seconds": 1, "prediction": "RUNNING"},
            "Unknown state &#x27;RUNNING&#x27;",
        ),
    ],
)
def test_out_of_bounds_parameters_get_a_form_error_and_no_task_is_sent(client, experiment_id, params, error):
    client.force_login(make_learner())

    response = client.post(f"/lab/{experiment_id}/", {"prediction": "PENDING, SUCCESS", **params})

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not LabRun.objects.exists()
    assert not LabEvent.objects.exists(), "nothing was published"


@pytest.mark.django_db
def test_the_sixth_unfinished_run_is_refused_with_a_message(client):
    learner = make_learner()
    for n in range(MAX_UNFINISHED_RUNS):
        LabRun.objects.create(
            owner=learner, experiment="slow-untracked", task_id=f"task-{n}", prediction=["PENDING"]
        )
    client.force_login(learner)

    response = fire(client, "slow-untracked", "PENDING, SUCCESS")

    assert response.status_code == 200
    assert "You already have 5 runs that have not finished" in response.content.decode()
    assert LabRun.objects.count() == MAX_UNFINISHED_RUNS
    assert not LabEvent.objects.exists(), "nothing was published"


@pytest.mark.django_db
def test_a_run_that_waited_long_for_the_worker_still_counts_until_it_ends(client):
    learner = make_learner()
    for n in range(MAX_UNFINISHED_RUNS):
        LabRun.objects.create(
            owner=learner, experiment="slow-untracked", task_id=f"task-{n}", prediction=["PENDING"]
        )
    LabRun.objects.update(fired_at=timezone.now() - timedelta(minutes=5))
    client.force_login(learner)

    response = fire(client, "slow-untracked", "PENDING, SUCCESS")

    assert "You already have 5 runs that have not finished" in response.content.decode()
    assert LabRun.objects.count() == MAX_UNFINISHED_RUNS


@pytest.mark.django_db
def test_only_catalog_experiments_exist(client):
    client.force_login(make_learner())

    assert client.get("/lab/os-system/").status_code == 404
    assert client.post("/lab/os-system/", {"prediction": "PENDING"}).status_code == 404


@pytest.mark.django_db
def test_firing_needs_an_account(client):
    response = fire(client, "success", "PENDING, SUCCESS")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not LabRun.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_wrong_guess_about_get_makes_the_prediction_wrong_and_says_what_happened(client, celery_worker):
    learner = make_learner()
    client.force_login(learner)

    fire(client, "failure", "PENDING, FAILURE", predict_ready="True", predict_get="returns")

    run = wait_until_over(LabRun.objects.get(owner=learner))
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    assert run.is_prediction_right is False
    assert "Your prediction was <strong>wrong</strong>" in page
    assert "you predicted “returns”; it raises the task&#x27;s exception." in page
    assert "ValueError(&#x27;raised on purpose&#x27;)" in page
    # Lane 1's last row: ready() True, successful() False, failed() True.
    last_row = r"<code>FAILURE</code></td><td>.*?</td><td>True</td><td>False</td><td>True</td></tr>"
    assert re.search(last_row, page)
    assert "<th>failed()</th>" in page


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_ignore_result_grades_each_handle_against_what_its_get_did(client, celery_worker):
    """Celery's own test: the result delay() returned knows ignore_result and get() gives None at
    once; a result rebuilt from the id waits until its timeout."""
    learner = make_learner()
    client.force_login(learner)

    fire(client, "ignore-result", "PENDING", **{"predict_get-sent": "returns", "predict_get": "returns"})

    run = wait_until_over(LabRun.objects.get(owner=learner))
    calls = {call.key: call for call in run.calls.all()}
    assert (calls["get-sent"].outcome, calls["get-sent"].detail) == ("returns", "None")
    assert calls["get"].outcome == "raises TimeoutError"
    assert calls["get-sent"].after_ms < calls["get"].after_ms
    graded = {g.code: g.is_right for g in graded_predictions(run)}
    assert graded == {"sent.get(timeout=1.0)": True, "result.get(timeout=1.0)": False}
    page = page_of(client, run)
    assert "Your prediction was <strong>wrong</strong>" in page
    assert "you predicted “returns”; it raises TimeoutError." in page


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_more_failures_than_max_retries_ends_in_failure(client, celery_worker):
    learner = make_learner()
    client.force_login(learner)

    fire(client, "retry", "PENDING, RETRY, FAILURE", failures=3, max_retries=1, countdown=0.3)

    run = wait_until_over(LabRun.objects.get(owner=learner))
    assert run.is_prediction_right is True
    retries = [o.info for o in run.observations.all() if o.state == "RETRY"]
    assert retries[0] == "FlakyError('attempt 0 failed')", "RETRY's .info is the exception"
    assert run.observations.last().info == "FlakyError('attempt 1 failed')"


@pytest.mark.django_db
def test_expires_must_pass_before_the_countdown_ends(client):
    client.force_login(make_learner())

    response = fire(client, "expires", "PENDING, REVOKED", countdown=2, expires=3)

    assert "Make expires shorter than countdown" in response.content.decode()
    assert not LabRun.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_early_success_is_kept_by_redis_and_overwritten_by_django_db(client, celery_worker):
    learner = make_learner()
    client.force_login(learner)

    fire(client, "early-success", "PENDING, SUCCESS", seconds=1)

    run = wait_until_over(LabRun.objects.get(owner=learner))
    successes = [o.info for o in run.observations.all() if o.state == "SUCCESS"]
    returned = LabEvent.objects.get(task_id=run.task_id, kind="succeeded").detail
    assert successes[0] == "{'early': 'stored by update_state'}", "ready() is True before the task ends"
    assert returned == "'returned at the end'"
    if settings.RUN_MODE == "redis":
        assert successes == ["{'early': 'stored by update_state'}"], "the first SUCCESS stays"
    else:
        assert successes == ["{'early': 'stored by update_state'}", "'returned at the end'"]


@pytest.mark.django_db
@pytest.mark.parametrize("experiment_id", sorted(EXPERIMENTS))
def test_each_experiment_page_shows_its_task_and_client_code_but_not_the_answer(client, experiment_id):
    experiment = EXPERIMENTS[experiment_id]

    page = client.get(f"/lab/{experiment_id}/").content.decode()

    assert escape(experiment.title) in page
    assert f'<span class="nf">{experiment.task.run.__name__}</span>' in page, "the task's source"
    assert "AsyncResult" in page or "chord" in page, "the client code"
    for prediction in experiment.predictions:
        assert escape(prediction.question) in page
    # Predict, then observe: the page never states the sequence the learner must predict
    # (a one-state sequence, PENDING, is a word the no-worker banner uses too).
    if len(experiment.lane1) > 1:
        assert " → ".join(experiment.lane1) not in page
    assert experiment.lesson not in page


@pytest.mark.django_db
def test_the_catalog_lists_every_experiment_without_giving_away_the_states(client):
    page = client.get("/lab/").content.decode()

    for experiment in EXPERIMENTS.values():
        assert escape(experiment.title) in page
    assert "AsyncResult shows" not in page


@pytest.mark.django_db
def test_the_catalog_lists_the_sandbox_experiments_apart_and_says_where_the_challenges_are(client):
    page = client.get("/lab/").content.decode()

    sandbox_section = page[page.index('<h2 id="sandbox">') : page.index('<h2 id="challenges">')]
    assert escape(EXPERIMENTS["pool-killed"].title) in sandbox_section
    assert escape(EXPERIMENTS["success"].title) not in sandbox_section
    assert '<a href="#challenges">Challenges</a>' in page


# --- Issue 17's hard cases on the shared worker: lane 2 of every task the run sent, and lane 3 ---

HARD = {experiment.id: experiment for experiment in HARD_CASES}
HARD_PARAMS = {
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
    waited = run.calls.get(key="get").after_ms  # when get(timeout=1.0) gave up
    assert queued.after_ms < waited <= gone.after_ms, "it sat there while get() waited, until deleted"
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


def fire_hard_case(client, experiment, **answers):
    predictions = {f"predict_{p.key}": p.answer for p in experiment.predictions}
    data = {**HARD_PARAMS[experiment.id], **predictions, **answers, "prediction": ", ".join(experiment.lane1)}
    return client.post(f"/lab/{experiment.id}/", data)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("experiment_id", sorted(HARD))
def test_each_hard_case_shows_three_lanes_and_grades_predictions(client, celery_worker, experiment_id):
    experiment = HARD[experiment_id]
    learner = make_learner()
    client.force_login(learner)

    fire_hard_case(client, experiment)

    run = wait_until_over(LabRun.objects.get(owner=learner))
    calls = {call.key: (call.outcome, call.detail) for call in run.calls.all()}
    assert run.status == LabRun.Status.FINISHED, run.ending
    assert run.is_prediction_right is True, (run.prediction, run.predicted_calls, calls)
    # Every call was made and its outcome fits its column: SQLite stores a longer one anyway,
    # PostgreSQL refuses it, and the run then never ends.
    assert set(calls) == {step.key for step in experiment.steps}
    longest = LabCall._meta.get_field("outcome").max_length
    assert [key for key, (outcome, _) in calls.items() if len(outcome) > longest] == []
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
    if experiment_id == "countdown" and settings.RUN_MODE == "redis":
        assert "reserved by a worker, not acknowledged" in page, "lane 2 says it had not started"


def finished_run(learner, experiment_id: str, states: list[str], events: list[str]) -> LabRun:
    """A graded run as the observer leaves it: one reading per state, 100 ms apart; lane-2
    rows 10 ms apart."""
    sent_at = timezone.now() - timedelta(minutes=1)
    run = LabRun.objects.create(
        owner=learner,
        experiment=experiment_id,
        task_id=f"{experiment_id}-{learner.pk}",
        prediction=states,
        is_prediction_right=True,
        status=LabRun.Status.FINISHED,
        sent_at=sent_at,
        finished_at=sent_at + timedelta(seconds=1),
    )
    for n, state in enumerate(states):
        is_ready = state in ("SUCCESS", "FAILURE")
        LabObservation.objects.create(
            run=run, after_ms=n * 100, state=state, info="None", is_ready=is_ready, is_successful=is_ready
        )
    for n, kind in enumerate(events):
        LabEvent.objects.create(task_id=run.task_id, kind=kind, at=sent_at + timedelta(milliseconds=10 * n))
    return run


@pytest.mark.django_db
def test_the_missed_state_note_speaks_of_what_each_experiment_is_about(client):
    learner = make_learner()
    client.force_login(learner)
    ran = ["published", "received", "started", "succeeded"]
    ignored = finished_run(learner, "ignore-result", ["PENDING"], ran)
    failed = finished_run(learner, "failure", ["PENDING", "FAILURE"], ran[:3] + ["failed"])

    ignored_page = page_of(client, ignored)
    failed_page = page_of(client, failed)

    assert "The worker reported “succeeded” at 30 ms, but AsyncResult never read SUCCESS." in ignored_page
    assert "never read STARTED" not in ignored_page + failed_page  # neither run is about it
    assert f"<strong>What this shows:</strong> {escape(EXPERIMENTS['ignore-result'].lesson)}" in ignored_page
