"""Sessions in Redis mode: the database's rows, read through a Redis cache that every web process
on every host shares (SESSION_ENGINE in config/settings.py; embedded mode keeps Django's `db`).

Every request (and every lab event stream, at its start) reads its session; from Redis that is
one GET instead of a SELECT and a pooled connection's round trip (docs/PERFORMANCE.md, "Sessions
from Redis"). The database stays the record: a session missing from the cache is read from it
and cached again. Django's `cached_db` store, with three changes for when Redis fails:

- Deleting a session (logout, and the old key at login) deletes the cached copy first, and
  stops with the error if Redis does not answer: a logout either ends the session everywhere or
  fails where the learner sees it, never leaving a copy that still signs them in.
- Reads and writes otherwise carry on from the database when Redis does not answer (a page is
  served, the error logged), as in embedded mode.
- A cached copy lives at most CACHED_FOR seconds, so one a failed write left behind (an older
  anonymous visitor's ratings) is read again from the database soon.
"""

import logging
import threading

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.sessions.backends import cached_db
from django.core.cache import caches

logger = logging.getLogger("django.contrib.sessions")

CACHED_FOR = 600  # seconds


SHARED: dict[str, object] = {}
SHARED_LOCK = threading.Lock()


def shared_cache():
    """The session cache, one per process. Django's `caches[alias]` is one per request under
    ASGI (its storage follows the request's context), and each new RedisCache opens a new
    connection to Redis: one TCP connection per request, slower than the SELECT it replaces."""
    config = settings.CACHES[settings.SESSION_CACHE_ALIAS]
    key = repr(config)  # settings may change (tests point it elsewhere): one per configuration
    with SHARED_LOCK:
        if key not in SHARED:
            SHARED[key] = caches.create_connection(settings.SESSION_CACHE_ALIAS)
        return SHARED[key]


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key=None):
        super(cached_db.SessionStore, self).__init__(session_key)  # db.SessionStore's
        self._cache = shared_cache()

    def load(self):
        try:
            data = self._cache.get(self.cache_key)
        except Exception:
            logger.warning("Session cache unavailable; reading the session from the database", exc_info=True)
            data = None
        if data is not None:
            return data
        row = self._get_session_from_db()
        if not row:
            return {}
        data = self.decode(row.session_data)
        self.cache_quietly(data, self.get_expiry_age(expiry=row.expire_date))
        return data

    # The async view (the lab's stream) and any async caller go through the same code, on a thread.
    async def aload(self):
        return await sync_to_async(self.load)()

    async def aexists(self, session_key):
        return await sync_to_async(self.exists)(session_key)

    async def asave(self, must_create=False):
        await sync_to_async(self.save)(must_create)

    async def adelete(self, session_key=None):
        await sync_to_async(self.delete)(session_key)

    def exists(self, session_key):
        return bool(session_key) and self.model.objects.filter(session_key=session_key).exists()

    def save(self, must_create=False):
        super(cached_db.SessionStore, self).save(must_create)  # the database row: db.SessionStore
        self.cache_quietly(self._session, self.get_expiry_age())

    def delete(self, session_key=None):
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self._cache.delete(self.cache_key_prefix + session_key)  # raises when Redis is down
        super(cached_db.SessionStore, self).delete(session_key)

    def cache_quietly(self, data, expiry_age: int) -> None:
        try:
            self._cache.set(self.cache_key, data, min(expiry_age, CACHED_FOR))
        except Exception:
            logger.warning("Session cache unavailable; the session is in the database only", exc_info=True)
