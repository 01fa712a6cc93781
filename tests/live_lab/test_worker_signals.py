"""Lane 2's background writer, in the situations a worker puts it in."""

import os
import threading

import pytest
from django.utils import timezone

from live_lab.models import LabEvent
from live_lab.worker_signals import BackgroundWriter, record


def lane2_row(task_id: str, kind=LabEvent.Kind.RECEIVED) -> LabEvent:
    return LabEvent(task_id=task_id, kind=kind, hostname="worker@test", at=timezone.now())


@pytest.mark.django_db(transaction=True)
def test_a_process_forked_while_the_writer_ran_writes_its_own_rows():
    # billiard forks a new pool process after a terminate, from a main process whose writer
    # thread is running: the child inherits the writer's queue, not its thread.
    writer = BackgroundWriter()
    writer.put(lane2_row("parent"))
    writer.flush()
    child = os.fork()
    if child == 0:
        exit_code = 1
        try:
            writer.put(lane2_row("child"))
            flushing = threading.Thread(target=writer.flush, daemon=True)
            flushing.start()
            flushing.join(10)  # without a writer of its own, the child would wait for ever
            exit_code = 0 if not flushing.is_alive() else 2
        finally:
            os._exit(exit_code)  # no pytest teardown in the child
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sorted(LabEvent.objects.values_list("task_id", flat=True)) == ["child", "parent"]


@pytest.mark.django_db(transaction=True)
def test_a_row_written_in_place_comes_after_every_row_queued_before_it():
    # A pool process can be killed once its task started: by then the rows of its earlier
    # tasks must be in the database, not in its writer's queue.
    record("earlier", LabEvent.Kind.SUCCEEDED)
    record("now", LabEvent.Kind.STARTED, in_place=True)
    assert set(LabEvent.objects.values_list("task_id", flat=True)) == {"earlier", "now"}
