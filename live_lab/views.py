import asyncio
import contextlib

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import close_old_connections
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from live_lab.catalog import catalog_sections
from live_lab.challenges import CHALLENGES, get_challenge, listen_for_end
from live_lab.challenges import stop_listening as stop_listening_for_end
from live_lab.experiments import get_experiment
from live_lab.forms import ChallengeForm
from live_lab.models import ChallengeAttempt, LabRun
from live_lab.queries import (
    LaneRows,
    Lanes,
    challenge_attempts,
    describe_health,
    get_challenge_attempt_for,
    get_run_for,
    hints_taken,
    illuminated_by,
    lanes_from,
    read_lane_rows,
    run_lanes,
)
from live_lab.run_changes import (
    listen_for_changes,
    recent_lane_rows,
    recent_run_for,
    remote_runs,
    stop_listening,
)
from live_lab.services import (
    ChallengeBusy,
    LabLimitReached,
    dispatcher,
    fire_experiment,
    reveal_next_hint,
    start_challenge_attempt,
)
from live_lab.stream_slots import release_stream_slot, take_stream_slot
from live_lab.worker_ping import worker_answers

RENDER_AT_LEAST_EVERY = 15.0  # seconds: the lanes are read again this often, should a change be missed
WAITING_RENDER_EVERY = 2.0  # the same for a waiting run: its place in line changes
STREAM_FOR = 120.0
LANES_SETTLE = 0.15  # seconds from a store to the read of the lanes, for the stores after it


@require_GET
def healthz(request):
    """For a load balancer: 200 while this process can serve (503 when its database does not
    answer). Staff see the setup and the lab's state too. Never waits on the worker."""
    health = describe_health(for_staff=request.user.is_staff)
    return JsonResponse(health, status=200 if health["status"] == "ok" else 503)


def catalog(request):
    context = {
        "sections": catalog_sections(),
        "challenges": CHALLENGES.values(),
        "worker_answers": worker_answers(),
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
                    sandbox_config=form.sandbox_config(),
                    script_params=form.script_params(),
                )
            except LabLimitReached as limit:
                form.add_error(None, str(limit))
            else:
                # The dispatcher sent it, or found the broker down (docs/lab-faults.md): then the
                # learner is told here, and stays on the form to fire again.
                run.refresh_from_db(fields=["status", "ending"])
                if run.status != LabRun.Status.NOT_SENT:
                    return redirect(run)
                form.add_error(None, run.ending)
    context = {
        "experiment": experiment,
        "form": form,
        "illuminated": illuminated_by(experiment.id),
        "worker_answers": worker_answers(),
        "mode_note": experiment.mode_note,
    }
    return render(request, "live_lab/experiment.html", context)


@login_required
def run_detail(request, run_id):
    run = get_run_for(request.user, run_id)
    if run.is_unfinished:
        # After a restart, this process too sends waiting runs and adopts orphaned ones.
        dispatcher.wake_unless_looking()
    lanes = lanes_from(read_lane_rows(run))
    return render(
        request, "live_lab/run.html", {"lanes": lanes, "experiment": get_experiment(run.experiment)}
    )


