"""Challenges: a goal, a configuration the learner chooses, a batch of tasks fired at a sandbox
worker (live_lab/sandbox.py) that a script breaks at set moments, and a check of what really
happened (docs/live-lab.md, "Challenges").

The check counts from what the worker itself wrote, never from what the client inferred: each
run of a task writes a `started` lane-2 row before its body (live_lab/worker_signals.py, written
in place so that a killed run leaves it), and each applied effect is a ChallengeEffect row the
task writes itself (live_lab.tasks.apply_effect). Only the final state comes from the result
backend, read as any client reads it.

An attempt runs on a thread of this web process (a page never waits on a sandbox): this module
writes the attempt's outcome from there, and tells the attempt's open pages (views.py streams).
"""

import contextlib
import logging
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from celery import states
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config.celery import app
from live_lab.models import ChallengeAttempt, ChallengeEffect, LabEvent
from live_lab.sandbox import Sandbox, SandboxFailed, start_sandbox
from live_lab.sandbox_config import SandboxConfig
from live_lab.tasks import apply_effect

logger = logging.getLogger(__name__)

STEP_SECONDS = 0.2  # each challenge task works this long before its effect, and again after it
WAIT_FOR_MOMENT = 20.0  # seconds the script waits for a moment it kills at (a task starting...)
# ...and how long, on its first run, the phase the script kills a task in lasts: the kill lands
# in it however late a loaded machine lets the script look (2 s was once missed in CI, and the
# task returned before the kill). The script kills as soon as it sees the moment; a second run
# of the task (redelivered or retried) works STEP_SECONDS in each phase.
KILLED_PHASE_SECONDS = WAIT_FOR_MOMENT + 5
LOOK_EVERY = 0.05  # seconds between two looks for that moment: well inside STEP_SECONDS

# Attempts run here, off the request's thread; a sandbox slot (site-wide) bounds them too.
runners = ThreadPoolExecutor(max_workers=2, thread_name_prefix="challenge")


@dataclass(frozen=True)
class Challenge:
    id: str
    title: str
    goal: str
    script: str  # what the script does to the worker, for the page
    options: tuple[str, ...]  # the ChallengeForm fields the learner chooses
    default: dict  # what a new project gets: must fail the check
    known_good: dict  # a configuration that must pass it (tests/live_lab/test_challenges.py)
    hints: tuple[str, ...]  # the ladder: each one step closer to known_good
    break_the_worker: Callable  # (attempt, sandbox) -> list of what it did, for the page
    modes_note: str = ""
    redis_only: bool = False
    also_good: tuple[dict, ...] = ()  # other configurations that pass it (tested too)

    def sandbox_config(self, choices: dict) -> SandboxConfig:
        worker_choices = {
            name: value for name, value in choices.items() if name in SandboxConfig.__dataclass_fields__
        }
        # One pool process: the script knows which process runs the task it kills.
        return SandboxConfig(pool="prefork", concurrency=1, **worker_choices)


def task_started(task_id: str) -> bool:
    return LabEvent.objects.filter(task_id=task_id, kind=LabEvent.Kind.STARTED).exists()


def effects_of(attempt: ChallengeAttempt, index: int) -> int:
    return ChallengeEffect.objects.filter(attempt=attempt, index=index).count()


def final_state(task_id: str) -> str:
    return app.AsyncResult(task_id).state


def described_state(task_id: str) -> str:
    """The state, with the exception's class for a FAILURE: FAILURE (WorkerLostError)."""
    result = app.AsyncResult(task_id)
    if result.state == states.FAILURE:
        return f"{result.state} ({type(result.result).__name__})"
    return result.state


