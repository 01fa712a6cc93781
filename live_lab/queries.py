"""Reads about Celery itself: is a worker there, which broker and backend are in use."""

import json
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count, Exists, OuterRef
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_celery_results.models import TaskResult
from redis.exceptions import RedisError

from config.celery import app
from learn.models import ExperimentLink
from live_lab.experiments import Experiment, get_experiment
from live_lab.fair_share import Waiting, runs_ahead
from live_lab.grading import GradedPrediction, graded_predictions, observed_states
from live_lab.models import (
    ChallengeAttempt,
    ChallengeHint,
    LabBrokerReading,
    LabCall,
    LabEvent,
    LabObservation,
    LabRun,
    SandboxClaim,
)
from live_lab.worker_ping import worker_ping


def without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}:{parts.port}"
        return parts._replace(netloc=netloc).geturl()
    return url


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True


def describe_health(*, for_staff: bool) -> dict:
    """What /healthz says: whether this web process can serve (its database answers); for
    staff also the mode, where tasks and results go (no passwords, no paths), the lab's queue
    and the process's last worker ping, which is never taken for this request."""
    health = {"status": "ok" if database_answers() else "database unreachable"}
    if not for_staff:
        return health
    if settings.RUN_MODE == "redis":
        broker = f"redis ({without_password(settings.CELERY_BROKER_URL)})"
        backend = f"redis ({without_password(settings.CELERY_RESULT_BACKEND)})"
    else:
        broker = "filesystem (kombu, folders under the runtime folder)"
        backend = "django-db (django-celery-results, in the Django database)"
    answer = worker_ping.current()
    counts = dict(
        LabRun.objects.filter(status__in=[LabRun.Status.WAITING, LabRun.Status.RUNNING])
        .order_by()
        .values_list("status")
        .annotate(runs=Count("pk"))
    )
    return {
        **health,
        "mode": settings.RUN_MODE,
        "database": connection.vendor,
        "broker": broker,
        "result_backend": backend,
        "worker": answer.answers,
        "worker_answer_age_s": None if answer.age is None else round(answer.age, 1),
        "lab_runs_waiting": counts.get(LabRun.Status.WAITING, 0),
        "lab_runs_on_worker": counts.get(LabRun.Status.RUNNING, 0),
        "lab_worker_slots": settings.LAB_WORKER_SLOTS,
    }


def wait_for_result(task_id: str, *, timeout: float, propagate: bool = True):
    """Block until the task is ready and return its result, like AsyncResult.get().

    Polls every RESULT_POLL_INTERVAL: django-celery-results' get() would otherwise poll the
    database every 0.5 s and add up to half a second to every read (Redis ignores the
    interval and waits on pub/sub).
    """
    result = app.AsyncResult(task_id)
    return result.get(timeout=timeout, propagate=propagate, interval=settings.RESULT_POLL_INTERVAL)


def get_run_for(user, run_id: int) -> LabRun:
    """The learner's own run, or 404: a run id alone never reveals another learner's task."""
    return get_object_or_404(LabRun.objects.filter(owner=user), pk=run_id)


def unfinished_on_worker() -> Counter:
    """Runs sent whose task the worker has not reported done, by learner: the worker slots they
    hold. A run is over a moment after that last word (its last reading); its slot is free at once."""
    last_word = LabEvent.objects.filter(task_id=OuterRef("task_id"), kind__in=LabEvent.LAST_WORDS)
    rows = (
        LabRun.objects.filter(status=LabRun.Status.RUNNING, sandbox_config__isnull=True)
        .exclude(Exists(last_word))
        .order_by()
        .values_list("owner_id")
        .annotate(runs=Count("pk"))
    )
    return Counter(dict(rows))


def waiting_runs() -> list[Waiting]:
    """The runs that wait for a slot on the shared worker, oldest first."""
    rows = LabRun.objects.filter(status=LabRun.Status.WAITING, sandbox_config__isnull=True)
    rows = rows.order_by("fired_at", "pk")
    return [Waiting(pk, owner_id) for pk, owner_id in rows.values_list("pk", "owner_id")]


def waiting_sandbox_runs() -> list[Waiting]:
    """The runs that wait for a sandbox worker, oldest first."""
    rows = LabRun.objects.filter(status=LabRun.Status.WAITING, sandbox_config__isnull=False)
    rows = rows.order_by("fired_at", "pk")
    return [Waiting(pk, owner_id) for pk, owner_id in rows.values_list("pk", "owner_id")]


def runs_on_sandboxes() -> Counter:
    """Runs on a sandbox worker now (starting it included), by learner."""
    rows = (
        LabRun.objects.filter(status=LabRun.Status.RUNNING, sandbox_config__isnull=False)
        .order_by()
        .values_list("owner_id")
        .annotate(runs=Count("pk"))
    )
    return Counter(dict(rows))


