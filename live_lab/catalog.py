"""The lab catalogue's sections: thirty experiments in one list were a 5,000 px page that said
nothing about what each group teaches. Each experiment is in exactly one section
(tests/live_lab/test_catalog.py); one not listed here lands in "Other experiments", so a new
experiment is never hidden."""

from dataclasses import dataclass

from live_lab.experiments import EXPERIMENTS, Experiment


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    intro: str
    experiments: tuple[Experiment, ...]


SECTIONS = (
    (
        "states",
        "The states a result goes through",
        "What AsyncResult reads from the send to the end, and which settings add a state.",
        ("success", "failure", "slow-untracked", "slow-tracked", "progress", "retry", "early-success"),
    ),
    (
        "reading",
        "Reading a result: waiting, unknown ids and results not kept",
        "What get() and a rebuilt AsyncResult do when the result is late, missing or never stored.",
        ("get-timeout", "forget", "ignore-result"),
    ),
    (
        "before",
        "Before it runs: queues, countdowns, expiry and revoke",
        "A task that waits, or never runs, still has an id, and it reads PENDING until something is stored.",
        ("no-worker", "countdown", "expires", "revoke-queued", "revoke-running"),
    ),
    (
        "canvas",
        "Canvas: chains, groups and chords",
        "Whose result you hold when tasks are combined, and where a failure shows.",
        (
            "group-chord",
            "chain-failure",
            "chord-failure",
            "group-failure",
            "group-save-restore",
            "error-callback",
        ),
    ),
    (
        "sandbox",
        "On a worker of its own: deaths, terminate, redelivery and expiry",
        "Each of these runs on a sandbox worker started for your run with the settings you choose, "
        "which the experiment may kill; if all sandboxes are busy your run waits in line.",
        (
            "pool-killed",
            "pool-killed-acks-late",
            "pool-killed-reject",
            "pool-killed-retry",
            "revoke-terminate",
            "worker-killed",
            "orphaned-started",
            "eta-beyond-visibility",
            "result-expiry",
        ),
    ),
)


def catalog_sections() -> list[Section]:
    """The sections in order, each with its experiments, and any experiment not placed last."""
    sections = [
        Section(anchor, title, intro, tuple(EXPERIMENTS[i] for i in ids if i in EXPERIMENTS))
        for anchor, title, intro, ids in SECTIONS
    ]
    placed = {i for *_, ids in SECTIONS for i in ids}
    others = tuple(e for e in EXPERIMENTS.values() if e.id not in placed)
    if others:
        sections.append(Section("other", "Other experiments", "", others))
    return [section for section in sections if section.experiments]
