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

What is kept is shared by the process's request threads: callers never change it.
"""

import secrets
import threading
from collections.abc import Callable, Hashable

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


def content_version() -> str | None:
    from learn.models import ContentVersion

    return ContentVersion.objects.filter(pk=1).values_list("token", flat=True).first()


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
