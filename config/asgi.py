"""The ASGI application uvicorn serves: Django, each request on the shorter of two roads.

A request for an async view (the lab's event stream) goes through Django's ASGI handler, on the
event loop. Every other request runs Django's middleware chain and its view in one call on one
of this process's request threads. Under Django's ASGI handler a sync view with sync-only
middlewares (Django's own are `MiddlewareMixin`s) hops from the event loop to a thread and back
about twenty times a request, twice for each middleware; those hops were a fifth of the web's CPU
in the classroom profile (docs/PERFORMANCE.md, "Fewer hops"). Here it is one hop, as a WSGI
server in front of Django would run it, while streams stay on the loop.

The request threads are few (settings.WEB_THREADS): past them, requests wait on the event loop
without holding a database connection. A request that checks a password (a login or a signup
POST: Argon2id, ~22 ms of CPU by design, config/passwords.py) runs on a thread of its own kind
(settings.WEB_PASSWORD_THREADS), so that a class logging in at once queues behind its own
logins, not in front of the pages of the learners already in; and at a lower CPU priority
(settings.WEB_PASSWORD_NICENESS), so that the logins' hashing takes the cores the pages leave.
"""

import asyncio
import gc
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core import signals
from django.core.asgi import get_asgi_application
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.urls import Resolver404, resolve, set_script_prefix

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
logger = logging.getLogger(__name__)
# The event loop that pushes the lab's server-sent events shares the interpreter lock with
# request threads and the lab's observer; Python's default 5 ms switch interval put up to
# 5 ms between the observer's reading and the push (docs/PERFORMANCE.md).
sys.setswitchinterval(0.001)


class OneHopHandler(ASGIHandler):
    """Django's ASGI handler with the middleware chain loaded for sync code, called once per
    request on a request thread: request_started, the middlewares and the view, and (for a
    response that is not streamed) request_finished, which gives the database connection back
    before the response is sent."""

    def __init__(self, *, threads: int, password_threads: int, niceness: int = 0):
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.threads = ThreadPoolExecutor(threads, thread_name_prefix="request")
        self.respond_in_thread = sync_to_async(self.respond, thread_sensitive=False, executor=self.threads)
        self.password_threads = ThreadPoolExecutor(
            password_threads,
            thread_name_prefix="password",
            initializer=yield_cpu_to_pages,
            initargs=(niceness,),
        )
        self.respond_checking_password = sync_to_async(
            self.respond, thread_sensitive=False, executor=self.password_threads
        )

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        # A browser that gave up while its request waited for a thread (behind a burst of
        # logins) is not served: the threads go to requests that someone still waits for.
        gone = threading.Event()
        listener = asyncio.create_task(self.note_disconnect(receive, gone))
        respond = self.respond_checking_password if checks_a_password(scope) else self.respond_in_thread
        try:
            response = await respond(scope, body_file, gone)
        finally:
            listener.cancel()
        if response is None:
            return
        try:
            await self.send_response(response, send)
        finally:
            if response.streaming:  # a static file: closed once it is sent
                await sync_to_async(response.close)()

    async def note_disconnect(self, receive, gone: threading.Event) -> None:
        if (await receive())["type"] == "http.disconnect":
            gone.set()

    def respond(self, scope, body_file, gone: threading.Event):
        if gone.is_set():
            body_file.close()
            return None
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
        else:
            response = self.get_response(request)
        if not response.streaming:
            response.close()  # request_finished; closes the body file too
        return response


def yield_cpu_to_pages(niceness: int) -> None:
    """Lower the calling thread's CPU priority by `niceness`. A password hash runs outside the
    interpreter lock, so without this a burst of logins takes every core from the pages of the
    learners already in. Linux keeps a nice value per thread; elsewhere the thread keeps the process's."""
    if not niceness or not sys.platform.startswith("linux"):
        return
    try:
        lower = os.getpriority(os.PRIO_PROCESS, 0) + niceness  # the kernel stops at 19
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), lower)
    except OSError:  # a sandbox without setpriority: logins still work, at the pages' priority
        logger.warning("Could not lower the password thread's priority", exc_info=True)


def serves_async_view(scope) -> bool:
    return is_async_view_path(scope["path"].removeprefix(scope.get("root_path", "")) or "/")


def checks_a_password(scope) -> bool:
    """A login or signup POST: Django's password hasher runs (config/passwords.py)."""
    if scope["method"] != "POST":
        return False
    return url_name_of(scope["path"].removeprefix(scope.get("root_path", "")) or "/") in PASSWORD_VIEWS


PASSWORD_VIEWS = {"login", "signup"}


@lru_cache(maxsize=4096)
def url_name_of(path: str) -> str | None:
    try:
        return resolve(path).url_name
    except Resolver404:
        return None


@lru_cache(maxsize=4096)  # the URLconf does not change while the process runs
def is_async_view_path(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return iscoroutinefunction(match.func)


def router():
    from django.conf import settings

    async_views = get_asgi_application()  # sets Django up first
    sync_views = OneHopHandler(
        threads=settings.WEB_THREADS,
        password_threads=settings.WEB_PASSWORD_THREADS,
        niceness=settings.WEB_PASSWORD_NICENESS,
    )
    # The URLconf (and every view module) is imported now, at start, not by the first request
    # on the event loop, which would wait for it.
    is_async_view_path("/")

    async def application(scope, receive, send):
        if scope["type"] == "http" and not serves_async_view(scope):
            return await sync_views(scope, receive, send)
        return await async_views(scope, receive, send)

    return application


application = router()
# What starting made (modules, the URLconf, the settings: some 100,000 objects) lives as long as
# the process. Frozen, it is left out of the garbage collector's full passes, each of which holds
# the interpreter lock, so that every request of the process waits: a full pass of a process
# warmed by six pages took 78 ms with them, 4 ms without (docs/PERFORMANCE.md).
# https://docs.python.org/3/library/gc.html#gc.freeze
gc.collect()
gc.freeze()