@dataclass(frozen=True)
class QueuePlace:
    """Where a waiting run stands: what the learner is told while it waits."""

    runs_ahead: int
    on_worker: int
    own_on_worker: int
    per_learner: int
    sandboxes: int | None = None  # waiting for a sandbox worker: how many the site has

    @property
    def held_for_own_runs(self) -> bool:
        """Only the learner's own runs hold it back: she has her share of the worker."""
        return self.runs_ahead == 0 and self.own_on_worker >= self.per_learner


def queue_place(run: LabRun) -> QueuePlace | None:
    """Two queries; None once the run is no longer waiting."""
    if run.is_on_sandbox:
        on_sandboxes = runs_on_sandboxes()
        ahead = runs_ahead(run.pk, waiting_sandbox_runs(), on_sandboxes)
        if ahead is None:
            return None
        in_use = SandboxClaim.objects.count()  # a claim may be another process's, starting
        return QueuePlace(ahead, in_use, on_sandboxes[run.owner_id], 1, sandboxes=settings.LAB_SANDBOXES)
    on_worker = unfinished_on_worker()
    ahead = runs_ahead(run.pk, waiting_runs(), on_worker)
    if ahead is None:
        return None
    return QueuePlace(ahead, sum(on_worker.values()), on_worker[run.owner_id], settings.LAB_SLOTS_PER_LEARNER)


@dataclass(frozen=True)
class Moment:
    """One line of the run's merged timeline: both lanes interleaved on the one clock (the
    narrow screen's view), and what the screen-reader log announces, each `key` once."""

    after_ms: float
    lane: str  # "code" (lane 1: readings and client calls) or "worker" (lane 2)
    key: str  # the same for the same row in every render: the page announces it once
    what: str  # the state, the call, or the worker's event
    detail: str  # .info and the booleans, what the call did, the host and the event's detail
    is_news: bool  # announced: a lane-1 reading only when its state changed

    @property
    def is_call(self) -> bool:
        return self.key.startswith("call-")

    @property
    def lane_label(self) -> str:
        """The lane's name on each line of the timeline: colour is never alone."""
        return LANE_LABELS.get(self.lane, self.lane)

    @property
    def spoken(self) -> str:
        """What the log says: "612 ms, your code reads SUCCESS"."""
        if self.lane != "code":
            return f"{self.after_ms:.0f} ms, the {self.lane_label}: {self.what}"
        if self.is_call:
            return f"{self.after_ms:.0f} ms, your code called {self.what}: {self.detail}"
        return f"{self.after_ms:.0f} ms, your code reads {self.what}"


LANE_LABELS = {"code": "your code", "worker": "worker"}


def reading_key(observation: LabObservation) -> str:
    """The key of a lane-1 reading, the same before it is stored (pushed alone) and after."""
    return f"reading-{observation.after_ms:.3f}"


def timeline_of(observations: list, calls: list, events: list, broker: list = ()) -> list[Moment]:
    """The lanes as one list, in the order of the one clock (ms since the send)."""
    moments = []
    previous = None
    for seen in observations:
        booleans = f"ready() {seen.is_ready}, successful() {seen.is_successful}, failed() {seen.is_failed}"
        moments.append(
            Moment(
                seen.after_ms,
                "code",
                reading_key(seen),
                seen.state,
                f".info {seen.info}; {booleans}",
                is_news=seen.state != previous,
            )
        )
        previous = seen.state
    for call in calls:
        moments.append(
            Moment(call.after_ms, "code", f"call-{call.key}", call.code, call.outcome, is_news=True)
        )
    for event in events:
        label = f"{event.task_label}: " if event.task_label else ""
        detail = " · ".join(part for part in (event.hostname, event.detail) if part)
        moments.append(
            Moment(event.after_ms, "worker", f"event-{event.pk}", f"{label}{event.kind}", detail, True)
        )
    for reading in broker:
        label = f"{reading.task_label}: " if reading.task_label else ""
        what = f"{label}{reading.place}"
        # Keyed by what it says, not its pk: a pushed reading may not be stored yet (no pk), and
        # the same reading pushed again after its store must not be said twice.
        key = f"broker-{reading.task_id}-{reading.where}-{reading.after_ms:.3f}"
        moments.append(Moment(reading.after_ms, "broker", key, what, reading.detail, True))
    return sorted(moments, key=lambda moment: moment.after_ms)


