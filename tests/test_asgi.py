"""config/asgi.py, the application uvicorn serves, called as uvicorn calls it: ordinary requests
on a request thread in one hop, the lab's event stream on the event loop."""

import asyncio
import gc
import re
import threading
import uuid

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.core.signals import request_started
from django.test import Client
from django.utils import timezone

from config.asgi import OneHopHandler, application
from live_lab.models import LabRun
from tests.factories import make_learner

pytestmark = pytest.mark.django_db(transaction=True)  # the request threads see committed rows


def http_scope(method: str, path: str, headers: list | None = None) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), *(headers or [])],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


def serve(method: str, path: str, *, cookies: dict | None = None, body: bytes = b"") -> tuple:
    """(status, headers, body) of one request to the application."""
    headers = []
    if cookies:
        headers.append((b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()))
    if body:
        headers.append((b"content-type", b"application/x-www-form-urlencoded"))
    scope = http_scope(method, path, headers)

    async def exchange():
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
        start = await communicator.receive_output(20)
        chunks = []
        while True:
            message = await communicator.receive_output(20)
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await communicator.wait(5)
        return start["status"], start["headers"], b"".join(chunks)

    return async_to_sync(exchange)()


def test_a_login_form_posted_to_the_application_reaches_its_view_with_its_cookie_and_fields():
    make_learner("ada")
    status, headers, page = serve("GET", "/accounts/login/")
    assert status == 200
    cookies = b" ".join(value for name, value in headers if name.lower() == b"set-cookie")
    csrf_cookie = re.search(rb"csrftoken=([^;]+)", cookies).group(1).decode()
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()

    body = f"csrfmiddlewaretoken={token}&username=ada&password=wrong-password".encode()
    status, _, page = serve("POST", "/accounts/login/", cookies={"csrftoken": csrf_cookie}, body=body)

    assert status == 200
    assert "Please enter a correct username and password" in page.decode()


def test_a_missing_page_is_a_404():
    status, _, _ = serve("GET", "/no-such-page/")

    assert status == 404


def test_the_lab_event_stream_is_streamed_by_the_application():
    learner = make_learner()
    run = LabRun.objects.create(
        owner=learner,
        experiment="success",
        task_id=str(uuid.uuid4()),
        prediction=["PENDING", "SUCCESS"],
        status=LabRun.Status.FINISHED,
        finished_at=timezone.now(),
    )
    client = Client()
    client.force_login(learner)

    status, headers, body = serve(
        "GET", f"/lab/runs/{run.pk}/events", cookies={"sessionid": client.cookies["sessionid"].value}
    )

    assert status == 200
    assert (b"content-type", b"text/event-stream") in [(name.lower(), value) for name, value in headers]
    assert body.decode().startswith("event: lanes\n")
    assert body.decode().endswith("event: done\ndata: over\n\n")


def test_a_request_whose_browser_left_while_it_waited_for_a_thread_is_not_served():
    handler = OneHopHandler(threads=1, password_threads=1)
    busy = threading.Event()
    handler.threads.submit(busy.wait)  # the one request thread is taken, as by a login
    served = []

    def count_request(**kwargs):
        served.append(kwargs["scope"]["path"])

    async def leave_while_waiting():
        communicator = ApplicationCommunicator(handler, http_scope("GET", "/accounts/login/"))
        await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
        await communicator.send_input({"type": "http.disconnect"})
        await asyncio.sleep(0.2)  # the disconnect is noticed while the request waits
        busy.set()
        await communicator.wait(10)
        return await communicator.receive_nothing(0.2)

    request_started.connect(count_request)
    try:
        nothing_sent = async_to_sync(leave_while_waiting)()
    finally:
        request_started.disconnect(count_request)
        busy.set()

    assert nothing_sent
    assert served == [], "the request was never run"


def test_a_page_is_served_while_logins_wait_for_the_password_thread():
    handler = OneHopHandler(threads=1, password_threads=1)
    busy = threading.Event()
    handler.password_threads.submit(busy.wait)  # a login is checking its password

    async def login_then_page():
        login = ApplicationCommunicator(handler, http_scope("POST", "/accounts/login/"))
        await login.send_input({"type": "http.request", "body": b"", "more_body": False})
        page = ApplicationCommunicator(handler, http_scope("GET", "/healthz"))
        await page.send_input({"type": "http.request", "body": b"", "more_body": False})
        page_status = (await page.receive_output(10))["status"]
        login_waits = await login.receive_nothing(0.2)
        busy.set()
        login_status = (await login.receive_output(10))["status"]
        await page.wait(5)
        await login.wait(5)
        return page_status, login_waits, login_status

    try:
        page_status, login_waits, login_status = async_to_sync(login_then_page)()
    finally:
        busy.set()

    assert page_status == 200, "the page did not wait for the logins"
    assert login_waits, "the login waited for the password thread"
    assert login_status == 403, "then it was served (refused here: no CSRF token)"


def nice_value_of_this_thread() -> int:
    """The calling thread's nice value, as the kernel schedules it (field 19 of its stat)."""
    stat = open(f"/proc/self/task/{threading.get_native_id()}/stat").read()  # noqa: PTH123, SIM115
    return int(stat.rsplit(")", 1)[1].split()[16])


def test_passwords_are_checked_below_the_pages_cpu_priority():
    handler = OneHopHandler(threads=1, password_threads=1, niceness=10)

    page_thread = handler.threads.submit(nice_value_of_this_thread).result(5)
    password_thread = handler.password_threads.submit(nice_value_of_this_thread).result(5)

    assert page_thread == nice_value_of_this_thread(), "a page runs at the process's priority"
    assert password_thread == min(19, page_thread + 10), "a login's hash yields the CPU to pages"


def test_what_starting_made_is_left_out_of_the_collectors_full_passes():
    # config.asgi, imported above, froze them once, at import.
    assert gc.get_freeze_count() > 10_000, "the modules, URLconf and settings made at start are frozen"
