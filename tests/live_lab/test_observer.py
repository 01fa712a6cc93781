"""The observer's announcements to open run pages, as plain functions (no worker needed)."""

import pickle

import pytest
from django.conf import settings
from django.utils import timezone

from live_lab.experiments import EXPERIMENTS
from live_lab.models import LabEvent, LabRun
from live_lab.observer import Observatory, RunObserver, TickWrites, observation_of
from live_lab.queries import lanes_versions, read_lane_rows, run_lanes
from live_lab.run_changes import (
    keep_recent,
    lane_rows_as_bytes,
    lane_rows_from_bytes,
    listen_for_changes,
    listeners_lock,
    recent_lane_rows,
    stop_listening,
)
from live_lab.views import render_lanes
from tests.factories import make_learner


def lane2_row(task_id: str, kind: str) -> None:
    LabEvent.objects.create(task_id=task_id, kind=kind, hostname="worker@test", at=timezone.now())


@pytest.mark.django_db
def test_an_open_page_is_handed_the_workers_lane2_rows_when_they_change_and_only_then():
    run = LabRun.objects.create(
        owner=make_learner(), experiment="success", task_id="task-with-a-page", prediction=["PENDING"]
    )
    other = LabRun.objects.create(
        owner=make_learner(), experiment="success", task_id="task-without-a-page", prediction=["PENDING"]
    )
    first = ("PENDING", "None", False, False, None)
    observers = {r.pk: RunObserver(r, EXPERIMENTS["success"], first) for r in (run, other)}
    told = []
    listen_for_changes(run.pk, told.append)
    observatory = Observatory()

    def look():  # what each of the observer's ticks does for lane 2
        for run_id in observatory.read_lane2(observatory.lane2_news(list(observers.values()))):
            observers[run_id].announce()

    def kinds_told():
        return [[event.kind for event in rows.events] for rows in told]

    try:
        look()
        assert told == [], "nothing written yet: the page is left alone"

        lane2_row(run.task_id, LabEvent.Kind.RECEIVED)
        lane2_row(other.task_id, LabEvent.Kind.RECEIVED)
        look()
        assert kinds_told() == [["received"]], "the page's run only, with its row"

        look()
        assert len(told) == 1, "nothing new: the page is left alone"

        lane2_row(run.task_id, LabEvent.Kind.STARTED)
        lane2_row(run.task_id, LabEvent.Kind.SUCCEEDED)
        look()
        assert kinds_told() == [["received"], ["received", "started", "succeeded"]]
    finally:
        stop_listening(run.pk, told.append)


@pytest.mark.django_db
def test_pushed_rows_render_the_same_lanes_as_the_database_without_reading_it(django_assert_num_queries):
    run = LabRun.objects.create(
        owner=make_learner(),
        experiment="success",
        task_id="task-pushed",
        prediction=["PENDING", "SUCCESS"],
        predicted_calls={"ready": "True"},
        status=LabRun.Status.FINISHED,
        is_prediction_right=True,
    )
    observation_of(run, ("PENDING", "None", False, False, None), after_ms=1.0).save()
    observation_of(run, ("SUCCESS", "7", True, True, None), after_ms=9.0).save()
    lane2_row(run.task_id, LabEvent.Kind.RECEIVED)
    lane2_row(run.task_id, LabEvent.Kind.SUCCEEDED)
    from_database, _ = render_lanes(run.pk, None)

    # as another web process gets them: a Redis message
    pushed = lane_rows_from_bytes(lane_rows_as_bytes(read_lane_rows(run)))
    # in embedded mode the result backend's row is read for the record shown under the lanes
    with django_assert_num_queries(0 if settings.RUN_MODE == "redis" else 1):
        from_push, lanes = render_lanes(run.pk, pushed)

    assert from_push == from_database
    assert lanes.version == pushed.version == (LabRun.Status.FINISHED, 2, 0, 2, 0)


@pytest.mark.django_db
def test_rows_pushed_by_a_process_with_other_models_are_read_from_the_database_instead():
    run = LabRun.objects.create(
        owner=make_learner(), experiment="success", task_id="task-old", prediction=["PENDING"]
    )
    with listeners_lock:
        keep_recent(run.pk, pickle.dumps(((run.pk, "success"), [[], [], [], []])))  # a run of two fields

    assert recent_lane_rows(run.pk) is None  # the page reads the database


@pytest.mark.django_db
def test_the_page_watchers_two_query_look_counts_what_the_rendered_lanes_hold(django_assert_num_queries):
    learner = make_learner()
    runs = [
        LabRun.objects.create(
            owner=learner,
            experiment="success",
            task_id=f"task-{n}",
            prediction=["PENDING"],
            status=LabRun.Status.RUNNING,  # sent: a waiting run has no rows
            sent_at=timezone.now(),
        )
        for n in range(3)
    ]
    ids = [run.pk for run in runs]
    with django_assert_num_queries(2):  # for all runs at once
        before, tasks = lanes_versions(ids)
    assert [before[pk] for pk in ids] == [run_lanes(pk).version for pk in ids]
    assert tasks == {run.pk: [run.task_id] for run in runs}

    lane2_row(runs[1].task_id, LabEvent.Kind.RECEIVED)
    observation_of(runs[2], ("PENDING", "None", False, False, None), after_ms=1.0).save()

    after, _ = lanes_versions(ids)
    assert [after[pk] for pk in ids] == [run_lanes(pk).version for pk in ids]
    assert [after[pk] != before[pk] for pk in ids] == [False, True, True]


@pytest.mark.django_db(transaction=True)  # each write commits on its own, as in the observer
def test_a_run_deleted_while_observed_is_dropped_and_the_others_still_end():
    learner = make_learner()
    gone, kept = (
        LabRun.objects.create(owner=learner, experiment="success", task_id=f"t{n}", prediction=["PENDING"])
        for n in range(2)
    )
    reading = ("SUCCESS", "5", True, True, None)
    writes = TickWrites()
    for run in (gone, kept):
        writes.keep(observation_of(run, reading, after_ms=1.0))
        writes.finish(run, LabRun.Status.FINISHED)
    LabRun.objects.filter(pk=gone.pk).delete()  # its learner's account was deleted meanwhile

    writes.store()

    kept.refresh_from_db()
    assert kept.status == LabRun.Status.FINISHED
    assert writes.over == {gone.pk, kept.pk}, "the deleted run is no longer observed"


@pytest.mark.django_db
def test_a_finished_runs_lanes_and_grades_come_from_one_read_of_its_readings_and_calls(
    django_assert_num_queries,
):
    run = LabRun.objects.create(
        owner=make_learner(),
        experiment="success",
        task_id="task-finished",
        prediction=["PENDING", "SUCCESS"],
        predicted_calls={"ready": "True", "successful": "False"},
        status=LabRun.Status.FINISHED,
    )
    observation_of(run, ("PENDING", "None", False, False, None), after_ms=1.0).save()
    observation_of(run, ("SUCCESS", "7", True, True, None), after_ms=9.0).save()

    # the run, its readings, its client calls, its lane-2 rows, its lane-3 rows (and, in embedded
    # mode, the result backend's row); the states and the grades come from the readings in hand
    with django_assert_num_queries(5 if settings.RUN_MODE == "redis" else 6):
        lanes = run_lanes(run.pk)

    assert lanes.states == ["PENDING", "SUCCESS"]
    assert [(graded.code, graded.is_right) for graded in lanes.graded] == [
        ("ready()", True),
        ("successful()", False),
    ]