async def run_events(request, run_id):
    """The run's lanes pushed as server-sent events (htmx's SSE extension swaps them in)."""
    user = await request.auser()
    if not user.is_authenticated:
        raise Http404("No such run.")
    # A run pushed to this process lately names its owner: no query (anyone else's is looked up,
    # and 404s).
    run = recent_run_for(user, run_id) or await sync_to_async(get_run_for)(user, run_id)
    # A stream lasts minutes: the request's thread gives its database connection back now, not
    # when the stream ends (with PostgreSQL's pool, thirty open pages would hold every one).
    await sync_to_async(close_old_connections)()
    return StreamingHttpResponse(
        one_of_the_learners_streams(user.pk, run),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def render_lanes(run_id: int, rows: LaneRows | None) -> tuple[str, Lanes]:
    """From the rows pushed, or (None) read from the database."""
    lanes = run_lanes(run_id) if rows is None else lanes_from(rows)
    return render_to_string("live_lab/run.html#lanes", {"lanes": lanes}), lanes


async def lane_stream(run: LabRun):
    """Send the lanes whenever they change; end with a `done` event once the run is over.

    When this process's observer stores something, it calls back, from its thread, into this
    event loop with the run's rows as stored (LaneRows), and the lanes are rendered from them,
    LANES_SETTLE after the first store of a burst, without reading the database. A new lane-1
    reading goes out at once, alone, as a `reading` event (one table row), before it is even
    stored. The observer also reads new lane-2 rows (written by the worker) and pushes them the
    same way. A run observed by another web process is announced by this process's one page
    watcher (live_lab/run_changes.py): its rows pushed over Redis in Redis mode; one look for
    all pages otherwise, and then this stream reads the lanes. A stream starts from the rows
    last pushed to this process, when it has them. The lanes are also read again every
    RENDER_AT_LEAST_EVERY, in case an announcement was lost, and a waiting run's every
    WAITING_RENDER_EVERY (its place in line).
    """
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()
    readings: list = []  # new LabObservations from the observer, not sent yet
    pushed: LaneRows | None = None  # the run's rows as last pushed, not rendered yet
    stale = False  # something changed that was not pushed: read the lanes from the database

    def on_change(change):
        nonlocal stale, pushed
        if change is None:
            stale = True
        elif isinstance(change, LaneRows):
            pushed = change
        else:
            readings.append(change)
        woken.set()

    def wake_up(observation):
        with contextlib.suppress(RuntimeError):  # the loop is closed: the client went away
            loop.call_soon_threadsafe(on_change, observation)

    listen_for_changes(run.pk, wake_up)
    remote_runs.watch(run.pk)
    if settings.RUN_MODE == "redis" and not remote_runs.listening.is_set():
        # The process's first page: its lanes are read once the watcher hears every change.
        await sync_to_async(remote_runs.listening.wait, thread_sensitive=False)(1.0)
    if run.is_unfinished:
        dispatcher.wake_unless_looking()  # this process too sends waiting runs and adopts orphaned ones
    if pushed is None:
        pushed = recent_lane_rows(run.pk)
    if pushed is None:
        stale = True
    try:
        last, newest_shown, every = None, -1.0, RENDER_AT_LEAST_EVERY
        read_at = loop.time()  # when the lanes are read next (None: when something is stored)
        deadline = loop.time() + STREAM_FOR
        while loop.time() < deadline:
            woken.clear()
            for observation in readings:
                if observation.after_ms > newest_shown:  # not in the lanes sent already
                    row = render_to_string("live_lab/run.html#reading", {"seen": observation})
                    yield server_sent_event("reading", row)
                    newest_shown = observation.after_ms
            readings.clear()
            if (stale or pushed is not None) and read_at is None:
                # Stores come in bursts (a reading, the worker's lane-2 rows, a client call):
                # one render a moment after the first serves the whole burst.
                read_at = loop.time() + LANES_SETTLE
            if read_at is not None and loop.time() >= read_at:
                # Taken before rendering: a change meanwhile is rendered next.
                rows = None if stale else pushed
                stale, pushed, read_at = False, None, None
                html, lanes = await sync_to_async(render_lanes, thread_sensitive=False)(run.pk, rows)
                remote_runs.saw(run.pk, lanes.version)
                every = WAITING_RENDER_EVERY if lanes.run.is_waiting else RENDER_AT_LEAST_EVERY
                if html != last:
                    yield server_sent_event("lanes", html)
                    last = html
                    newest_shown = max((seen.after_ms for seen in lanes.observations), default=-1.0)
                if lanes.is_over:
                    yield server_sent_event("done", "over")
                    return
            wait = every if read_at is None else read_at - loop.time()
            try:
                await asyncio.wait_for(woken.wait(), max(min(wait, deadline - loop.time()), 0))
            except TimeoutError:
                if read_at is None:
                    stale, read_at = True, loop.time()
    finally:
        stop_listening(run.pk, wake_up)
        remote_runs.unwatch(run.pk)


def server_sent_event(name: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {name}\n{lines}\n"


async def one_of_the_learners_streams(user_id: int, run: LabRun):
    """The run's lane stream, holding one of its learner's stream slots while it is open
    (taken when the stream starts, so that a response never sent holds none). Beyond the limit,
    a message in place of live updates, and the stream ends."""
    if not take_stream_slot(user_id):
        message = render_to_string(
            "live_lab/run.html#too-many-streams", {"limit": settings.LAB_MAX_STREAMS_PER_LEARNER}
        )
        yield server_sent_event("refused", message)
        yield server_sent_event("done", "refused")
        return
    try:
        async for event in lane_stream(run):
            yield event
    finally:
        release_stream_slot(user_id)


# --- Challenges (live_lab/challenges.py) ----------------------------------------------------


def challenge_detail(request, challenge_id):
    challenge = get_challenge(challenge_id)
    if challenge is None:
        raise Http404("No such challenge.")
    form = ChallengeForm(initial={**challenge.default, "size": 10}, challenge=challenge)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"/accounts/login/?next={request.path}")
        form = ChallengeForm(request.POST, challenge=challenge)
        if challenge.redis_only and settings.RUN_MODE != "redis":
            form.add_error(None, challenge.modes_note)
        elif form.is_valid():
            try:
                attempt = start_challenge_attempt(
                    request.user, challenge, choices=form.choices(), size=form.cleaned_data["size"]
                )
            except ChallengeBusy as busy:
                form.add_error(None, str(busy))
            else:
                return redirect(attempt)
    taken = hints_taken(request.user, challenge.id) if request.user.is_authenticated else 0
    attempts = challenge_attempts(request.user, challenge.id) if request.user.is_authenticated else []
    context = {
        "challenge": challenge,
        "form": form,
        "hints": challenge.hints[:taken],
        "hints_left": len(challenge.hints) - taken,
        "attempts": attempts,
        "redis_mode": settings.RUN_MODE == "redis",
    }
    return render(request, "live_lab/challenge.html", context)


@login_required
@require_POST
def challenge_hint(request, challenge_id):
    challenge = get_challenge(challenge_id)
    if challenge is None:
        raise Http404("No such challenge.")
    reveal_next_hint(request.user, challenge)
    return redirect(reverse("live_lab:challenge", args=[challenge.id]) + "#hints")


@login_required
def challenge_attempt(request, attempt_id):
    attempt = get_challenge_attempt_for(request.user, attempt_id)
    challenge = get_challenge(attempt.challenge)
    taken = hints_taken(request.user, attempt.challenge)
    context = {"attempt": attempt, "challenge": challenge, "hints_left": len(challenge.hints) - taken}
    return render(request, "live_lab/challenge_attempt.html", context)


ATTEMPT_READ_EVERY = 5.0  # seconds: an attempt run by another web process is read again this often


async def challenge_attempt_events(request, attempt_id):
    """One `result` event once the attempt is over (the page swaps in its check), then `done`."""
    user = await request.auser()
    if not user.is_authenticated:
        raise Http404("No such attempt.")
    attempt = await sync_to_async(get_challenge_attempt_for)(user, attempt_id)
    await sync_to_async(close_old_connections)()
    return StreamingHttpResponse(
        attempt_stream(request, user.pk, attempt.pk),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def render_attempt_result(request, attempt_id: int) -> tuple[str, bool]:
    """The page's result region (with the request: its hint form needs the CSRF token), and
    whether the attempt is still running."""
    attempt = ChallengeAttempt.objects.get(pk=attempt_id)
    challenge = get_challenge(attempt.challenge)
    taken = hints_taken(attempt.owner, attempt.challenge)
    context = {"attempt": attempt, "challenge": challenge, "hints_left": len(challenge.hints) - taken}
    html = render_to_string("live_lab/challenge_attempt.html#result", context, request=request)
    return html, attempt.is_running


async def attempt_stream(request, user_id: int, attempt_id: int):
    if not take_stream_slot(user_id):
        message = render_to_string(
            "live_lab/run.html#too-many-streams", {"limit": settings.LAB_MAX_STREAMS_PER_LEARNER}
        )
        yield server_sent_event("refused", message)
        yield server_sent_event("done", "refused")
        return
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()

    def on_end():
        loop.call_soon_threadsafe(ended.set)

    listen_for_end(attempt_id, on_end)
    try:
        deadline = loop.time() + STREAM_FOR
        while loop.time() < deadline:
            ended.clear()
            html, running = await sync_to_async(render_attempt_result, thread_sensitive=False)(
                request, attempt_id
            )
            if not running:
                yield server_sent_event("result", html)
                yield server_sent_event("done", "over")
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), min(ATTEMPT_READ_EVERY, max(deadline - loop.time(), 0)))
    finally:
        stop_listening_for_end(attempt_id, on_end)
        release_stream_slot(user_id)
