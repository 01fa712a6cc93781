"""Sandbox workers: a real `celery worker` of its own for one lab run (docs/live-lab.md).

A run that needs to break a worker (kill a pool process mid-task, kill the whole worker, restart
it) cannot do it to the shared worker. It gets a worker started for it with the configuration
it chose (live_lab/sandbox_config.py), on a private queue `sandbox-<id>`, with its own hostname.

Guarantees:
- At most LAB_SANDBOXES run at once across the site: each holds a SandboxClaim row with a
  unique slot number. A run that finds none free gets SandboxesBusy, not a wait.
- Nothing outlives its run, even if the process that started it dies, SIGKILL included: the
  worker is started through `setpriv --pdeathsig KILL`, so the kernel kills it when its
  starter dies; its pool processes die with it (config/celery.py, worker_process_init); and it
  kills itself LAB_SANDBOX_LIFETIME seconds after it started (SIGALRM), after which its claim
  is free for another run.
- Nothing of it stays in the broker either: its private queue, the queue's binding (on Redis
  kombu's `_kombu.binding.<queue>` sets) and its unacked keys are deleted when it stops, and by
  whichever process frees its claim when its holder died or its lifetime passed.
- Every wait here is bounded.
"""

import contextlib
import datetime as dt
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from kombu import Exchange, Queue

from config.celery import app
from live_lab.models import SandboxClaim
from live_lab.sandbox_config import SandboxConfig, unacked_keys

logger = logging.getLogger(__name__)

START_TIMEOUT = 30.0  # seconds for a new worker to answer a ping; measured start: docs/live-lab.md
STOP_TIMEOUT = 10.0  # seconds for a warm shutdown before everything is SIGKILLed
# A claim outlives its worker's lifetime by this much: the worker is started a moment after the
# claim, and its alarm is set a moment after that.
CLAIM_MARGIN = dt.timedelta(seconds=15)

# The kernel's parent-death signal fires when the *thread* that forked the worker exits, not the
# process. Request threads come and go, so every sandbox is forked by this one thread, which
# lives as long as the process (a ThreadPoolExecutor's thread never exits while idle).
launcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-launcher")


class SandboxFailed(Exception):
    """A sandbox worker did not start or did not answer in time; its log says why."""


@dataclass(frozen=True)
class SandboxesBusy:
    """What a run gets when every sandbox worker of the site is in use."""

    limit: int

    @property
    def message(self) -> str:
        if self.limit == 0:
            return "Sandbox workers are turned off on this site (LAB_SANDBOXES=0)."
        return (
            f"All {self.limit} sandbox workers are in use by other runs. Wait for one to finish "
            f"(at most {settings.LAB_SANDBOX_LIFETIME} s) and fire again."
        )


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def database_env() -> dict:
    """This process's environment, with the database it really uses: a sandbox worker writes
    lane 2 and (embedded) results where this process reads them, also when that is a test
    database named by the test runner rather than the environment."""
    name = str(settings.DATABASES["default"]["NAME"])
    if settings.DATABASE_URL:
        return {
            **os.environ,
            "DATABASE_URL": urlsplit(settings.DATABASE_URL)._replace(path="/" + name).geturl(),
        }
    return {**os.environ, "APP_SQLITE_PATH": name}


SANDBOX_HOSTNAME = re.compile(r"^(sandbox-[0-9a-f]{12})@")
# A claim names only a sandbox's first worker: the reaper also cleans up after this many
# workers started again on its queue (an experiment or a challenge restarts it once).
RESTARTS_REAPED = 3


def restarted_names(hostname: str, starts: int) -> list[str]:
    """The hostnames of a sandbox's workers, the first one `hostname` (sandbox-<id>@<host>):
    each start after the first is sandbox-<id>-<n>@<host> (Sandbox.start)."""
    name, _, host = hostname.partition("@")
    return [hostname] + [f"{name}-{n}@{host}" for n in range(2, starts + 1)]


