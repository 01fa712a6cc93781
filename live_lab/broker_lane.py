"""Lane 3: what the broker holds for a run's messages, sampled by the observer's thread.

Where a task's message can be:

- **queued**: in the queue (a Redis list named after it; on the filesystem broker a file in
  the `queue/` folder, named `<time>_<uuid>.<queue>.msg`).
- **unacked** (Redis only): a worker fetched it and has not acknowledged it. kombu moves the
  message into the `unacked` hash (delivery tag → message) and notes the time in the
  `unacked_index` sorted set; it stays there while the worker holds it: prefetched, waiting
  for its countdown, or, with acks_late, running. One left there longer than
  `visibility_timeout` is put back in the queue by any consumer's restore (kombu/transport/redis.py
  `QoS.restore_visible`).
- **restored**: back in the queue after being unacked.
- **gone**: no longer in the broker. On Redis the worker acknowledged it (the hash entry is
  deleted: before the task runs by default, after it with acks_late). The filesystem broker
  has no acknowledgement: a worker claims a message by renaming it into `claimed/` and deletes
  it as it reads it (config/filesystem_broker.py), so from then on only the worker's memory
  holds it.

The observer samples every watched run's tasks at most every SAMPLE_EVERY seconds, in one
Redis round trip (or one folder listing) for all runs: a stay shorter than that can be missed,
and the lane says so. No page reads the broker.
"""

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from django.conf import settings

from live_lab.sandbox_config import unacked_keys

UNCONSUMED_QUEUE = "lab-unconsumed"  # the no-worker experiment's queue: no worker consumes it
QUEUES = ("lab", UNCONSUMED_QUEUE)  # where the lab's messages go (CELERY_TASK_ROUTES)
UNACKED_KEYS = ("unacked",)  # kombu's default unacked_key: every consumer of the Redis DB shares it
SAMPLE_EVERY = 0.05  # seconds between two samples while runs are watched
MAX_QUEUED = 500  # messages looked at per queue: the dispatcher keeps the lab queue short

QUEUED, UNACKED, RESTORED, GONE = "queued", "unacked", "restored", "gone"


@dataclass(frozen=True)
class Place:
    where: str  # QUEUED, UNACKED, RESTORED or GONE
    detail: str


# A task's id in its message's headers (kombu's JSON; the body is base64): one search per
# message, rather than one per watched task.
TASK_ID = re.compile(rb'"id": "([^"]{1,64})"')


def id_in(message: bytes) -> str | None:
    found = TASK_ID.search(message)
    return found.group(1).decode() if found else None


class RedisBroker:
    """The Redis broker's lists and its unacked hash, read with bounded waits."""

    def __init__(self):
        # Every wait bounded: a broker that does not answer fails the sample, not the observer.
        self.client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_timeout=2.0, socket_connect_timeout=2.0
        )
        self.tag_ids: dict[tuple, str | None] = {}  # (hash, delivery tag) → task id, when unacked

    def places(self, task_ids: list[str], queues: tuple[str, ...] = QUEUES) -> dict[str, Place]:
        # A sandbox worker's unacknowledged messages are in a hash of its own (sandbox_config.py).
        hashes = UNACKED_KEYS + tuple(unacked_keys(q)["unacked_key"] for q in queues if q not in QUEUES)
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            pipe.lrange(queue, 0, MAX_QUEUED - 1)
        for key in hashes:
            pipe.hkeys(key)
        replies = pipe.execute()
        lists, tags_by_key = replies[: len(queues)], replies[len(queues) :]
        found: dict[str, Place] = {}
        wanted = set(task_ids)
        for queue, messages in zip(queues, lists, strict=True):
            for message in messages:
                if (task_id := id_in(message)) in wanted:
                    found[task_id] = Place(QUEUED, f"in the Redis list {queue!r}")
        held = {}
        for key, tags in zip(hashes, tags_by_key, strict=True):
            unknown = [tag for tag in tags if (key, tag) not in self.tag_ids]
            if unknown:
                for tag, value in zip(unknown, self.client.hmget(key, unknown), strict=True):
                    self.tag_ids[key, tag] = task_id_of(value)
            held.update({(key, tag): self.tag_ids[key, tag] for tag in tags})
        self.tag_ids = held  # acknowledged tags are forgotten
        for (key, tag), task_id in held.items():
            if task_id in wanted and task_id not in found:
                found[task_id] = Place(UNACKED, f"in the hash {key!r} under delivery tag {tag.decode()}")
        return found

    def remove(self, task_id: str, queue: str) -> int:
        removed = 0
        for message in self.client.lrange(queue, 0, MAX_QUEUED - 1):
            if id_in(message) == task_id:
                removed += self.client.lrem(queue, 1, message)
        return removed


