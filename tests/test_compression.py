"""Pages go out gzip-compressed when the browser asks for it; the lab's event stream never does."""

import gzip
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.utils import timezone

from live_lab.models import LabRun
from tests.factories import make_learner, make_topic


@pytest.mark.django_db
def test_a_page_is_served_gzip_compressed_when_the_browser_accepts_it(client):
    make_topic(title="Task results in Django")

    response = client.get("/", headers={"Accept-Encoding": "gzip, deflate, br"})

    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    page = gzip.decompress(response.content).decode()
    assert "Task results in Django" in page
    assert len(response.content) < len(page.encode())


@pytest.mark.django_db
def test_a_page_is_plain_for_a_browser_that_does_not_accept_gzip(client):
    make_topic(title="Task results in Django")

    response = client.get("/")

    assert not response.has_header("Content-Encoding")
    assert "Task results in Django" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_lab_event_stream_is_never_compressed():
    learner = make_learner()
    run = LabRun.objects.create(
        owner=learner,
        experiment="success",
        task_id=str(uuid.uuid4()),
        prediction=["PENDING", "SUCCESS"],
        status=LabRun.Status.FINISHED,
        finished_at=timezone.now(),
    )

    async def read_stream():
        client = AsyncClient()
        await client.aforce_login(learner)
        response = await client.get(f"/lab/runs/{run.pk}/events", headers={"Accept-Encoding": "gzip"})
        return response, b"".join([chunk async for chunk in response.streaming_content])

    response, body = async_to_sync(read_stream)()

    assert response["Content-Type"] == "text/event-stream"
    assert not response.has_header("Content-Encoding")
    text = body.decode()  # plain text: gzip would start with bytes 1f 8b, not UTF-8
    assert text.startswith("event: lanes\n")
    assert text.endswith("event: done\ndata: over\n\n")