def delete_queue(name: str, *, hostnames: list[str] = ()) -> None:
    """Delete a sandbox's private queue and its binding from the broker (with what a kill left
    in it), the remote-control queues of its workers (`hostnames`), and on Redis its
    unacknowledged messages. Harmless if it fails: nobody consumes those queues again."""
    # A worker SIGKILLed never unbinds its remote-control queue from the celery.pidbox fanout
    # exchange: on the filesystem broker every broadcast (each ping, each inspect) then leaves a
    # message file for it in queue/, which every poll lists; on Redis a member stays in kombu's
    # `_kombu.binding.celery.pidbox` set for as long as live workers keep that table.
    queues = [Queue(name, Exchange(name), routing_key=name)]
    queues += [app.control.mailbox.get_queue(hostname) for hostname in hostnames]
    try:
        with app.connection_for_write() as connection_to_broker:
            channel = connection_to_broker.default_channel
            for queue in queues:
                # kombu deletes only the bindings this process declared: declare it (as the
                # worker did), then empty and delete it.
                bound = queue(channel)
                bound.declare()
                bound.purge()
                bound.delete()
            if settings.RUN_MODE == "redis":
                channel.client.delete(*unacked_keys(name).values())
    except Exception:  # the broker is down for a moment: a few stale keys or files stay in it
        logger.warning("Could not delete the sandbox queue %s", name, exc_info=True)


def delete_claims(claims) -> None:
    """Delete these claims of sandboxes whose holder did not stop them (it died, or their
    lifetime passed: their workers are dead), then their queues, which nobody else deletes."""
    for pk, holder, hostname in claims.values_list("pk", "holder", "hostname"):
        deleted, _ = SandboxClaim.objects.filter(pk=pk, holder=holder).delete()
        queue = SANDBOX_HOSTNAME.match(hostname)
        if deleted and queue:  # only the process that deleted the claim deletes the queue
            delete_queue(queue.group(1), hostnames=restarted_names(hostname, RESTARTS_REAPED))


def free_claims_of_dead_holders() -> None:
    """Delete the claims of processes of this host that no longer run: their workers died with
    them (the parent-death signal), so the slot need not wait for the claim to expire."""
    host = socket.gethostname()
    dead = []
    for pk, holder in SandboxClaim.objects.values_list("pk", "holder"):
        holder_host, _, pid = holder.rpartition(":")
        if holder_host == host and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            dead.append(pk)
    if dead:
        delete_claims(SandboxClaim.objects.filter(pk__in=dead))


def claim_sandbox_slot(*, hostname: str) -> SandboxClaim | None:
    """Claim a free slot for a sandbox worker, or None when all LAB_SANDBOXES are taken.

    Claims whose worker's lifetime has passed are free again (their holder died or forgot to
    release). Each insert is one short transaction; the unique slot makes two processes that
    chose the same free slot fail one of them, which then tries the next.
    """
    now = timezone.now()
    delete_claims(SandboxClaim.objects.filter(expires_at__lte=now))
    free_claims_of_dead_holders()
    taken = set(SandboxClaim.objects.values_list("slot", flat=True))
    for slot in range(settings.LAB_SANDBOXES):
        if slot in taken:
            continue
        try:
            with transaction.atomic():
                return SandboxClaim.objects.create(
                    slot=slot,
                    holder=this_process(),
                    hostname=hostname,
                    claimed_at=now,
                    expires_at=now + dt.timedelta(seconds=settings.LAB_SANDBOX_LIFETIME) + CLAIM_MARGIN,
                )
        except IntegrityError:
            continue  # another process claimed it since the read above
    return None


def start_sandbox(config: SandboxConfig, *, env: dict | None = None) -> "Sandbox | SandboxesBusy":
    """Claim a slot and start a sandbox worker in it, ready (it answered a ping).

    `env` is the worker's environment (default: this process's). Raises SandboxFailed, with the
    slot released, if the worker does not start.
    """
    sandbox = Sandbox(config, env=env)
    sandbox.claim = claim_sandbox_slot(hostname=sandbox.hostname)
    if sandbox.claim is None:
        return SandboxesBusy(limit=settings.LAB_SANDBOXES)
    try:
        sandbox.start()
    except BaseException:
        sandbox.stop(keep_log=True)
        raise
    return sandbox


def pool_pids(pid: int) -> list[int]:
    """The children of a process, whichever of its threads forked them (billiard's supervisor
    thread forks the replacements of dead pool processes on the filesystem broker)."""
    found = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found.extend(int(child) for child in children.read_text().split())
    return sorted(found)


