"""A run page served by one web process while another fired (and observes) the run: every
transition reaches the page pushed, not found by a poll of the page (live_lab/run_changes.py).

Two real uvicorn processes share the test database and the mode's broker (Redis pub/sub
carries the news in Redis mode; one watcher per process looks for all its pages otherwise).
"""

import json
import os
import time
from pathlib import Path

import pytest
from django.conf import settings

from live_lab.models import LabRun
from live_lab.views import RENDER_AT_LEAST_EVERY
from tests.conftest import worker_env
from tests.factories import make_learner
from tests.live_lab.runs import wait_until_over
from tests.web_process import EventStream, Learner, WebProcess, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_web_processes(celery_worker, tmp_path):
    """The serving process counts its SQL statements by request kind (bench/querycount) into
    tmp_path."""
    counting = {
        **worker_env(),
        "PYTHONPATH": os.pathsep.join([str(Path(settings.BASE_DIR) / "bench" / "querycount")]),
        "BENCH_QUERY_COUNT_DIR": str(tmp_path),
    }
    first, second = WebProcess("fires"), WebProcess("serves-the-page", env=counting)
    second.statements_dir = tmp_path
    yield first, second
    first.stop()
    second.stop()


def lanes_shown(stream: EventStream) -> list[str]:
    return [data for _, name, data in stream.events if name == "lanes"]


def test_a_page_served_by_another_web_process_gets_every_transition_pushed(two_web_processes):
    firing, serving = two_web_processes
    learner = make_learner()
    at_firing, at_serving = Learner(learner, firing), Learner(learner, serving)

    fired_at = time.monotonic()
    status, headers, _ = at_firing.fire("slow-tracked", seconds=2, prediction="PENDING, STARTED, SUCCESS")
    assert status == 302
    run = LabRun.objects.get(pk=headers["Location"].rstrip("/").rsplit("/", 1)[1])
    stream = EventStream(at_serving, run.pk)
    stream.wait_until_done(timeout=20)

    run = wait_until_over(run)
    assert run.is_prediction_right is True
    shown = lanes_shown(stream)
    mid_run = [
        lanes for lanes in shown if "<code>STARTED</code>" in lanes and "<code>SUCCESS</code>" not in lanes
    ]
    assert mid_run, (
        "the page showed the run while it was STARTED",
        [(round(at - fired_at, 2), name, data.count("<tr>")) for at, name, data in stream.events],
    )
    assert "<code>SUCCESS</code>" in shown[-1]
    assert "Your prediction was <strong>right</strong>" in shown[-1]
    assert "<td>succeeded</td>" in shown[-1], "lane 2 too"
    done_at = next(at for at, name, _ in stream.events if name == "done")
    # A 2 s task: the page had its end within seconds of it, not at its next look of its own.
    assert done_at - fired_at < RENDER_AT_LEAST_EVERY / 2

    if settings.RUN_MODE == "redis":
        # The changes came with the rows to show: the stream read its learner's session and
        # user, the run, and once its lanes (the run again and its four kinds of rows; once
        # this process has heard of the run, not even that), not once per change.
        def stream_statements():
            counts = [json.loads(p.read_text()) for p in serving.statements_dir.glob("*.json")]
            return sum(c.get("stream", [0, 0])[1] for c in counts)

        time.sleep(0.6)  # the process writes its counts every half second
        wait_until(stream_statements, "the serving process's statement counts", 5)
        assert stream_statements() <= 8