def task_id_of(value: bytes | None) -> str | None:
    """The task id in an unacked entry: [message, exchange, routing key] as kombu stores it."""
    if value is None:
        return None
    try:
        return json.loads(value)[0]["headers"]["id"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None  # not a Celery task message (or not one of ours)


class FolderBroker:
    """The filesystem broker's queue folder: one file per message, read once per file."""

    def __init__(self):
        self.folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        self.file_ids: dict[str, str | None] = {}  # file name → task id (files never change)

    def places(self, task_ids: list[str], queues: tuple[str, ...] = QUEUES) -> dict[str, Place]:
        names = [n for n in os.listdir(self.folder) if n.rpartition(".")[2] == "msg"]
        names = [n for n in names if n.split(".")[-2] in queues][:MAX_QUEUED]
        for name in names:
            if name not in self.file_ids:
                self.file_ids[name] = self.read_id(name)
        self.file_ids = {name: self.file_ids[name] for name in names}
        wanted = set(task_ids)
        return {
            task_id: Place(QUEUED, f"the file queue/{name}")
            for name, task_id in self.file_ids.items()
            if task_id in wanted
        }

    def read_id(self, name: str) -> str | None:
        try:
            return json.loads((self.folder / name).read_bytes())["headers"]["id"]
        except FileNotFoundError:
            return None  # a worker claimed it meanwhile
        except (ValueError, KeyError, TypeError):
            return None

    def remove(self, task_id: str, queue: str) -> int:
        removed = 0
        for name in os.listdir(self.folder):
            if name.endswith(f".{queue}.msg") and self.read_id(name) == task_id:
                (self.folder / name).unlink(missing_ok=True)
                removed += 1
        return removed


def broker():
    return RedisBroker() if settings.RUN_MODE == "redis" else FolderBroker()


def remove_message(task_id: str, *, queue: str) -> int:
    """Delete this task's message from `queue`; how many were deleted. Celery has no call for
    one message (purge() empties whole queues): the no-worker experiment cleans up with it."""
    return broker().remove(task_id, queue)


GONE_DETAIL = {
    "redis": "acknowledged: the worker deleted it from the broker",
    "embedded": "taken by a worker: the filesystem broker deleted the file as the worker read it",
}


class BrokerLane:
    """The last place of each watched task, and the changes since: lane 3's rows to store."""

    def __init__(self):
        self.broker = None
        self.sampled_at = -float("inf")
        self.last: dict[str, str] = {}  # task id → where it was last seen
        self.seen_unacked: set[str] = set()

    def due(self, now: float) -> bool:
        return now - self.sampled_at >= SAMPLE_EVERY

    def sample(
        self, task_ids: list[str], *, final: set[str] = frozenset(), queues: tuple[str, ...] = QUEUES
    ) -> dict[str, Place]:
        """Where each of these tasks' messages is now, for those whose place changed. A task not
        found is only reported gone after it was seen, or when it is in `final` (its run ends
        now): a message taken before the first look was never seen queued."""
        if self.broker is None:
            self.broker = broker()
        self.sampled_at = time.monotonic()
        places = self.broker.places(task_ids, queues)
        changes: dict[str, Place] = {}
        for task_id in task_ids:
            place = places.get(task_id)
            if place is None and (task_id in self.last or task_id in final):
                detail = GONE_DETAIL[settings.RUN_MODE]
                if task_id not in self.last:
                    detail += f" (before the lab's first look: it samples every {SAMPLE_EVERY * 1000:.0f} ms)"
                place = Place(GONE, detail)
            if place is None:
                continue
            if place.where == QUEUED and task_id in self.seen_unacked:
                place = Place(RESTORED, place.detail + ", put back after it was unacked")
            if place.where == UNACKED:
                self.seen_unacked.add(task_id)
            if self.last.get(task_id) != place.where:
                changes[task_id] = place
                self.last[task_id] = place.where
        return changes

    def forget(self, task_ids: list[str]) -> None:
        for task_id in task_ids:
            self.last.pop(task_id, None)
            self.seen_unacked.discard(task_id)