@dataclass
class Lanes:
    run: LabRun
    observations: list[LabObservation]
    calls: list[LabCall]
    events: list
    states: list[str]
    missed: list[str]
    record: dict
    graded: list[GradedPrediction]
    queue: "QueuePlace | None" = None
    broker: list[LabBrokerReading] = ()  # lane 3: where the broker held the run's messages
    timeline: list[Moment] = field(default_factory=list)
    experiment: Experiment | None = None  # None: a run of an experiment no longer in the catalog

    @property
    def is_over(self) -> bool:
        return not self.run.is_unfinished

    @property
    def version(self) -> tuple:
        """What lanes_version() reads from the database for the same lanes."""
        return (self.run.status, len(self.observations), len(self.calls), len(self.events), len(self.broker))

    @property
    def latest_progress(self) -> LabObservation | None:
        """The newest reading that carries {current, total}: the progress bar."""
        with_progress = [o for o in self.observations if o.progress]
        return with_progress[-1] if with_progress else None


# Which lane-2 events would show up in lane 1 as which state, if a reader saw it.
STATE_EVENTS = {
    "STARTED": [LabEvent.Kind.STARTED],
    "RETRY": [LabEvent.Kind.RETRIED],
    "SUCCESS": [LabEvent.Kind.SUCCEEDED],
    "FAILURE": [LabEvent.Kind.FAILED],
    "REVOKED": [LabEvent.Kind.REVOKE_ARRIVED, LabEvent.Kind.REVOKED],
}


@dataclass
class LaneRows:
    """What a run's lanes are rendered from: the run and its rows, each list in order. Read
    from the database (read_lane_rows), or kept by the run's observer and pushed to open pages
    with every change (live_lab/run_changes.py), so that a page need not read them again."""

    run: LabRun
    observations: list[LabObservation]
    calls: list[LabCall]
    events: list[LabEvent]
    broker: list[LabBrokerReading]

    @property
    def version(self) -> tuple:
        """What lanes_versions() reads from the database for the same rows."""
        counts = (len(self.observations), len(self.calls), len(self.events), len(self.broker))
        return (self.run.status, *counts)


def read_lane_rows(run: LabRun) -> LaneRows:
    """Four queries: the run's readings, client calls, lane-2 rows and lane-3 readings."""
    events = LabEvent.objects.filter(task_id__in=[run.task_id, *run.related_ids])
    return LaneRows(
        run,
        list(run.observations.all()),
        list(run.calls.all()),
        list(events),
        list(run.broker_readings.all()),
    )


def missed_states(run: LabRun, experiment: Experiment | None, events: list, states: list[str]) -> list[str]:
    """What lane 1 never read though the worker did it, said only where it matters in this run:
    the states the experiment is about (`Experiment.points_out`: STARTED in slow-untracked,
    SUCCESS in ignore-result) and those the learner predicted."""
    wanted = [*(experiment.points_out if experiment else ()), *run.prediction]
    missed = []
    for state, kinds in STATE_EVENTS.items():
        if state not in wanted or state in states:
            continue
        reported = [e for e in events if e.task_id == run.task_id and e.kind in kinds]
        if reported:
            first = reported[0]
            when = f"{len(reported)} times, first at" if len(reported) > 1 else "at"
            missed.append(
                f"The worker reported “{first.kind}” {when} {first.after_ms:.0f} ms, "
                f"but AsyncResult never read {state}."
            )
    return missed


def run_lanes(run_id: int) -> Lanes:
    """The lanes of a run, fresh from the database. Five queries; three for a waiting run (the
    run and its place in line: it has no rows until it is sent)."""
    run = LabRun.objects.get(pk=run_id)
    return lanes_from(LaneRows(run, [], [], [], []) if run.is_waiting else read_lane_rows(run))


def lanes_from(rows: LaneRows) -> Lanes:
    """Both lanes and what lane 1 never saw, worked out from the rows in hand. No query but the
    backend's record (in embedded mode, its row) and a waiting run's place in line (two)."""
    run, observations, calls = rows.run, rows.observations, rows.calls
    labels = run.params.get("labels") or {
        task_id: f"header {n + 1}" for n, task_id in enumerate(run.related_ids)
    }
    events = rows.events
    for event in events:
        event.after_ms = (event.at - run.sent_at).total_seconds() * 1000
        event.task_label = labels.get(event.task_id, "callback" if labels else "")
    broker = rows.broker
    for reading in broker:
        reading.task_label = labels.get(reading.task_id, "callback" if labels else "")
        reading.place = broker_place(reading, events)
    states = observed_states(run, observations=observations)
    experiment = get_experiment(run.experiment)
    missed = missed_states(run, experiment, events, states)
    finished = run.status == LabRun.Status.FINISHED
    graded = graded_predictions(run, observations=observations, calls=calls) if finished else []
    queue = queue_place(run) if run.is_waiting else None
    timeline = timeline_of(observations, calls, events, broker)
    record = backend_record(run.task_id)
    return Lanes(
        run,
        observations,
        calls,
        events,
        states,
        missed,
        record,
        graded,
        queue,
        broker=broker,
        timeline=timeline,
        experiment=experiment,
    )


