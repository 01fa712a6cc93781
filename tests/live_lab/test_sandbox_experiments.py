"""The experiments that break a worker (live_lab/sandbox_experiments.py), each fired through the
page at a real sandbox worker of its own, in the mode under test: both lanes, which worker did
what, the graded predictions, the queue for a sandbox, and that nothing is left running."""

from pathlib import Path

import pytest
from django.conf import settings

from live_lab.experiments import EXPERIMENTS
from live_lab.models import LabEvent, LabRun, SandboxClaim
from live_lab.sandbox import claim_sandbox_slot
from live_lab.sandbox_experiments import SANDBOX_EXPERIMENTS
from tests.factories import make_learner
from tests.live_lab.runs import wait_until_over
from tests.live_lab.test_experiments import in_documented_order
from tests.web_process import Learner, WebProcess, wait_until

REDIS = settings.RUN_MODE == "redis"
KILL = {"seconds": 2.5, "kill_after": 0.5}
PARAMS = {
    "pool-killed": KILL,
    "pool-killed-acks-late": KILL,
    "pool-killed-reject": KILL,
    # The experiment's default_retry_delay is 3 s. 2 s shows the retry wait and leaves the script
    # ample time to read RETRY once lane 2 has the `retried` row (it polls every 0.1 s).
    "pool-killed-retry": {**KILL, "sandbox_default_retry_delay": 2},
    "revoke-terminate": {"seconds": 10},
    "worker-killed": KILL,
    # Redis: visibility_timeout 4 s, so a 6 s countdown passes it; the filesystem broker has none.
    "eta-beyond-visibility": {"countdown": 6 if REDIS else 2},
    "orphaned-started": KILL,
    "result-expiry": {"x": 2, "y": 3, "sandbox_result_expires": 3},
}


def documented(experiment) -> tuple[tuple, tuple, dict]:
    """(lane 1, lane 2, prediction answers) the catalog documents for this mode."""
    answers = {p.key: p.answer for p in experiment.predictions}
    if not REDIS and experiment.sandbox.embedded_outcome:
        lane1, lane2, differ = experiment.sandbox.embedded_outcome
        return lane1, lane2, {**answers, **differ}
    return experiment.lane1, experiment.lane2, answers


def sandbox_defaults(experiment) -> dict:
    """The experiment's own sandbox settings as the page's form posts them (a checkbox left
    unchecked is absent)."""
    data = {}
    for name in experiment.make_form().sandbox_fields():
        value = getattr(experiment.sandbox.defaults, name)
        if value is not False:
            data[f"sandbox_{name}"] = "on" if value is True else value
    return data


