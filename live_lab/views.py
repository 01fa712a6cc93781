import asyncio
import contextlib

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from live_lab.experiments import EXPERIMENTS, get_experiment
from live_lab.observer import listen_for_changes, stop_listening
from live_lab.queries import (
    describe_setup,
    get_run_for,
    questions_by_experiment,
    run_lanes,
    worker_answers_ping,
)
from live_lab.services import LabLimitReached, fire_experiment

STREAM_EVERY = 0.05  # seconds between two database reads of the SSE stream
STREAM_FOR = 120.0


@require_GET
def healthz(request):
    return JsonResponse({**describe_setup(), "worker": worker_answers_ping()})


def catalog(request):
    context = {
        "experiments": EXPERIMENTS.values(),
        "questions": questions_by_experiment(),
        "has_worker": worker_answers_ping(timeout=0.5),
    }
    return render(request, "live_lab/catalog.html", context)


def experiment_detail(request, experiment_id):
    experiment = get_experiment(experiment_id)
    if experiment is None:
        raise Http404("No such experiment.")
    form = experiment.make_form()
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"/accounts/login/?next={request.path}")
        form = experiment.make_form(request.POST)
        if form.is_valid():
            args, kwargs = form.task_arguments()
            try:
                run = fire_experiment(
                    request.user,
                    experiment,
                    args=args,
                    kwargs=kwargs,
                    prediction=form.cleaned_data["prediction"],
                    predicted_calls=form.predicted(),
                    options=form.send_options(),
                )
            except LabLimitReached as limit:
                form.add_error(None, str(limit))
            else:
                return redirect(run)
    context = {
        "experiment": experiment,
        "form": form,
        "questions": questions_by_experiment().get(experiment.id, []),
        "has_worker": worker_answers_ping(timeout=0.5),
    }
    return render(request, "live_lab/experiment.html", context)


@login_required
def run_detail(request, run_id):
    run = get_run_for(request.user, run_id)
    lanes = run_lanes(run.pk)
    return render(
        request, "live_lab/run.html", {"lanes": lanes, "experiment": get_experiment(run.experiment)}
    )


async def run_events(request, run_id):
    """The run's lanes pushed as server-sent events (htmx's SSE extension swaps them in)."""
    user = await request.auser()
    if not user.is_authenticated:
        raise Http404("No such run.")
    run = await sync_to_async(get_run_for)(user, run_id)
    return StreamingHttpResponse(
        lane_stream(run.pk),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def render_lanes(run_id: int) -> tuple[str, bool, int]:
    """The lanes' HTML, whether the run is over, and the newest lane-1 reading's id in it."""
    lanes = run_lanes(run_id)
    newest = max((seen.pk for seen in lanes.observations), default=0)
    return render_to_string("live_lab/run.html#lanes", {"lanes": lanes}), lanes.is_over, newest


async def lane_stream(run_id: int):
    """Send the lanes whenever they change; end with a `done` event once the run is over.

    The lanes are read from the database every STREAM_EVERY (lane 2 is written by the worker,
    and another web process may be observing the run), and at once when this process's
    observer stores something: it calls back, from its thread, into this event loop. A new
    lane-1 reading it hands over goes out first, alone, as a `reading` event (one table row),
    before the lanes are read back and rendered whole: the learner sees a new state as soon
    as the observer has read it.
    """
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()
    readings: list = []  # LabObservations handed over by the observer, not sent yet

    def on_change(observation):
        if observation is not None:
            readings.append(observation)
        changed.set()

    def wake_up(observation):
        with contextlib.suppress(RuntimeError):  # the loop is closed: the client went away
            loop.call_soon_threadsafe(on_change, observation)

    listen_for_changes(run_id, wake_up)
    try:
        last, newest_shown = None, 0
        deadline = loop.time() + STREAM_FOR
        while loop.time() < deadline:
            changed.clear()  # before reading: a store during the read wakes the next wait
            for observation in readings:
                if observation.pk > newest_shown:  # not in lanes already sent
                    row = render_to_string("live_lab/run.html#reading", {"seen": observation})
                    yield server_sent_event("reading", row)
                    newest_shown = observation.pk
            readings.clear()
            html, is_over, newest = await sync_to_async(render_lanes, thread_sensitive=False)(run_id)
            if html != last:
                yield server_sent_event("lanes", html)
                last, newest_shown = html, newest
            if is_over:
                yield server_sent_event("done", "over")
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), STREAM_EVERY)
    finally:
        stop_listening(run_id, wake_up)


def server_sent_event(name: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {name}\n{lines}\n"