def broker_place(reading: LabBrokerReading, events: list) -> str:
    """Lane 3's words for a place; an unacknowledged message is told apart by lane 2: reserved
    (the worker received it and has not started it: prefetched, or waiting for its countdown)
    or running unacknowledged (acks_late)."""
    if reading.where != LabBrokerReading.Where.UNACKED:
        return reading.get_where_display()
    started = [e for e in events if e.task_id == reading.task_id and e.kind == LabEvent.Kind.STARTED]
    if started and started[0].after_ms <= reading.after_ms:
        return "running, not acknowledged yet (acks_late)"
    return "reserved by a worker, not acknowledged"


def lanes_versions(run_ids: list[int]) -> tuple[dict[int, tuple], dict[int, list[str]]]:
    """For these runs, what changes whenever their lanes do (but for the Redis key's TTL
    counting down), and their task ids: two queries for all of them, where reading and
    rendering one run's lanes takes five and two Redis reads. Same as Lanes.version."""
    rows = (
        LabRun.objects.filter(pk__in=run_ids)
        .annotate(
            readings=Count("observations", distinct=True),
            calls_made=Count("calls", distinct=True),
            broker_rows=Count("broker_readings", distinct=True),
        )
        .values_list("pk", "status", "readings", "calls_made", "task_id", "related_ids", "broker_rows")
    )
    tasks = {pk: [task_id, *related] for pk, _, _, _, task_id, related, _ in rows}
    counts = dict(
        LabEvent.objects.filter(task_id__in=[t for ids in tasks.values() for t in ids])
        .order_by()
        .values_list("task_id")
        .annotate(rows=Count("pk"))
    )
    versions = {
        pk: (status, readings, calls, sum(counts.get(t, 0) for t in tasks[pk]), broker_rows)
        for pk, status, readings, calls, _, _, broker_rows in rows
    }
    return versions, tasks


def backend_record(task_id: str) -> dict:
    """What the result backend itself holds for this id, as shown on the run page."""
    if settings.RUN_MODE == "redis":
        key = app.backend.get_key_for_task(task_id)
        try:
            raw = app.backend.client.get(key)
            ttl = app.backend.client.ttl(key)
        except RedisError:
            # Redis is restarting or down: the page (and its event stream) still shows both
            # lanes, which are in the database (docs/lab-faults.md).
            return {"where": f"Redis key {key.decode()}", "value": "(Redis unreachable)", "ttl": "unknown"}
        return {
            "where": f"Redis key {key.decode()}",
            "value": json.dumps(json.loads(raw), indent=2) if raw else "(no key: nothing stored)",
            "ttl": f"{ttl} s (read at {timezone.localtime():%H:%M:%S})" if ttl and ttl > 0 else "none",
        }
    row = (
        TaskResult.objects.filter(task_id=task_id)
        .values("status", "result", "date_done", "worker", "task_name", "traceback")
        .first()
    )
    return {
        "where": "django_celery_results_taskresult row",
        "value": json.dumps(row, indent=2, default=str) if row else "(no row: nothing stored)",
        "ttl": "none: rows stay until celery.backend_cleanup deletes them (result_expires)",
    }


@dataclass
class Illuminated:
    """The places in the course an experiment illuminates, for its page's links back."""

    sections: list[ExperimentLink]  # cheat-sheet sections: link.target is the heading's anchor
    questions: list[ExperimentLink]  # questions: link.target is the question's id


def illuminated_by(experiment_id: str) -> Illuminated:
    """The sections and questions whose content names the experiment (`lab:` lines, synced into
    learn.ExperimentLink), of active topics, in course order (one query)."""
    links = ExperimentLink.objects.filter(experiment=experiment_id, topic__archived_at__isnull=True)
    links = list(links.select_related("topic"))
    return Illuminated(
        [link for link in links if link.kind == ExperimentLink.Kind.SECTION],
        [link for link in links if link.kind == ExperimentLink.Kind.QUESTION],
    )


def get_challenge_attempt_for(user, attempt_id: int) -> ChallengeAttempt:
    """The learner's own challenge attempt, or 404."""
    return get_object_or_404(ChallengeAttempt.objects.filter(owner=user), pk=attempt_id)


def challenge_attempts(user, challenge_id: str, *, limit: int = 10) -> list[ChallengeAttempt]:
    return list(ChallengeAttempt.objects.filter(owner=user, challenge=challenge_id)[:limit])


def hints_taken(user, challenge_id: str) -> int:
    """How many hints of the challenge's ladder the learner has revealed."""
    return ChallengeHint.objects.filter(owner=user, challenge=challenge_id).count()
