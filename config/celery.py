"""The project's only Celery app. Its configuration comes from Django settings (CELERY_*)."""

import ctypes
import os
import signal

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


# --- Sandbox workers (live_lab/sandbox.py): nothing of theirs outlives a run -------------------
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
sandbox_main_pid: int | None = None


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (prctl(2), PR_SET_PDEATHSIG).

    The signal comes when the parent *thread* that forked this process exits. A prefork pool
    process is forked by the worker's main thread (at start; in Redis mode also each
    replacement) or by billiard's supervisor thread (replacements without an event loop, on the
    filesystem broker); both live as long as the worker's main process.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


@worker_init.connect
def end_the_sandbox_after_its_lifetime(**kwargs):
    """In a sandbox worker: SIGKILL itself LAB_SANDBOX_LIFETIME seconds from now, and exit at once
    if the process that started it is already gone.

    SIGALRM with its default action is the kernel's to deliver: it kills the process even if
    Python is stuck. Pool processes die with it (die_in_the_sandbox_with_the_worker).
    """
    global sandbox_main_pid
    from django.conf import settings

    if settings.LAB_SANDBOX is None:
        return
    sandbox_main_pid = os.getpid()
    # setpriv set the parent-death signal before exec; a starter that died before that left this
    # process to init, and nobody would kill it before the alarm.
    starter = os.environ.get("LAB_SANDBOX_STARTER_PID", "")
    if starter and os.getppid() != int(starter):
        os._exit(1)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(settings.LAB_SANDBOX_LIFETIME)


@worker_process_init.connect
def die_in_the_sandbox_with_the_worker(**kwargs):
    """In a sandbox worker's pool process: die when the worker's main process dies (SIGKILL too,
    which the worker cannot pass on), so that killing the worker leaves nothing behind."""
    if sandbox_main_pid is None or os.getpid() == sandbox_main_pid:  # not a sandbox; the solo pool
        return
    die_with_parent()
    if os.getppid() != sandbox_main_pid:  # the worker died before the line above
        os._exit(1)
