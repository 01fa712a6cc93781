"""Which waiting run goes to the worker next: the fair-share rules as plain functions."""

from collections import Counter

from live_lab.fair_share import Waiting, fair_order, runs_ahead, runs_to_send


def runs(*owners: int) -> list[Waiting]:
    """Waiting runs, oldest first, of these owners; run ids count from 1."""
    return [Waiting(run_id, owner) for run_id, owner in enumerate(owners, start=1)]


def test_one_learners_many_runs_do_not_go_before_another_learners_first_run():
    waiting = runs(1, 1, 1, 1, 1, 2)  # learner 1 fired five runs, then learner 2 one

    order = fair_order(waiting, Counter())

    assert [run.owner_id for run in order] == [1, 2, 1, 1, 1, 1]


def test_a_learner_with_runs_on_the_worker_comes_after_learners_with_none():
    waiting = runs(1, 2, 3)

    order = fair_order(waiting, Counter({1: 2, 2: 1}))

    assert [run.owner_id for run in order] == [3, 2, 1]


def test_only_as_many_runs_as_free_slots_are_sent_and_none_past_a_learners_share():
    waiting = runs(1, 1, 1, 2, 2, 3)

    chosen = runs_to_send(waiting, Counter({1: 1}), free_slots=4, per_learner=2)

    assert [run.run_id for run in chosen] == [4, 6, 1, 5], "learner 1 already has one on the worker"
    assert runs_to_send(waiting, Counter({1: 2, 2: 2, 3: 2}), free_slots=4, per_learner=2) == []
    assert runs_to_send(waiting, Counter(), free_slots=0, per_learner=2) == []


def test_a_waiting_run_knows_how_many_runs_go_before_it():
    waiting = runs(1, 1, 1, 2)

    assert runs_ahead(4, waiting, Counter()) == 1, "only learner 1's first run is ahead"
    assert runs_ahead(3, waiting, Counter()) == 3
    assert runs_ahead(99, waiting, Counter()) is None, "not waiting"
