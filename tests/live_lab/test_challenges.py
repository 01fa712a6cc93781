"""Challenges (live_lab/challenges.py): a batch fired at a real sandbox worker whose pool process
is SIGKILLed mid-task, and the check of what really happened. The known-good configuration must
pass and the default must fail."""

import os
from html import escape

import pytest

from live_lab.challenges import CHALLENGES
from live_lab.models import ChallengeAttempt, ChallengeHint
from tests.conftest import worker_env
from tests.factories import make_learner
from tests.web_process import wait_until

WORKER_DEATH = CHALLENGES["worker-death"]
REDELIVERY = CHALLENGES["redelivery"]


@pytest.fixture
def sandbox_env(monkeypatch):
    """Sandbox workers take this process's environment: point it at the test database."""
    for name, value in worker_env().items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)


def take_the_challenge(client, choices: dict, size: int = 4, challenge: str = "worker-death") -> str:
    """POST the form with `choices`, wait for the check, return the attempt page's text."""
    form = {name: value for name, value in choices.items() if value is not False}
    response = client.post(f"/lab/challenges/{challenge}/", {**form, "size": size})
    assert response.status_code == 302, response.content.decode()
    attempt = ChallengeAttempt.objects.latest("pk")
    wait_until(
        lambda: ChallengeAttempt.objects.get(pk=attempt.pk).status != ChallengeAttempt.Status.RUNNING,
        "the attempt's check",
        90,
        every=0.2,
    )
    page = client.get(response.url).content.decode()
    attempt.refresh_from_db()
    # What the attempt page shows, to read when an assertion below fails.
    print(attempt.summary, *attempt.kills, *attempt.tasks, sep="\n")
    return page


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_death_challenge_fails_with_the_defaults_and_passes_with_the_known_good_configuration(
    client, sandbox_env
):
    client.force_login(make_learner("challenger"))

    page = take_the_challenge(client, WORKER_DEATH.default)
    assert "Not yet: 1 of 4 tasks lost, 0 applied more than once, 2 did not end in SUCCESS; 4 runs" in page
    assert "lost: its effect never happened; ended FAILURE" in page  # task 1, killed before its effect
    assert "FAILURE (WorkerLostError)" in page
    assert "Take a hint" in page

    page = take_the_challenge(client, WORKER_DEATH.known_good)
    assert "Passed" in page
    assert "0 of 4 tasks lost, 0 applied more than once, 0 did not end in SUCCESS; 6 runs" in page
    statuses = list(ChallengeAttempt.objects.order_by("pk").values_list("status", flat=True))
    assert statuses == ["failed", "passed"]


@pytest.mark.worker
@pytest.mark.embedded_only  # the same in Redis mode; CI's time goes to the two configurations above
@pytest.mark.django_db(transaction=True)
def test_redelivery_without_an_idempotent_task_applies_the_effect_of_the_task_killed_after_it_twice(
    client, sandbox_env
):
    client.force_login(make_learner("challenger"))
    page = take_the_challenge(client, {**WORKER_DEATH.known_good, "idempotent": False})
    assert "0 of 4 tasks lost, 1 applied more than once, 0 did not end in SUCCESS; 6 runs" in page
    assert "its effect happened 2 times" in page


@pytest.mark.worker
@pytest.mark.embedded_only  # a pool process's death is the worker's own business, whatever the broker
@pytest.mark.django_db(transaction=True)
def test_retry_on_worker_lost_with_a_short_delay_and_an_idempotent_task_also_passes_the_worker_death_one(
    client, sandbox_env
):
    """Each killed task reads RETRY, then runs again from the start: it ran twice (two `started`
    rows), but its effect, which is what the check counts, happened once."""
    client.force_login(make_learner("challenger"))
    (retrying,) = WORKER_DEATH.also_good
    assert retrying["retry_on_worker_lost"]
    assert not retrying["acks_late"]
    page = take_the_challenge(client, retrying)
    assert "Passed" in page
    assert "0 of 4 tasks lost, 0 applied more than once, 0 did not end in SUCCESS; 6 runs" in page


@pytest.mark.worker
@pytest.mark.redis_only
@pytest.mark.django_db(transaction=True)
def test_the_redelivery_challenge_fails_with_the_defaults_and_passes_with_the_known_good_configuration(
    client, sandbox_env
):
    client.force_login(make_learner("challenger"))

    page = take_the_challenge(client, REDELIVERY.default, challenge="redelivery")
    assert "Not yet: 2 of 4 tasks lost, 0 applied more than once, 3 did not end in SUCCESS; 2 runs" in page

    page = take_the_challenge(client, REDELIVERY.known_good, challenge="redelivery")
    assert "Passed" in page
    assert "0 of 4 tasks lost, 0 applied more than once, 0 did not end in SUCCESS" in page


@pytest.mark.embedded_only
@pytest.mark.django_db
def test_the_redelivery_challenge_says_why_the_filesystem_broker_cannot_show_it(client):
    client.force_login(make_learner())
    page = client.get("/lab/challenges/redelivery/").content.decode()
    assert "This challenge needs the Redis broker" in page
    assert "moves a message&#x27;s file out of the queue folder as soon as a worker takes it" in page
    assert "Fire the batch" not in page
    response = client.post("/lab/challenges/redelivery/", {"size": 4, "visibility_timeout": 10})
    assert "Redis mode only." in response.content.decode()
    assert not ChallengeAttempt.objects.exists()


@pytest.mark.django_db
def test_hints_are_revealed_one_at_a_time_on_request_and_recorded(client):
    learner = make_learner("hinted")
    client.force_login(learner)
    page = client.get("/lab/challenges/worker-death/").content.decode()
    assert WORKER_DEATH.hints[0] not in page
    assert "3 left" in page

    for _ in range(2):
        client.post("/lab/challenges/worker-death/hint")
    page = client.get("/lab/challenges/worker-death/").content.decode()
    assert WORKER_DEATH.hints[0] in page
    assert WORKER_DEATH.hints[1] in page
    assert WORKER_DEATH.hints[2] not in page
    assert list(ChallengeHint.objects.filter(owner=learner).values_list("level", flat=True)) == [1, 2]


@pytest.mark.django_db
def test_another_learner_gets_404_for_an_attempt(client):
    attempt = ChallengeAttempt.objects.create(
        owner=make_learner(), challenge="worker-death", size=4, status=ChallengeAttempt.Status.FAILED
    )
    client.force_login(make_learner())
    assert client.get(attempt.get_absolute_url()).status_code == 404
    assert client.get(f"{attempt.get_absolute_url()}events").status_code == 404


@pytest.mark.django_db
def test_a_batch_outside_the_bounds_is_refused_with_a_form_error(client):
    client.force_login(make_learner())
    response = client.post("/lab/challenges/worker-death/", {"size": 50})
    assert "Ensure this value is less than or equal to 20." in response.content.decode()
    assert not ChallengeAttempt.objects.exists()


@pytest.mark.django_db
def test_a_visitor_reads_the_challenge_from_the_lab_and_is_asked_to_log_in_to_take_it(client):
    catalog = client.get("/lab/").content.decode()
    assert 'href="/lab/challenges/worker-death/"' in catalog
    page = client.get("/lab/challenges/worker-death/").content.decode()
    assert escape(WORKER_DEATH.goal) in page
    assert "to take it: attempts are kept per learner." in page
    assert client.get("/lab/challenges/no-such-thing/").status_code == 404