class Sandbox:
    """One sandbox worker: started, broken and stopped by the run that claimed it."""

    def __init__(self, config: SandboxConfig, *, env: dict | None = None):
        self.config = config
        self.id = uuid.uuid4().hex[:12]
        self.queue = f"sandbox-{self.id}"
        self.hostname = f"sandbox-{self.id}@{socket.gethostname()}"
        self.starts = 0  # each start after the first gets a hostname of its own (restart())
        self.log_path = Path(settings.RUNTIME_DIR) / "sandboxes" / f"{self.id}.log"
        self.env = {
            **(database_env() if env is None else env),
            "LAB_SANDBOX": config.to_json(),
            "LAB_SANDBOX_LIFETIME": str(settings.LAB_SANDBOX_LIFETIME),
            "LAB_SANDBOX_STARTER_PID": str(os.getpid()),
            "LAB_SANDBOX_QUEUE": self.queue,  # names its own unacked keys in Redis (settings.py)
        }
        self.claim: SandboxClaim | None = None
        self.process: subprocess.Popen | None = None
        self.queue_deleted = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def is_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pool_pids(self) -> list[int]:
        return pool_pids(self.pid) if self.is_alive() else []

    def answers_ping(self, timeout: float = 0.5) -> bool:
        replies = app.control.ping(destination=[self.hostname], timeout=timeout)
        return any(self.hostname in reply for reply in replies)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the worker and wait until it answers a ping (at most `timeout` seconds)."""
        if self.is_alive():
            raise SandboxFailed(f"the sandbox worker {self.hostname} is already running")
        self.starts += 1
        if self.starts > 1:
            # A new name for a new worker on the same queue: lane 2 then tells apart which of
            # them received and ran the task (the one killed, the one started after it).
            self.hostname = f"sandbox-{self.id}-{self.starts}@{socket.gethostname()}"
        if self.claim is not None:  # a new worker has a new lifetime
            expires_at = timezone.now() + dt.timedelta(seconds=settings.LAB_SANDBOX_LIFETIME) + CLAIM_MARGIN
            SandboxClaim.objects.filter(pk=self.claim.pk).update(expires_at=expires_at)
        self.process = launcher.submit(self.launch).result(timeout=10)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_alive():
                raise SandboxFailed(f"the sandbox worker exited at start; see {self.log_path}")
            if self.answers_ping():
                return
        self.kill()
        raise SandboxFailed(
            f"the sandbox worker did not answer a ping in {timeout:.0f} s; see {self.log_path}"
        )

    def launch(self) -> subprocess.Popen:
        """Runs on the launcher thread (see `launcher`)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as log:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                ["setpriv", "--pdeathsig", "KILL", "--"]
                + [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO"]
                + [f"--pool={self.config.pool}", f"--concurrency={self.config.concurrency}"]
                + [f"--hostname={self.hostname}", f"--queues={self.queue}"]
                # Nothing to sync with: no other worker shares its queue. Mingle alone waits ~1 s.
                + ["--without-mingle", "--without-gossip"],
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C meant for the web process is not for it
            )

    def kill_pool_process(self) -> int:
        """SIGKILL one pool process, as the out-of-memory killer would; returns its pid."""
        pids = self.pool_pids()
        if not pids:
            raise SandboxFailed(f"the sandbox worker {self.hostname} has no pool process to kill")
        os.kill(pids[0], signal.SIGKILL)
        return pids[0]

    def kill(self) -> None:
        """SIGKILL the worker and every pool process at once: nothing more is stored or acked."""
        if self.process is None:
            return
        for pid in [self.process.pid, *self.pool_pids()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)

    def stop_worker(self, timeout: float = STOP_TIMEOUT) -> None:
        """A warm shutdown (SIGTERM); everything SIGKILLed if it takes longer than `timeout`."""
        if not self.is_alive():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def restart(self, timeout: float = START_TIMEOUT) -> None:
        """Stop the worker if it runs (warm), then start a new one on the same queue, named
        `sandbox-<id>-<n>@<host>` for its n-th start."""
        self.stop_worker()
        self.start(timeout)

    def stop(self, *, keep_log: bool = False) -> None:
        """Stop the worker, delete its private queue (with what is left in it), free its slot for
        another run and delete its log (kept with `keep_log`, for a worker that failed). Safe to
        call more than once."""
        try:
            self.stop_worker()
        finally:
            if self.starts and not self.queue_deleted:
                # Before the slot is free: the reaper deletes only the queues of claimed slots.
                first = f"sandbox-{self.id}@{socket.gethostname()}"
                delete_queue(self.queue, hostnames=restarted_names(first, self.starts))
                self.queue_deleted = True
            if self.claim is not None:
                SandboxClaim.objects.filter(pk=self.claim.pk).delete()
                self.claim = None
            if not keep_log:
                self.log_path.unlink(missing_ok=True)
