from celery import states
from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class LabRun(models.Model):
    """One firing of an experiment by a learner, with the prediction made before it."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for a worker slot"  # held by the web app, not sent yet
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        TIMED_OUT = "timed_out", "Timed out"
        NOT_SENT = "not_sent", "Not sent"  # the broker could not be reached when it was due

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lab_runs")
    experiment = models.SlugField(max_length=40)
    params = models.JSONField(default=dict)
    task_id = models.CharField(max_length=36, unique=True)
    prediction = models.JSONField(default=list, help_text="The state sequence the learner predicted.")
    predicted_calls = models.JSONField(
        default=dict, blank=True, help_text="Extra predictions by key: ready(), or what a get() does."
    )
    related_ids = models.JSONField(
        default=list, blank=True, help_text="Ids of the other tasks the run sent (a chord's header)."
    )
    is_prediction_right = models.BooleanField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    fired_at = models.DateTimeField(default=timezone.now, help_text="When the learner fired it.")
    sent_at = models.DateTimeField(
        default=timezone.now, help_text="When its task was sent to the broker (while waiting: when fired)."
    )
    watched_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the web process observing it."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    ending = models.TextField(blank=True, help_text="Why it ended as it did, when that needs saying.")
    sandbox_config = models.JSONField(
        null=True,
        blank=True,
        help_text="The sandbox worker's configuration (SandboxConfig), or null: the shared worker runs it.",
    )
    sandbox_hostname = models.CharField(
        max_length=255, blank=True, help_text="The sandbox worker's first hostname, once it started."
    )

    class Meta:
        ordering = ["-sent_at", "-pk"]
        indexes = [
            models.Index(fields=["owner", "status"], name="lab_run_owner_status"),
            models.Index(fields=["status", "fired_at"], name="lab_run_status_fired"),
        ]

    def __str__(self):
        return f"{self.experiment} {self.task_id}"

    def get_absolute_url(self):
        return reverse("live_lab:run_detail", args=[self.pk])

    @property
    def is_running(self) -> bool:
        return self.status == self.Status.RUNNING

    @property
    def is_waiting(self) -> bool:
        return self.status == self.Status.WAITING

    @property
    def is_unfinished(self) -> bool:
        return self.status in (self.Status.WAITING, self.Status.RUNNING)

    @property
    def is_on_sandbox(self) -> bool:
        return self.sandbox_config is not None

    @property
    def waited_seconds(self) -> float:
        """How long it waited for a worker slot before its task was sent."""
        return max((self.sent_at - self.fired_at).total_seconds(), 0.0)


class LabObservation(models.Model):
    """Lane 1: one distinct reading of app.AsyncResult(task_id), as a client saw it."""

    run = models.ForeignKey(LabRun, on_delete=models.CASCADE, related_name="observations")
    after_ms = models.FloatField(help_text="Milliseconds since the task was sent.")
    state = models.CharField(max_length=50)
    info = models.TextField(blank=True, help_text="repr() of .info (= .result) at that moment.")
    is_ready = models.BooleanField()
    is_successful = models.BooleanField()
    progress = models.JSONField(null=True, blank=True, help_text="{current, total} when .info has them.")

    class Meta:
        ordering = ["run", "after_ms", "pk"]

    def __str__(self):
        return f"{self.run_id} {self.state} at {self.after_ms:.0f} ms"

    def as_reading(self) -> tuple:
        """The reading this row stores, as snapshot() returns it."""
        return (self.state, self.info, self.is_ready, self.is_successful, self.progress)

    @property
    def is_failed(self) -> bool:
        """What failed() returned for this reading: state == FAILURE (celery/result.py), so
        a RETRY or REVOKED reading is not failed() though it is no success either."""
        return self.state == states.FAILURE

    @property
    def percent(self) -> int | None:
        if not self.progress or not self.progress.get("total"):
            return None
        return round(100 * self.progress["current"] / self.progress["total"])


class LabCall(models.Model):
    """Lane 1 too: a client call the observer made during the run, and what it did."""

    run = models.ForeignKey(LabRun, on_delete=models.CASCADE, related_name="calls")
    key = models.SlugField(max_length=40)
    code = models.CharField(max_length=200)
    after_ms = models.FloatField(help_text="Milliseconds since the task was sent, when the call returned.")
    outcome = models.CharField(max_length=40, help_text="returns, or raises …")
    detail = models.TextField(blank=True, help_text="repr() of what it returned or raised.")

    class Meta:
        ordering = ["run", "after_ms", "pk"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="lab_call_once_per_run")]

    def __str__(self):
        return f"{self.run_id} {self.code} {self.outcome}"


class LabBrokerReading(models.Model):
    """Lane 3: where the broker held one of the run's messages, from the moment it was seen
    there (live_lab/broker_lane.py); a row per change."""

    class Where(models.TextChoices):
        QUEUED = "queued", "in the queue"
        UNACKED = "unacked", "delivered to a worker, not acknowledged"
        RESTORED = "restored", "restored to the queue"
        GONE = "gone", "no longer in the broker"

    run = models.ForeignKey(LabRun, on_delete=models.CASCADE, related_name="broker_readings")
    task_id = models.CharField(max_length=36)
    after_ms = models.FloatField(help_text="Milliseconds since the task was sent.")
    where = models.CharField(max_length=10, choices=Where.choices)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["run", "after_ms", "pk"]

    def __str__(self):
        return f"{self.run_id} {self.task_id} {self.where} at {self.after_ms:.0f} ms"


class LabEvent(models.Model):
    """Lane 2: what the worker (or the publisher) itself reported, written from Celery signals.

    Keyed by task id, because the worker knows nothing of runs (live_lab/worker_signals.py).
    """

    class Kind(models.TextChoices):
        PUBLISHED = "published"
        RECEIVED = "received"
        STARTED = "started"
        RETRIED = "retried"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        REVOKED = "revoked"
        # The revoke command reached the worker that holds the task (not a signal: our wrapper
        # of the worker's `revoke` command, live_lab/worker_signals.py).
        REVOKE_ARRIVED = "revoke arrived"

    task_id = models.CharField(max_length=36, db_index=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    hostname = models.CharField(max_length=255, blank=True)
    detail = models.TextField(blank=True)
    at = models.DateTimeField()

    # What a worker reports last about a task: after one of these it no longer runs it.
    LAST_WORDS = (Kind.SUCCEEDED, Kind.FAILED, Kind.REVOKED)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self):
        return f"{self.task_id} {self.kind}"


class SandboxClaim(models.Model):
    """One of the site's LAB_SANDBOXES sandbox workers, claimed by the process that runs it.

    The unique slot number is what bounds them: two processes claiming the last free slot at
    once cannot both insert it (live_lab/sandbox.py).
    """

    slot = models.PositiveSmallIntegerField(unique=True)
    holder = models.CharField(max_length=255, help_text="host:pid of the process that claimed it.")
    hostname = models.CharField(max_length=255, help_text="The sandbox worker's own hostname.")
    claimed_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(
        help_text="By then its worker has killed itself (LAB_SANDBOX_LIFETIME): the slot is free again."
    )

    def __str__(self):
        return f"sandbox slot {self.slot}: {self.hostname}"


class ChallengeAttempt(models.Model):
    """One try at a challenge (live_lab/challenges.py): the configuration the learner chose, the
    batch fired at a sandbox worker, and what the check found, task by task."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        NOT_RUN = "not_run", "Not run"  # no sandbox worker was free, or it did not start

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="challenge_attempts"
    )
    challenge = models.SlugField(max_length=40)
    choices = models.JSONField(default=dict, help_text="The configuration the learner chose.")
    size = models.PositiveSmallIntegerField(help_text="How many tasks the batch had.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    task_ids = models.JSONField(default=list, blank=True, help_text="The batch's task ids, in order.")
    kills = models.JSONField(default=list, blank=True, help_text="What the script killed, and when.")
    tasks = models.JSONField(
        default=list, blank=True, help_text="The check, per task: runs, effects applied, final state."
    )
    summary = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            # One attempt at a time per learner: a double click starts one sandbox, not two.
            models.UniqueConstraint(
                fields=["owner"],
                condition=models.Q(status="running"),
                name="one_running_challenge_per_learner",
            )
        ]

    def __str__(self):
        return f"{self.challenge} {self.status}"

    def get_absolute_url(self):
        return reverse("live_lab:challenge_attempt", args=[self.pk])

    @property
    def is_running(self) -> bool:
        return self.status == self.Status.RUNNING

    @property
    def has_passed(self) -> bool:
        return self.status == self.Status.PASSED


class ChallengeHint(models.Model):
    """A hint a learner asked for: hint `level` of a challenge's ladder, revealed once."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="challenge_hints"
    )
    challenge = models.SlugField(max_length=40)
    level = models.PositiveSmallIntegerField(help_text="1 for the first hint of the ladder.")
    revealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["owner", "challenge", "level"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "challenge", "level"], name="challenge_hint_once"),
        ]

    def __str__(self):
        return f"{self.challenge} hint {self.level}"


class ChallengeEffect(models.Model):
    """The side effect of one run of a challenge task (live_lab.tasks.apply_effect), written by
    the task itself in the worker: what really happened, counted by the challenge's check.

    An idempotent task writes its effect under a key; the unique key is what makes a second run
    of the same task add nothing. A task that is not idempotent writes no key (NULLs never clash).
    """

    attempt = models.ForeignKey(ChallengeAttempt, on_delete=models.CASCADE, related_name="effects")
    index = models.PositiveSmallIntegerField(help_text="The task's place in the batch.")
    idempotency_key = models.CharField(max_length=60, null=True, blank=True, unique=True)
    applied_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["attempt", "index", "pk"]

    def __str__(self):
        return f"effect of task {self.index} of attempt {self.attempt_id}"