def wait_for(condition, timeout: float = WAIT_FOR_MOMENT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(LOOK_EVERY)
    return False


def live_pool_pid(sandbox: Sandbox) -> int | None:
    """The sandbox's one live pool process. One killed a moment ago may still be listed among
    the worker's children (a zombie until reaped), and its replacement may not be forked yet."""
    for pid in sandbox.pool_pids():
        with contextlib.suppress(OSError, IndexError):
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                return pid
    return None


def kill_the_pool_process(sandbox: Sandbox) -> int:
    """SIGKILL the sandbox's live pool process, waiting up to 3 s for one (a CI trial on a
    loaded machine found none at the first look); returns its pid."""
    found = []
    if wait_for(lambda: found.append(live_pool_pid(sandbox)) or found[-1] is not None, timeout=3.0):
        with contextlib.suppress(ProcessLookupError):
            os.kill(found[-1], signal.SIGKILL)
            return found[-1]
    raise SandboxFailed(f"the sandbox worker {sandbox.hostname} has no live pool process to kill")


def kill_pool_process_twice(attempt: ChallengeAttempt, sandbox: Sandbox) -> list[str]:
    """The worker-death challenge's script: SIGKILL the pool process running one task before it
    applied its effect, and the one running another task after it did, then wait for the
    batch to be over (every task SUCCESS or FAILURE in the result backend)."""
    ids = attempt.task_ids
    before, after = len(ids) // 3, 2 * len(ids) // 3
    for index, task_id in enumerate(ids):
        work_before = KILLED_PHASE_SECONDS if index == before else STEP_SECONDS
        work_after = KILLED_PHASE_SECONDS if index == after else STEP_SECONDS
        apply_effect.apply_async(
            (attempt.pk, index, attempt.choices["idempotent"], work_before, work_after, STEP_SECONDS),
            queue=sandbox.queue,
            task_id=task_id,
        )
    # The two moments are awaited together, in whichever order they come: the filesystem broker
    # hands out messages published in the same millisecond in any order (and Celery promises no
    # order), so the task killed after its effect can run before the one killed before it.
    kills = {
        before: lambda: task_started(ids[before]),
        after: lambda: effects_of(attempt, after) > 0,
    }
    done = []
    while kills and wait_for(lambda: any(moment() for moment in kills.values())):
        index = next(index for index, moment in kills.items() if moment())
        del kills[index]
        if index == before:
            pid = kill_the_pool_process(sandbox)
            applied = "after" if effects_of(attempt, before) else "before"
            done.append(f"Killed pool process {pid} (SIGKILL) while task {before} ran, {applied} its effect.")
        else:
            returned = final_state(ids[after]) == states.SUCCESS
            pid = kill_the_pool_process(sandbox)
            moment = "after it returned" if returned else "after its effect"
            done.append(f"Killed pool process {pid} (SIGKILL) while task {after} ran, {moment}.")
    if before in kills:
        done.append(f"Task {before} never started within {WAIT_FOR_MOMENT:.0f} s; nothing was killed.")
    if after in kills:
        done.append(
            f"Task {after} never applied its effect within {WAIT_FOR_MOMENT:.0f} s; nothing was killed."
        )
    # Every task run twice, the killed phases too, and the worker's waits for its dead processes.
    batch_over = len(ids) * 4 * STEP_SECONDS + 2 * KILLED_PHASE_SECONDS + 20
    if not wait_for(lambda: all(final_state(task_id) in states.READY_STATES for task_id in ids), batch_over):
        done.append(f"Not every task was over after {batch_over:.0f} s; the check counts what was.")
    return done


DOWN_FOR = 10.0  # seconds the redelivery challenge's worker stays dead before it is restarted
REDELIVERY_WINDOW = 15.0  # seconds after the restart in which the batch must be over
QUIET_FOR = 4.0  # ...or sooner, once nothing has started or ended for this long


def kill_the_worker_and_restart_it(attempt: ChallengeAttempt, sandbox: Sandbox) -> list[str]:
    """The redelivery challenge's script (Redis): SIGKILL the whole worker while a task a third
    of the way in has applied its effect but not returned (the tasks after it are prefetched),
    leave it dead for DOWN_FOR seconds, restart it, and give the batch REDELIVERY_WINDOW."""
    ids = attempt.task_ids
    target = len(ids) // 3
    for index, task_id in enumerate(ids):
        work_after = KILLED_PHASE_SECONDS if index == target else STEP_SECONDS
        apply_effect.apply_async(
            (attempt.pk, index, attempt.choices["idempotent"], STEP_SECONDS, work_after, STEP_SECONDS),
            queue=sandbox.queue,
            task_id=task_id,
        )
    done = []
    if not wait_for(lambda: effects_of(attempt, target) > 0):
        return [f"Task {target} never applied its effect within {WAIT_FOR_MOMENT:.0f} s; nothing was killed."]
    sandbox.kill()
    over = sum(1 for task_id in ids if final_state(task_id) in states.READY_STATES)
    done.append(
        f"Killed the whole worker and its pool (SIGKILL) while task {target} ran, after its effect; "
        f"{over} of {len(ids)} tasks were over."
    )
    time.sleep(DOWN_FOR)
    sandbox.restart()
    done.append(f"Restarted the worker {DOWN_FOR:.0f} s later, on the same queue.")
    if not wait_until_over_or_quiet(attempt):
        done.append(
            f"Not every task was over {REDELIVERY_WINDOW:.0f} s after the restart "
            f"(or nothing moved for {QUIET_FOR:.0f} s)."
        )
    return done


def wait_until_over_or_quiet(attempt: ChallengeAttempt) -> bool:
    """True once every task is over; False after REDELIVERY_WINDOW, or sooner once nothing has
    started or ended for QUIET_FOR seconds: the restarted worker gives messages back when it
    starts, and its next look is ~100 s later (kombu's unacked_restore_interval of 10 s times
    its unacked_restore_throttle of 10), far beyond the window."""
    deadline = time.monotonic() + REDELIVERY_WINDOW
    last_seen, quiet_since = None, time.monotonic()
    while time.monotonic() < deadline:
        over = sum(1 for task_id in attempt.task_ids if final_state(task_id) in states.READY_STATES)
        if over == len(attempt.task_ids):
            return True
        started = LabEvent.objects.filter(task_id__in=attempt.task_ids, kind=LabEvent.Kind.STARTED).count()
        if (over, started) != last_seen:
            last_seen, quiet_since = (over, started), time.monotonic()
        elif time.monotonic() - quiet_since > QUIET_FOR:
            return False
        time.sleep(0.2)
    return False


CHALLENGES = {
    challenge.id: challenge
    for challenge in [
        Challenge(
            id="worker-death",
            title="Exactly once when the worker dies",
            goal=(
                "Make every task's effect happen exactly once, none lost and none twice, and every "
                "task end in SUCCESS, while the script kills the worker's pool process in the middle "
                "of two tasks."
            ),
            script=(
                "The batch goes to a sandbox worker with one prefork pool process. Each task works "
                f"{STEP_SECONDS} s, applies its effect (writes one row, as a payment would), works "
                f"{STEP_SECONDS} s more and returns; the phase in which the script kills a task lasts "
                "until the kill on the task's first run. The script SIGKILLs the pool process while a task "
                "a third of the way in has not applied its effect yet, and again while a task two "
                "thirds of the way in has applied it but not returned: as the out-of-memory killer "
                "would. The worker itself lives on and starts a new pool process."
            ),
            options=(
                "acks_late",
                "reject_on_worker_lost",
                "retry_on_worker_lost",
                "default_retry_delay",
                "idempotent",
                "prefetch_multiplier",
            ),
            default={
                "acks_late": False,
                "reject_on_worker_lost": False,
                "retry_on_worker_lost": False,
                "default_retry_delay": 180,
                "idempotent": False,
                "prefetch_multiplier": 4,
            },
            known_good={
                "acks_late": True,
                "reject_on_worker_lost": True,
                "retry_on_worker_lost": False,
                "default_retry_delay": 180,
                "idempotent": True,
                "prefetch_multiplier": 4,
            },
            hints=(
                "Look at the task killed before its effect. By default the worker acknowledges a "
                "message just before the task starts, so once the task dies nothing is left to deliver "
                "again. Which setting moves the acknowledgement to after the task returns?",
                "task_acks_late alone is not enough: when a pool process dies, Celery 5.7 still "
                "acknowledges the message and stores WorkerLostError (task_acks_on_failure_or_timeout "
                "is True). task_reject_on_worker_lost=True rejects the message back to the queue "
                "instead, so another pool process runs the task again. (Celery 5.7 has another way: "
                "task_retry_on_worker_lost=True sends the task again as retry() would, with or "
                "without acks_late, and stores RETRY meanwhile; but the retry waits "
                "default_retry_delay, 180 s unless you lower it, far longer than this batch is "
                "watched.)",
                "A message given back is delivered at least once, not exactly once: the task killed "
                "after its effect runs again and applies it a second time. Make the task idempotent: "
                "it applies its effect under a unique key, so the second run finds it applied.",
            ),
            # The retry runs the task from the start, as a redelivery does: idempotent still.
            also_good=(
                {
                    "acks_late": False,
                    "reject_on_worker_lost": False,
                    "retry_on_worker_lost": True,
                    "default_retry_delay": 2,
                    "idempotent": True,
                    "prefetch_multiplier": 4,
                },
            ),
            break_the_worker=kill_pool_process_twice,
            modes_note=(
                "Runs in both modes: a pool process's death is noticed by the worker itself, whatever "
                "the broker."
            ),
        ),
        Challenge(
            id="redelivery",
            title="Nothing lost when the whole worker dies",
            goal=(
                "Make every task's effect happen exactly once and every task end in SUCCESS, while "
                "the script kills the whole worker in the middle of a task and restarts it "
                f"{DOWN_FOR:.0f} s later. Redis mode."
            ),
            script=(
                "The batch goes to a sandbox worker with one prefork pool process; it prefetches up "
                "to four messages. Each task works, applies its effect (writes one row), works again "
                "and returns. While the task a third of the way in has applied its effect but not "
                "returned, the script SIGKILLs the worker and its pool at once: nothing is "
                "acknowledged, rejected or stored any more. It restarts the worker "
                f"{DOWN_FOR:.0f} s later and gives the batch {REDELIVERY_WINDOW:.0f} s more."
            ),
            options=("acks_late", "idempotent", "visibility_timeout", "prefetch_multiplier"),
            default={
                "acks_late": False,
                "idempotent": False,
                "visibility_timeout": 3600,
                "prefetch_multiplier": 4,
            },
            known_good={
                "acks_late": True,
                "idempotent": True,
                "visibility_timeout": 10,
                "prefetch_multiplier": 4,
            },
            hints=(
                "Look at the tasks the dead worker had prefetched but not started. Redis keeps a "
                "message a worker fetched in its unacked hash, and gives it back to the queue once "
                "visibility_timeout has passed since the delivery (3,600 s by default): the "
                "restarted worker checks when it starts. Which value brings them back in time?",
                "The task that was running when the worker died was acknowledged when it started "
                "(the default): nothing brings it back, and its result never comes. With "
                "task_acks_late its message stays unacknowledged until the task returns, so it comes "
                "back with the others.",
                "Given back means delivered at least once: the task killed after its effect runs "
                "again and applies it again. Make the task idempotent. (And keep visibility_timeout "
                "longer than any task plus its wait in the prefetch buffer: a message held longer "
                "is given back while its worker still runs it.)",
            ),
            break_the_worker=kill_the_worker_and_restart_it,
            modes_note=(
                "Redis mode only. The filesystem broker has no visibility timeout and no "
                "unacknowledged messages: kombu's filesystem transport moves a message's file out "
                "of the queue folder as soon as a worker takes it, so whatever a SIGKILLed worker "
                "held is gone, whatever the settings."
            ),
            redis_only=True,
        ),
    ]
}


def get_challenge(challenge_id: str) -> Challenge | None:
    return CHALLENGES.get(challenge_id)


# --- The check -----------------------------------------------------------------------------


@dataclass
class Verdict:
    index: int
    task_id: str
    runs: int
    effects: int
    state: str
    problems: list[str] = field(default_factory=list)


def check(attempt: ChallengeAttempt) -> tuple[list[Verdict], str, bool]:
    """Each task's runs (its `started` rows), effects (its ChallengeEffect rows) and final
    state; a summary such as "1 of 6 tasks lost, 1 applied twice"; and whether it passed:
    every task's effect applied exactly once and every task ended SUCCESS."""
    runs = Counter(
        LabEvent.objects.filter(task_id__in=attempt.task_ids, kind=LabEvent.Kind.STARTED).values_list(
            "task_id", flat=True
        )
    )
    effects = Counter(ChallengeEffect.objects.filter(attempt=attempt).values_list("index", flat=True))
    verdicts = []
    for index, task_id in enumerate(attempt.task_ids):
        verdict = Verdict(index, task_id, runs[task_id], effects[index], described_state(task_id))
        if verdict.effects == 0:
            verdict.problems.append("lost: its effect never happened")
        elif verdict.effects > 1:
            verdict.problems.append(f"its effect happened {verdict.effects} times")
        if verdict.state != states.SUCCESS:
            verdict.problems.append(f"ended {verdict.state.split()[0]}")
        verdicts.append(verdict)
    size = len(verdicts)
    lost = sum(1 for v in verdicts if v.effects == 0)
    twice = sum(1 for v in verdicts if v.effects > 1)
    unsuccessful = sum(1 for v in verdicts if v.state != states.SUCCESS)
    summary = (
        f"{lost} of {size} tasks lost, {twice} applied more than once, {unsuccessful} did not end in "
        f"SUCCESS; {sum(v.runs for v in verdicts)} runs in all for {size} tasks."
    )
    return verdicts, summary, not any(v.problems for v in verdicts)


# --- Running an attempt --------------------------------------------------------------------


def run_in_background(attempt: ChallengeAttempt) -> None:
    runners.submit(run_attempt, attempt.pk)


def run_attempt(attempt_id: int) -> None:
    """Start the sandbox, fire the batch, break the worker, check, store the outcome. Whatever
    goes wrong, the attempt ends (NOT_RUN with the reason) and the sandbox is stopped."""
    attempt = ChallengeAttempt.objects.get(pk=attempt_id)
    challenge = CHALLENGES[attempt.challenge]
    try:
        sandbox = start_sandbox(challenge.sandbox_config(attempt.choices))
        if not isinstance(sandbox, Sandbox):
            finish(attempt, ChallengeAttempt.Status.NOT_RUN, summary=sandbox.message)
            return
        with sandbox:
            attempt.task_ids = [str(uuid.uuid4()) for _ in range(attempt.size)]
            attempt.save(update_fields=["task_ids"])
            kills = challenge.break_the_worker(attempt, sandbox)
            # The batch is over and every result stored: a warm shutdown would only add ~5 s.
            sandbox.kill()
        verdicts, summary, passed = check(attempt)
        finish(
            attempt,
            ChallengeAttempt.Status.PASSED if passed else ChallengeAttempt.Status.FAILED,
            summary=summary,
            kills=kills,
            tasks=[vars(verdict) for verdict in verdicts],
        )
    except SandboxFailed as error:
        finish(attempt, ChallengeAttempt.Status.NOT_RUN, summary=f"The sandbox worker did not start: {error}")
    except Exception as error:
        logger.exception("Challenge attempt %s broke", attempt_id)
        finish(attempt, ChallengeAttempt.Status.NOT_RUN, summary=f"The attempt broke ({error!r}); try again.")
    finally:
        connection.close()  # this thread's; the pool keeps the thread


def finish(attempt: ChallengeAttempt, status: str, **fields) -> None:
    for name, value in fields.items():
        setattr(attempt, name, value)
    attempt.status = status
    attempt.finished_at = timezone.now()
    attempt.save()
    notify_finished(attempt.pk)


def end_forgotten_attempts(owner) -> None:
    """An attempt whose web process died while it ran never ends by itself; its sandbox killed
    itself after LAB_SANDBOX_LIFETIME. Past that, it is over (NOT_RUN)."""
    too_old = timezone.now() - timezone.timedelta(seconds=settings.LAB_SANDBOX_LIFETIME + 60)
    ChallengeAttempt.objects.filter(
        owner=owner, status=ChallengeAttempt.Status.RUNNING, started_at__lt=too_old
    ).update(
        status=ChallengeAttempt.Status.NOT_RUN,
        finished_at=timezone.now(),
        summary="The web process running it stopped; try again.",
    )


# Open attempt pages of this process, told at once when their attempt ends (views.py). A page
# served by another web process reads its attempt again every few seconds instead.
listeners: dict[int, set] = {}
listeners_lock = threading.Lock()


def listen_for_end(attempt_id: int, callback) -> None:
    with listeners_lock:
        listeners.setdefault(attempt_id, set()).add(callback)


def stop_listening(attempt_id: int, callback) -> None:
    with listeners_lock:
        callbacks = listeners.get(attempt_id, set())
        callbacks.discard(callback)
        if not callbacks:
            listeners.pop(attempt_id, None)


def notify_finished(attempt_id: int) -> None:
    with listeners_lock:
        callbacks = list(listeners.get(attempt_id, ()))
    for callback in callbacks:
        with contextlib.suppress(RuntimeError):  # the page's event loop is closed
            callback()
