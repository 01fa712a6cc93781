"""What pages show of the curriculum that is the same for every learner until the next
`content sync` (a topic's counts of cards and questions, the claims it cites), kept by each web
process for the content version it was read at.

`content sync` gives the content a new version (ContentVersion, one row, written in the sync's
transaction). A page reads the version, one statement, and takes what it needs from this
process's copy for that version; the first page after a sync reads the database again. As with
the stored HTML (render.py), each process keeps its own copy and only the version is shared, so
a sync reaches every web process on every host at its next page. Content written by other means
than `content sync` (the tests' factories) has no version: then nothing is kept and every call
reads the database.

What is kept is shared by the process's request threads: callers never change it. A request
reads the version once (ContentVersionPerRequest, in settings.MIDDLEWARE), however many kept
things its page takes.
"""

import secrets
import threading
from collections.abc import Callable, Hashable
from contextvars import ContextVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.db import connection
from django.utils import timezone

KEPT: dict[Hashable, object] = {}
KEPT_VERSION: str | None = None
KEPT_LOCK = threading.Lock()


def new_content_version() -> None:
    """Give the content a new version: every process reads what it kept again (`content sync`)."""
    from learn.models import ContentVersion

    ContentVersion.objects.update_or_create(
        pk=1, defaults={"token": secrets.token_hex(16), "synced_at": timezone.now()}
    )


# The version this request read, set by the middleware below: {} until read. Outside a request
# (a command, a test calling a query) there is none, and every call reads the version.
REQUEST_VERSION: ContextVar[dict | None] = ContextVar("request_content_version", default=None)


def content_version() -> str | None:
    from learn.models import ContentVersion

    read = REQUEST_VERSION.get()
    if read is not None and "version" in read:
        return read["version"]
    # A plain cursor: the ORM's build and compile of this one-row read cost 0.3 ms of CPU, the
    # cursor 0.05 (and most pages ask).
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT token FROM {connection.ops.quote_name(ContentVersion._meta.db_table)} WHERE id = 1"
        )
        row = cursor.fetchone()
    version = row[0] if row else None
    if read is not None:
        read["version"] = version
    return version


class ContentVersionPerRequest:
    """Middleware: a request reads the content version at most once. Sync and async, so that it
    adds no hop to the lab's event stream (an async view)."""

    sync_capable = async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.respond_async(request)
        token = REQUEST_VERSION.set({})
        try:
            return self.get_response(request)
        finally:
            REQUEST_VERSION.reset(token)

    async def respond_async(self, request):
        token = REQUEST_VERSION.set({})
        try:
            return await self.get_response(request)
        finally:
            REQUEST_VERSION.reset(token)


def kept_for_content(key: Hashable, compute: Callable[[], object]):
    """`compute()`, or this process's copy of it for the content's current version. Keys must be
    bounded by the content (a topic's id, not a slug from a URL)."""
    global KEPT_VERSION
    version = content_version()
    if version is None:
        return compute()
    with KEPT_LOCK:
        if version != KEPT_VERSION:
            KEPT.clear()
            KEPT_VERSION = version
        if key in KEPT:
            return KEPT[key]
    value = compute()  # outside the lock: two threads may both compute it once
    with KEPT_LOCK:
        if version == KEPT_VERSION:
            KEPT[key] = value
    return value
