"""The project's only Celery app. Its configuration comes from Django settings (CELERY_*)."""

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def notice_shutdown_quickly(**kwargs):
    """In a worker on the embedded broker, wake up every 0.25 s so Ctrl-C stops it at once."""
    from config.filesystem_broker import Transport

    Transport.drain_timeout_cap = 0.25


@worker_process_init.connect
def leave_the_workers_process_group(**kwargs):
    """Move each prefork child into a process group of its own.

    honcho (`make run`) stops a process by signalling its whole group. A pool child that gets
    SIGTERM while it holds the pool's queue lock leaves the main process hung at exit in
    billiard's Pool._help_stuff_finish. Out of the group, only the main process gets the
    signal and shuts its children down itself; revoke(terminate=True) still signals a child by
    pid.
    """
    os.setpgid(0, 0)
