"""In Redis mode, the signed-in learner's user row is read through the Redis cache that holds the
sessions (config/sessions.py), which every web process on every host shares; embedded mode reads
it from the database, as Django does.

Every request reads its user: one SELECT, which with the checks around it took 8 % of the web's
CPU in a class of 200 (docs/PERFORMANCE.md). The database stays the record, and a copy must
never outlive a change to it: a deactivated learner or a changed password (which ends the
learner's other sessions) has to reach every process at once. So every save or delete of a user
marks its copy changed:

- before the write, so that a process that reads the row meanwhile does not cache it; when Redis
  does not answer, the write fails with the error (as a logout does, config/sessions.py), never
  leaving a copy that disagrees with the database;
- again once the transaction commits, for CHANGED_FOR seconds, so that a copy read from the
  database before the commit is not cached after it. Copies are filled with `add` (Redis SET NX),
  which a changed mark refuses.

A login's save of last_login alone marks nothing: no page reads it from the request's user.

A copy lives at most CACHED_FOR seconds. Writes that bypass `Model.save()` (`QuerySet.update`,
raw SQL, psql) send no signal: none in this app does; a change made that way reaches the pages
within CACHED_FOR.
"""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save

from config.sessions import shared_cache

logger = logging.getLogger(__name__)

CACHED_FOR = 60  # seconds; a learner's requests come every second or two during a lesson
CHANGED_FOR = 10  # seconds after a change during which no copy is cached
CHANGED = "changed"


def user_cache():
    """The sessions' Redis cache, or None in embedded mode (there is none to share)."""
    return shared_cache() if settings.SESSION_ENGINE == "config.sessions" else None


def user_key(user_id) -> str:
    return f"user:{user_id}"


class ModelBackendWithCachedUsers(ModelBackend):
    """Django's ModelBackend, whose `get_user` (every request's) reads through user_cache()."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None and username is not None and password is not None:
            # Wrong credentials end here: ModelBackend, listed after this one only for sessions
            # signed in before it, would check the password a second time.
            raise PermissionDenied
        return user

    def get_user(self, user_id):
        cache = user_cache()
        if cache is None:
            return super().get_user(user_id)
        try:
            cached = cache.get(user_key(user_id))
        except Exception:
            logger.warning("User cache unavailable; reading the user from the database", exc_info=True)
            return super().get_user(user_id)
        if cached is not None and cached != CHANGED:
            return cached if self.user_can_authenticate(cached) else None
        user = super().get_user(user_id)  # None for an unknown or inactive user: not cached
        if user is not None and cached is None:
            try:
                cache.add(user_key(user_id), user, CACHED_FOR)
            except Exception:
                logger.warning("User cache unavailable; the user was not cached", exc_info=True)
        return user


def mark_changed(user_id) -> None:
    cache = user_cache()
    if cache is not None:
        cache.set(user_key(user_id), CHANGED, CHANGED_FOR)  # raises when Redis does not answer


def mark_changed_after_commit(user_id) -> None:
    def mark():
        try:
            mark_changed(user_id)
        except Exception:  # the write is committed; the mark made before it holds CHANGED_FOR
            logger.warning("User cache unavailable after a change to user %s", user_id, exc_info=True)

    transaction.on_commit(mark)


def only_the_login_time(update_fields) -> bool:
    """A login saves the user's last_login alone (django.contrib.auth's update_last_login), which
    no page reads from the request's user: the copy stays, and a class that logs in and starts
    at once reads its users from Redis from the first page."""
    return update_fields is not None and set(update_fields) == {"last_login"}


def before_save(sender, instance, update_fields=None, **kwargs):
    if instance.pk is not None and not only_the_login_time(update_fields):
        mark_changed(instance.pk)


def after_save(sender, instance, created, update_fields=None, **kwargs):
    if not created and not only_the_login_time(update_fields):
        mark_changed_after_commit(instance.pk)


def after_delete(sender, instance, **kwargs):  # inside the delete's transaction
    mark_changed(instance.pk)
    mark_changed_after_commit(instance.pk)


def connect_signals() -> None:
    """Called once, from learn's AppConfig.ready (the user model is loaded by then)."""
    user_model = get_user_model()
    pre_save.connect(before_save, sender=user_model, dispatch_uid="config.users.before_save")
    post_save.connect(after_save, sender=user_model, dispatch_uid="config.users.after_save")
    post_delete.connect(after_delete, sender=user_model, dispatch_uid="config.users.after_delete")
