"""The configuration a learner may choose for a sandbox worker: a small, bounded, validated set.

Plain Python with no Django import, because config/settings.py reads it: a sandbox worker is
started with LAB_SANDBOX set to `SandboxConfig.to_json()`, and its settings map the values onto
CELERY_* there (live_lab/sandbox.py starts the workers). The defaults are Celery's own, except
the concurrency, so "the default" in an experiment means what a new project gets.
"""

import json
from dataclasses import asdict, dataclass, fields

POOLS = ("prefork", "solo", "threads")


def unacked_keys(queue: str) -> dict[str, str]:
    """kombu's Redis keys for the messages a sandbox worker fetched and has not acknowledged,
    its own rather than the site's `unacked` hash (kombu/transport/redis.py). A worker restores
    every message of its hash older than *its* visibility timeout: in the shared hash, a sandbox's
    few seconds would hand out the shared worker's countdown tasks again. And a worker SIGKILLed
    while it held the restore lock would block every restore of the site until it expires."""
    return {
        "unacked_key": f"{queue}.unacked",
        "unacked_index_key": f"{queue}.unacked_index",
        "unacked_mutex_key": f"{queue}.unacked_mutex",
    }


@dataclass(frozen=True)
class SandboxConfig:
    acks_late: bool = False  # task_acks_late
    reject_on_worker_lost: bool = False  # task_reject_on_worker_lost
    retry_on_worker_lost: bool = False  # task_retry_on_worker_lost (Celery 5.7)
    # Task attributes, set on every task of the worker through task_annotations: a retry after
    # a lost worker waits default_retry_delay (Celery's 180 s) and counts against max_retries.
    default_retry_delay: int = 180  # seconds
    max_retries: int = 3
    track_started: bool = False  # task_track_started (a task's own option still wins)
    result_expires: int = 86_400  # seconds; result_expires
    visibility_timeout: int = 3_600  # seconds; Redis broker only (the filesystem broker has none)
    prefetch_multiplier: int = 4  # worker_prefetch_multiplier
    pool: str = "prefork"
    concurrency: int = 1  # 1 to 4

    def __post_init__(self):
        for name in ("acks_late", "reject_on_worker_lost", "retry_on_worker_lost", "track_started"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, not {getattr(self, name)!r}")
        whole_numbers = {
            "result_expires": (1, 86_400),
            "default_retry_delay": (0, 180),
            "max_retries": (0, 5),
            "visibility_timeout": (1, 3_600),
            "prefetch_multiplier": (1, 8),
            "concurrency": (1, 4),
        }
        for name, (low, high) in whole_numbers.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {', '.join(POOLS)}, not {self.pool!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> "SandboxConfig":
        """Raises ValueError naming what is wrong: not a JSON object, an unknown key, a bad value."""
        try:
            values = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON ({error})") from None
        if not isinstance(values, dict):
            raise ValueError("not a JSON object")
        unknown = set(values) - {field.name for field in fields(cls)}
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        return cls(**values)
