"""The embedded broker (config/filesystem_broker.py) under a real worker and under kombu alone."""

import threading
import time

import pytest
from django.conf import settings
from django.db import OperationalError, transaction
from kombu import Connection, Exchange, Queue

from live_lab.queries import wait_for_result
from live_lab.tasks import add
from quizzes.models import PracticeAnswer
from tests.factories import make_learner, make_question
from tests.kombu_race import race_producer_and_consumer, transport_options
from tests.worker_tasks import record_execution

pytestmark = [pytest.mark.embedded_only]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_idle_worker_survives_a_long_run_of_tasks_sent_one_by_one(celery_worker, tmp_path):
    """kombu #1551: the stock transport let an idle worker read a half-written message and die."""
    executions = tmp_path / "executions.txt"
    sent = []
    for _ in range(300):
        task_id = record_execution.delay(str(executions)).id
        sent.append(task_id)
        # Wait for it, so that every message lands on a worker that is idle and polling.
        assert wait_for_result(task_id, timeout=10) == task_id

    assert celery_worker.is_alive()
    assert celery_worker.answers_ping()
    lines = executions.read_text().split()
    assert sorted(lines) == sorted(sent), "every task ran exactly once"
    log = celery_worker.log()
    assert "JSONDecodeError" not in log
    assert "Unrecoverable error" not in log


def test_kombu_loses_no_message_and_reads_none_half_written(tmp_path):
    """A producer and a consumer process racing flat out on the transport alone.

    With kombu's stock filesystem transport this loses about 0.3 % of the messages to
    JSONDecodeError (bench/filesystem_race.py shows it side by side).
    """
    outcome = race_producer_and_consumer("config.filesystem_broker:Transport", tmp_path, total=4000)

    assert outcome.errors == []
    assert outcome.received == list(range(4000))
    assert not list(tmp_path.rglob("*.part")), "no temporary file is left behind"


def test_a_deleted_queue_leaves_no_empty_exchange_table_and_a_shared_one_keeps_the_rest(tmp_path):
    options = transport_options(tmp_path)
    private = Queue("sandbox-1", Exchange("sandbox-1"), routing_key="sandbox-1")
    shared = [Queue(name, Exchange("shared", type="fanout")) for name in ("a", "b")]
    with Connection(transport="config.filesystem_broker:Transport", transport_options=options) as connection:
        channel = connection.default_channel
        for queue in [private, *shared]:
            queue(channel).declare()
        private(channel).delete()
        shared[0](channel).delete()

        assert not (tmp_path / "control" / "sandbox-1.exchange").exists()
        assert [row[2] for row in channel.get_table("shared")] == ["b"]


@pytest.mark.worker
@pytest.mark.sqlite_only
@pytest.mark.django_db(transaction=True)
def test_web_writes_never_hit_database_is_locked_while_the_worker_stores_results(celery_worker):
    """The worker writes every result to SQLite; web transactions that read then write go on."""
    question = make_question()
    learner = make_learner()
    sent = [add.delay(n, n) for n in range(150)]
    failures, done = [], threading.Event()

    def web_requests():
        # What a view does: read, then write, in one transaction; then the next request.
        while not done.is_set():
            try:
                with transaction.atomic():
                    PracticeAnswer.objects.filter(learner=learner).count()
                    PracticeAnswer.objects.create(learner=learner, question=question, is_correct=True)
            except OperationalError as exc:
                failures.append(exc)
            time.sleep(0.005)

    writers = [threading.Thread(target=web_requests) for _ in range(2)]
    for writer in writers:
        writer.start()
    try:
        results = [wait_for_result(task.id, timeout=60) for task in sent]
    finally:
        done.set()
        for writer in writers:
            writer.join()

    assert results == [n + n for n in range(150)]
    assert failures == []
    assert PracticeAnswer.objects.count() > 100, "the web side really wrote while the worker did"
    assert "database is locked" not in celery_worker.log()
    assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
