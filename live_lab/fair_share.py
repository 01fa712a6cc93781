"""Sharing the worker among a class: which waiting run is sent next. Plain functions.

A run waits in the web app, not in the broker, while the worker's slots are full or its
learner already has her share of them on the worker. Waiting runs go out round by round: first
each learner's oldest run, the learners with the fewest runs on the worker first, then each
learner's second, and so on. One account firing many slow runs therefore never delays another
learner's run by more than the time one slot takes to free up.
"""

from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Waiting:
    run_id: int
    owner_id: int


def fair_order(waiting: list[Waiting], on_worker: Counter) -> list[Waiting]:
    """The waiting runs (given oldest first) in the order they will be sent.

    A run's round is how many of its learner's runs are ahead of it: on the worker, or waiting
    and older. Lower rounds go first; within a round, the older run.
    """
    ahead = Counter(on_worker)
    keyed = []
    for age_rank, run in enumerate(waiting):
        keyed.append((ahead[run.owner_id], age_rank, run))
        ahead[run.owner_id] += 1
    return [run for _, _, run in sorted(keyed, key=lambda key: key[:2])]


def runs_to_send(
    waiting: list[Waiting], on_worker: Counter, *, free_slots: int, per_learner: int
) -> list[Waiting]:
    """The runs to send now: in fair order, as many as there are free slots, skipping learners
    who already have `per_learner` runs on the worker."""
    chosen: list[Waiting] = []
    counts = Counter(on_worker)
    for run in fair_order(waiting, on_worker):
        if len(chosen) >= free_slots:
            break
        if counts[run.owner_id] < per_learner:
            chosen.append(run)
            counts[run.owner_id] += 1
    return chosen


def runs_ahead(run_id: int, waiting: list[Waiting], on_worker: Counter) -> int | None:
    """How many waiting runs will be sent before this one (None: it is not waiting)."""
    for position, run in enumerate(fair_order(waiting, on_worker)):
        if run.run_id == run_id:
            return position
    return None
