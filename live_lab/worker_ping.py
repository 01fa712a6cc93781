"""Is a worker there? One answer per web process, refreshed by a thread of its own.

A ping takes two connections from Celery's broker pool and waits up to its timeout for a
reply. Done in the request's thread, twenty learners opening the lab at once took every pooled
connection, and the lab hung (issue 13). So a request never pings: it reads the last answer,
and asks the pinging thread for a fresh one, which it takes at most every PING_EVERY seconds
while pages keep asking, and not at all while nobody does.
"""

import logging
import threading
import time
from dataclasses import dataclass

from config.celery import app

logger = logging.getLogger(__name__)

PING_EVERY = 5.0  # seconds between two pings while pages ask
PING_TIMEOUT = 1.0  # how long one ping waits for the first reply


def ping_workers(timeout: float = PING_TIMEOUT) -> bool:
    """True when at least one worker answers a broadcast ping within `timeout` seconds."""
    try:
        # limit=1: return at the first reply, instead of waiting out the whole timeout.
        return bool(app.control.ping(timeout=timeout, limit=1))
    except Exception:
        # The broker is unreachable (Redis down, or no pooled connection in time): no worker
        # can be reached either. Logged, since a broken broker is worth knowing about.
        logger.warning("Pinging the workers failed", exc_info=True)
        return False


@dataclass(frozen=True)
class WorkerAnswer:
    answers: bool | None  # None: not pinged yet
    age: float | None  # seconds since that answer


class WorkerPing:
    def __init__(self, every: float = PING_EVERY):
        self.every = every
        self.answer: bool | None = None
        self.answered_at: float | None = None
        self.asked = threading.Event()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def current(self) -> WorkerAnswer:
        """The last answer, at once; a fresh one is taken in the background."""
        self.asked.set()
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.ping_while_asked, name="worker-ping", daemon=True)
                self.thread.start()
        age = None if self.answered_at is None else time.monotonic() - self.answered_at
        return WorkerAnswer(self.answer, age)

    def wait_for_first_answer(self, timeout: float) -> WorkerAnswer:
        """For the first page after a start and for tests: wait (bounded) for an answer."""
        deadline = time.monotonic() + timeout
        while (answer := self.current()).answers is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return answer

    def ping_while_asked(self) -> None:
        while True:
            self.asked.wait()
            self.asked.clear()
            self.answer = ping_workers()
            self.answered_at = time.monotonic()
            time.sleep(self.every)


worker_ping = WorkerPing()


def worker_answers() -> bool | None:
    """Did a worker answer the process's last ping? None until the first ping returned."""
    return worker_ping.current().answers
