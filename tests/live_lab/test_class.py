"""A whole class at once: the lab never hangs, shares the worker fairly, and caps streams.

Each test runs a real worker; the first also a real uvicorn web process, hit by many
requests at the same moment from threads of the test.
"""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.utils import timezone

from config.celery import app
from live_lab.models import LabEvent, LabRun
from live_lab.services import MAX_UNFINISHED_RUNS
from tests.factories import make_learner
from tests.live_lab.runs import wait_until_over
from tests.web_process import Learner, WebProcess

pytestmark = pytest.mark.worker


@pytest.fixture
def web(celery_worker):
    """Only for the test that asks for it: its dispatcher would send the other tests' runs."""
    process = WebProcess("class")
    yield process
    process.stop()


def fire(client, experiment_id: str, prediction: str, **params):
    return client.post(f"/lab/{experiment_id}/", {**params, "prediction": prediction})


def stop_runs_of(learner) -> None:
    """Leave the shared worker free for the next test: drop waiting runs, end running ones."""
    LabRun.objects.filter(owner=learner, status=LabRun.Status.WAITING).delete()
    for task_id in LabRun.objects.filter(owner=learner).values_list("task_id", flat=True):
        app.control.revoke(task_id, terminate=True)


@pytest.mark.django_db(transaction=True)
def test_thirty_learners_opening_the_lab_at_once_leave_it_working_and_a_run_completes(web):
    staff = make_learner()
    staff.is_staff = True
    staff.save()
    visitors = [Learner(staff if n % 4 == 0 else None, web) for n in range(60)]  # a quarter staff

    def open_page(n: int) -> tuple[str, int]:
        path = "/lab/" if n % 2 else "/healthz"
        return path, visitors[n].request("GET", path, timeout=20)[0]

    with ThreadPoolExecutor(max_workers=60) as pool:
        answers = list(pool.map(open_page, range(60)))

    assert answers.count(("/lab/", 200)) == 30
    assert answers.count(("/healthz", 200)) == 30
    ada = Learner(make_learner(), web)
    status, headers, _ = ada.fire("success", x=2, y=3, seconds=0, prediction="PENDING, SUCCESS")
    assert status == 302
    assert headers["Location"].startswith("/lab/runs/")
    run = wait_until_over(LabRun.objects.get(owner=ada.user), timeout=30)
    assert run.status == LabRun.Status.FINISHED
    assert run.is_prediction_right is True
    assert ada.request("GET", "/lab/")[0] == 200, "the lab still answers afterwards"


@pytest.mark.django_db(transaction=True)
def test_another_learners_short_run_starts_within_seconds_while_one_account_has_its_maximum_of_slow_runs(
    client, celery_worker, settings
):
    settings.LAB_WORKER_SLOTS = 2  # the test worker's concurrency
    settings.LAB_SLOTS_PER_LEARNER = 1
    greedy = make_learner()
    client.force_login(greedy)
    for _ in range(MAX_UNFINISHED_RUNS):
        fire(client, "slow-untracked", "PENDING, SUCCESS", seconds=10)
    try:
        statuses = list(LabRun.objects.filter(owner=greedy).values_list("status", flat=True))
        assert statuses.count(LabRun.Status.RUNNING) == 1
        assert statuses.count(LabRun.Status.WAITING) == MAX_UNFINISHED_RUNS - 1
        waiting = LabRun.objects.filter(owner=greedy, status=LabRun.Status.WAITING).last()
        page = client.get(waiting.get_absolute_url()).content.decode()
        assert "Waiting for a worker slot" in page
        assert "At most 1 of your runs run on the worker at once" in page

        other = make_learner()
        client.force_login(other)
        fire(client, "success", "PENDING, SUCCESS", x=2, y=3, seconds=0)

        run = wait_until_over(LabRun.objects.get(owner=other), timeout=15)
        started = LabEvent.objects.get(task_id=run.task_id, kind=LabEvent.Kind.STARTED).at
        assert (started - run.fired_at).total_seconds() < 5, "not queued behind the 10 s runs"
        assert run.is_prediction_right is True
    finally:
        stop_runs_of(greedy)


@pytest.mark.django_db(transaction=True)
def test_a_run_that_waited_for_a_slot_is_graded_on_what_happened_after_its_send(
    client, celery_worker, settings
):
    settings.LAB_WORKER_SLOTS = 2
    settings.LAB_SLOTS_PER_LEARNER = 1
    learner = make_learner()
    client.force_login(learner)

    for _ in range(3):
        fire(client, "slow-tracked", "PENDING, STARTED, SUCCESS", seconds=1.5)

    runs = [wait_until_over(run, timeout=30) for run in LabRun.objects.filter(owner=learner).order_by("pk")]
    assert [run.status for run in runs] == [LabRun.Status.FINISHED] * 3
    assert [run.is_prediction_right for run in runs] == [True, True, True], "waiting is never graded"
    last = runs[-1]
    done_before = LabEvent.objects.get(task_id=runs[1].task_id, kind=LabEvent.Kind.SUCCEEDED).at
    assert last.sent_at >= done_before, "it waited until the worker was done with the run before it"
    assert last.waited_seconds > 1
    first_reading = last.observations.first()
    assert (first_reading.state, first_reading.after_ms) == ("PENDING", 0.0)
    assert last.observations.get(state="STARTED").after_ms < 1500, "times count from the send"
    page = client.get(last.get_absolute_url()).content.decode()
    assert f"It waited {last.waited_seconds:.1f} s for a worker slot before it was sent" in page
    assert "Your prediction was <strong>right</strong>" in page


@pytest.mark.django_db(transaction=True)
def test_a_learners_streams_beyond_the_limit_are_refused_with_a_message_and_others_still_stream(settings):
    settings.LAB_MAX_STREAMS_PER_LEARNER = 2
    learner, classmate = make_learner(), make_learner()
    runs = {
        who: LabRun.objects.create(
            owner=who,
            experiment="slow-untracked",
            task_id=str(uuid.uuid4()),
            prediction=["PENDING"],
            status=LabRun.Status.RUNNING,
            watched_at=timezone.now(),
        )
        for who in (learner, classmate)
    }

    async def open_streams():
        clients = {who: AsyncClient() for who in runs}
        for who, client in clients.items():
            await client.aforce_login(who)
        url = {who: f"/lab/runs/{run.pk}/events" for who, run in runs.items()}
        held = [(await clients[learner].get(url[learner])).streaming_content for _ in range(2)]
        firsts = [(await anext(stream)).decode() for stream in held]  # both streams are open now
        refused = await clients[learner].get(url[learner])
        refusal = "".join([chunk.decode() async for chunk in refused.streaming_content])
        classmates = (await clients[classmate].get(url[classmate])).streaming_content
        classmates_first = (await anext(classmates)).decode()
        for stream in [*held, classmates]:
            await stream.aclose()
        return firsts, refusal, classmates_first

    firsts, refusal, classmates_first = async_to_sync(open_streams)()

    assert all(first.startswith("event: lanes") for first in firsts)
    assert refusal.startswith("event: refused")
    assert "Live updates are off on this page: you already have 2 run pages open" in refusal
    assert "event: done" in refusal
    assert classmates_first.startswith("event: lanes"), "one learner's streams never cost another's"