def fire(client, experiment, *, prediction: str, answers: dict, **params) -> LabRun:
    data = {**sandbox_defaults(experiment), **PARAMS[experiment.id], **params, "prediction": prediction}
    data.update({f"predict_{key}": answer for key, answer in answers.items()})
    response = client.post(f"/lab/{experiment.id}/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    return LabRun.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[1])


def processes_named(hostname: str) -> list[int]:
    """Processes whose command line names this worker (its own and its pool's)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if hostname.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def lane2_rows(run: LabRun) -> list[tuple[str, str]]:
    return list(LabEvent.objects.filter(task_id=run.task_id).values_list("kind", "hostname"))


pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.worker
@pytest.mark.parametrize("experiment_id", [experiment.id for experiment in SANDBOX_EXPERIMENTS])
def test_each_sandbox_experiment_shows_its_documented_lanes_and_grades_the_predictions(client, experiment_id):
    experiment = EXPERIMENTS[experiment_id]
    lane1, lane2, answers = documented(experiment)
    client.force_login(make_learner())

    run = wait_until_over(fire(client, experiment, prediction=", ".join(lane1), answers=answers), timeout=60)

    assert run.status == LabRun.Status.FINISHED, run.ending
    assert run.sandbox_hostname.startswith("sandbox-")
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    assert f"On a sandbox worker of its own, <code>{run.sandbox_hostname}</code>" in page
    states = []
    for state in run.observations.values_list("state", flat=True):
        if not states or states[-1] != state:
            states.append(state)
    assert tuple(states) == lane1
    rows = lane2_rows(run)
    assert in_documented_order([kind for kind, _ in rows]) == lane2
    # Which worker did what: the first one, or (after a restart) the one started after it.
    workers = [host for kind, host in rows if kind in ("received", "started")]
    assert workers[0] == run.sandbox_hostname
    if experiment_id == "worker-killed" and REDIS:
        restarted = run.sandbox_hostname.replace("@", "-2@")
        assert workers == [run.sandbox_hostname] * 2 + [restarted] * 2
        assert page.count(f"<td>{restarted}</td>") == 3  # received, started, succeeded
    else:
        assert set(workers) == {run.sandbox_hostname}
    if experiment_id == "pool-killed-retry":  # the retry is published by the sandbox worker itself
        publishers = [host for kind, host in rows if kind == "published"]
        assert publishers[1:] == [run.sandbox_hostname], publishers
        retry = run.observations.filter(state="RETRY").first()
        assert "WorkerLostError('Worker exited prematurely: signal 9 (SIGKILL)" in retry.info
    # Lane 3: what the broker held. At the end the message is gone (acknowledged, or taken by a
    # worker that died with it). On Redis it was unacknowledged first; when it is handed out
    # again, the worker waiting on the queue fetches it within milliseconds of its restore, under
    # the same delivery tag, so lane 3 (a look every 50 ms) may or may not see it put back.
    readings = list(run.broker_readings.values_list("where", "detail"))
    assert readings[-1][0] == "gone", readings
    held_unacknowledged = experiment.sandbox.defaults.acks_late or experiment_id == "eta-beyond-visibility"
    if REDIS and held_unacknowledged:  # while it runs (acks_late) or waits for its countdown
        assert "unacked" in [where for where, _ in readings], readings
    graded = {call.key: call.outcome for call in run.calls.all()}
    if "runs" in answers:
        assert graded["runs"] == answers["runs"]
    if experiment_id == "result-expiry":
        # What the backend held when SUCCESS was read: Redis, the key and its TTL (the result_expires
        # chosen, counting down); django-db, a row without one. The AsyncResult that read SUCCESS
        # before keeps it past the expiry, in both modes.
        # Redis rounds the TTL to whole seconds; read a moment after the store (lane 2's
        # "succeeded" row, written after it), so at most the 3 s chosen.
        ttls = ("3 s", "2 s", "1 s", "0 s") if REDIS else ("no expiry of its own",)
        assert graded["result-ttl"] in ttls, graded
        assert graded["held-after-expiry"] == "reads SUCCESS"
        assert ("(no key: nothing stored)" in page) == REDIS
    # Where this mode cannot show the experiment's point, the verdict says so before the lesson.
    mode_note = experiment.sandbox.embedded and not REDIS
    assert ("<strong>On this site:</strong>" in page) == bool(mode_note)
    assert ("<strong>What this shows on Redis:</strong>" in page) == bool(mode_note)
    assert run.is_prediction_right is True, (states, graded)
    # Nothing is left: the worker and its pool are gone, and the slot is free.
    wait_until(lambda: not SandboxClaim.objects.exists(), "the sandbox's slot freed", 10)
    hosts = {run.sandbox_hostname} | {host for _, host in rows if host.startswith("sandbox-")}
    assert not [pid for host in hosts for pid in processes_named(host)]


# The queue and the cleanup after a web process dies are the same in both modes (claims in the
# database, the kernel's parent-death signal): run in the embedded pass only, to spare CI time.
SAME_IN_BOTH_MODES = pytest.mark.skipif(REDIS, reason="mode-independent; runs in the embedded pass")


@pytest.mark.worker
@SAME_IN_BOTH_MODES
def test_a_run_waits_in_a_visible_queue_for_a_sandbox_and_starts_when_one_frees(client, settings):
    settings.LAB_SANDBOXES = 1
    experiment = EXPERIMENTS["orphaned-started"]
    lane1, _, answers = documented(experiment)
    held = claim_sandbox_slot(hostname="a run of another web process")
    learners = [make_learner(), make_learner()]
    runs = []
    for learner in learners:
        client.force_login(learner)
        runs.append(fire(client, experiment, prediction=", ".join(lane1), answers=answers))
    client.force_login(learners[1])
    page = client.get(f"/lab/runs/{runs[1].pk}/").content.decode()
    assert "Waiting for a sandbox worker." in page
    assert "1 run is ahead of yours for a sandbox worker; 1 of the site's 1 is in use." in page, page
    assert "nothing is sent yet; once the task is sent, every time below counts from that moment" in page

    SandboxClaim.objects.filter(pk=held.pk).delete()  # that run ended: its slot is free
    first = wait_until_over(runs[0], timeout=40)
    second = wait_until_over(runs[1], timeout=40)
    assert first.status == second.status == LabRun.Status.FINISHED
    assert second.sent_at > first.finished_at, "the second run's sandbox started after the first ended"
    assert first.sandbox_hostname != second.sandbox_hostname


def test_the_page_offers_the_sandbox_settings_the_experiment_allows_and_refuses_bad_ones(client):
    client.force_login(make_learner())
    page = client.get("/lab/worker-killed/").content.decode()
    assert "This experiment runs on a sandbox worker of its own" in page
    assert 'name="sandbox_acks_late"' in page
    assert 'name="sandbox_pool"' in page
    assert ('name="sandbox_visibility_timeout"' in page) == REDIS
    if not REDIS:
        assert "which has no visibility timeout" in page

    data = {"seconds": 2, "kill_after": 1.8, "prediction": "PENDING", "sandbox_pool": "gevent"}
    data |= {"sandbox_visibility_timeout": 1, "predict_ready": "True", "predict_runs": "once"}
    page = client.post("/lab/worker-killed/", data).content.decode()
    assert "Kill it at least half a second before it would end (at most 1.5 s)" in page
    assert "Select a valid choice. gevent is not one of the available choices." in page
    if REDIS:
        assert "Ensure this value is greater than or equal to 2." in page
    assert not LabRun.objects.exists()


def test_the_result_expiry_form_refuses_an_expiry_the_run_cannot_wait_for(client):
    client.force_login(make_learner())
    page = client.get("/lab/result-expiry/").content.decode()
    assert 'name="sandbox_result_expires"' in page
    assert "From 2 to 20 s here: the run waits that long for the result to expire." in page

    data = {"x": 2, "y": 3, "sandbox_result_expires": 86_400, "prediction": "PENDING, SUCCESS"}
    data |= {"predict_ready": "True", "predict_state-after-expiry": "reads SUCCESS"}
    page = client.post("/lab/result-expiry/", data).content.decode()
    assert "Ensure this value is less than or equal to 20." in page
    assert not LabRun.objects.exists()


def test_the_retry_experiment_offers_a_retry_delay_of_a_few_seconds_and_refuses_celerys_180(client):
    client.force_login(make_learner())
    page = client.get("/lab/pool-killed-retry/").content.decode()
    for name in ("retry_on_worker_lost", "default_retry_delay", "max_retries", "reject_on_worker_lost"):
        assert f'name="sandbox_{name}"' in page
    assert "Celery&#x27;s default is 180" in page

    data = {**KILL, "prediction": "PENDING", "predict_ready": "True", "predict_runs": "twice"}
    data |= {"predict_retry-info": "WorkerLostError", "sandbox_default_retry_delay": 180}
    page = client.post("/lab/pool-killed-retry/", {**data, "sandbox_max_retries": 6}).content.decode()
    assert "Ensure this value is less than or equal to 10." in page
    assert "Ensure this value is less than or equal to 5." in page
    assert not LabRun.objects.exists()


def test_with_sandboxes_turned_off_a_sandbox_experiment_says_so_and_sends_nothing(client, settings):
    settings.LAB_SANDBOXES = 0
    client.force_login(make_learner())
    experiment = EXPERIMENTS["pool-killed"]
    data = {**KILL, **sandbox_defaults(experiment), "prediction": "PENDING, FAILURE"}
    data |= {"predict_ready": "True", "predict_runs": "once"}
    page = client.post(f"/lab/{experiment.id}/", data).content.decode()
    assert "Sandbox workers are turned off on this site (LAB_SANDBOXES=0)" in page
    assert not LabRun.objects.exists()


@pytest.mark.worker
@SAME_IN_BOTH_MODES
def test_killing_the_web_process_during_a_sandbox_run_kills_its_worker_and_another_ends_the_run():
    experiment = EXPERIMENTS["orphaned-started"]
    learner = make_learner()
    first = WebProcess("sandbox-starter-killed")
    second = None
    try:
        browser = Learner(learner, first)
        fields = {"seconds": 10, "kill_after": 9, **sandbox_defaults(experiment)}
        fields |= {"prediction": "PENDING, STARTED", "predict_ready": "False", "predict_runs": "once"}
        status, headers, page = browser.fire(experiment.id, **fields)
        assert status == 302, page
        run = LabRun.objects.get(pk=headers["Location"].rstrip("/").rsplit("/", 1)[1])
        started = LabEvent.objects.filter(task_id=run.task_id, kind="started")
        wait_until(started.exists, "the task started on the sandbox", 40)
        run.refresh_from_db()
        sandbox_pids = processes_named(run.sandbox_hostname)
        assert len(sandbox_pids) == 2, "the sandbox worker and its pool process run"

        first.kill()
        wait_until(lambda: not processes_named(run.sandbox_hostname), "the sandbox worker gone", 5)

        second = WebProcess("sandbox-run-adopter")
        browser.web = second
        browser.request("GET", f"/lab/runs/{run.pk}/")  # wakes its dispatcher, which adopts the run
        run = wait_until_over(run, timeout=30)
        status, _, page = browser.request("GET", f"/lab/runs/{run.pk}/")
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert run.status == LabRun.Status.TIMED_OUT
    assert "The web process that ran this run&#x27;s sandbox worker stopped during the run" in page
    assert not SandboxClaim.objects.exists(), "the dead process's claim was freed by the next claimant"
