"""The app's SQLite backend: an INSERT gives SQLite's write lock back as soon as it ran."""

import sqlite3

import pytest
from django.db import connection
from django.utils import timezone

from live_lab.models import LabEvent

pytestmark = [pytest.mark.sqlite_only]


@pytest.mark.django_db(transaction=True)
def test_an_insert_does_not_hold_the_write_lock_while_python_reads_its_id():
    # Another connection, as the worker's would be, asks for the write lock between the
    # INSERT's execution and Django reading the new id (an INSERT ... RETURNING held it then).
    other = sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)
    answers = []

    def write_from_elsewhere(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith("INSERT"):
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
                answers.append("got the lock")
            except sqlite3.OperationalError as error:
                answers.append(str(error))
        return result

    try:
        with connection.execute_wrapper(write_from_elsewhere):
            event = LabEvent.objects.create(
                task_id="t-1", kind=LabEvent.Kind.PUBLISHED, hostname="web", at=timezone.now()
            )
    finally:
        other.close()
    assert answers == ["got the lock"]
    assert event.pk is not None
    assert LabEvent.objects.get(pk=event.pk).task_id == "t-1"
