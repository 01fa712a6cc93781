"""A producer and a consumer process racing on a filesystem transport (tests and bench/ use it)."""

import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path

from kombu import Connection, Exchange, Queue

QUEUE = Queue("race", Exchange("race"), routing_key="race")


@dataclass
class RaceOutcome:
    received: list[int]
    errors: list[str]
    total: int

    @property
    def lost(self) -> int:
        return self.total - len(set(self.received))


def transport_options(folder: Path) -> dict:
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
        "polling_interval": 0.0001,
    }


def consume(transport: str, folder: Path, total: int, results) -> None:
    received, errors = [], []
    with Connection(transport=transport, transport_options=transport_options(folder)) as conn:
        simple = conn.SimpleQueue(QUEUE)
        deadline = time.monotonic() + 60
        while len(received) + len(errors) < total and time.monotonic() < deadline:
            try:
                message = simple.get(timeout=0.5)
            except simple.Empty:
                continue
            except Exception as exc:  # a torn message: what the race is about
                errors.append(type(exc).__name__)
                continue
            received.append(message.payload["n"])
            message.ack()
    results.put((received, errors))


def produce(transport: str, folder: Path, total: int) -> None:
    with Connection(transport=transport, transport_options=transport_options(folder)) as conn:
        simple = conn.SimpleQueue(QUEUE)
        for n in range(total):
            simple.put({"n": n})
            if n % 3 == 0:
                time.sleep(0.0002)  # let the consumer catch up, so it often finds fresh files


def race_producer_and_consumer(transport: str, folder: Path, *, total: int) -> RaceOutcome:
    """Send `total` numbered messages while another process consumes them as fast as it can.

    Both sides run in fresh processes: kombu keeps declared exchanges in a process-wide
    BrokerState, so a second race in one process would never bind its new folder.
    """
    for sub in ("queue", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    consumer = context.Process(target=consume, args=(transport, folder, total, results))
    producer = context.Process(target=produce, args=(transport, folder, total))
    consumer.start()
    producer.start()
    received, errors = results.get(timeout=90)
    producer.join(10)
    consumer.join(10)
    return RaceOutcome(received=sorted(received), errors=errors, total=total)
