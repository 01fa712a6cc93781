from django.conf import settings
from django.db import models
from django.urls import reverse

from learn.models import Archivable, CurriculumItem, Misconception, Topic


class Certainty(models.TextChoices):
    """How sure the learner said they were of an answer (certainty-based marking, quizzes/certainty.py)."""

    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Question(CurriculumItem):
    class Difficulty(models.TextChoices):
        EASY = "easy"
        MEDIUM = "medium"
        HARD = "hard"

    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="questions")
    difficulty = models.CharField(max_length=6, choices=Difficulty.choices)
    stem = models.TextField()
    explanation = models.TextField()
    hint = models.TextField()
    solution = models.TextField()
    common_mistakes = models.TextField()
    lab_experiment = models.SlugField(max_length=80, blank=True)

    class Meta:
        ordering = ["topic", "position"]

    def __str__(self):
        return self.slug

    @property
    def is_single_answer(self) -> bool:
        """Exactly one active option is correct (reads the `active_options` prefetch): radio buttons."""
        return sum(1 for option in self.active_options if option.is_correct) == 1

    @property
    def correct_keys_label(self) -> str:
        """ "A, C": the keys of the correct active options (reads the `active_options` prefetch)."""
        return ", ".join(option.key for option in self.active_options if option.is_correct)


class Option(Archivable):
    """One choice of a question. `key` (A to F) is its stable id within the question."""

    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="options")
    key = models.CharField(max_length=1)
    text = models.TextField()
    is_correct = models.BooleanField()
    position = models.PositiveIntegerField(default=0)
    # The wrong belief a wrong option embodies (the question's "#### Misconceptions").
    misconception = models.ForeignKey(
        "learn.Misconception", on_delete=models.PROTECT, null=True, blank=True, related_name="options"
    )

    class Meta:
        ordering = ["question", "position"]
        constraints = [
            models.UniqueConstraint(fields=["question", "key"], name="unique_option_key"),
        ]

    def __str__(self):
        return f"{self.question.slug} {self.key}"


class ExplainPrompt(CurriculumItem):
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="explain_prompts")
    prompt = models.TextField()
    hint = models.TextField()
    # Shown after each check. Prompts synced before it existed have "".
    model_answer = models.TextField(blank=True)

    class Meta:
        ordering = ["topic", "position"]

    def __str__(self):
        return self.slug


class KeyConcept(Archivable):
    """A concept an explanation should make. `key` is the slug of its name, stable per prompt;
    `phrasings` are the claims that make it (syntax: quizzes/explain.py)."""

    prompt = models.ForeignKey(ExplainPrompt, on_delete=models.PROTECT, related_name="concepts")
    key = models.SlugField(max_length=80)
    name = models.CharField(max_length=200)
    phrasings = models.JSONField(default=list)
    position = models.PositiveIntegerField(default=0)
    # The cheat-sheet heading that teaches it, and that heading's anchor on the topic page.
    section_heading = models.CharField(max_length=200, blank=True)
    section_anchor = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["prompt", "position"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "key"], name="unique_concept_key"),
        ]

    def __str__(self):
        return self.name


class WrongClaim(Archivable):
    """A wrong claim learners make in an explanation: the misconception it embodies and the
    concept it contradicts. Found in an answer, it is named and that concept does not count."""

    prompt = models.ForeignKey(ExplainPrompt, on_delete=models.PROTECT, related_name="wrong_claims")
    key = models.SlugField(max_length=80)
    name = models.CharField(max_length=200)
    misconception = models.ForeignKey(Misconception, on_delete=models.PROTECT, related_name="wrong_claims")
    contradicts = models.ForeignKey(KeyConcept, on_delete=models.PROTECT, related_name="contradicted_by")
    phrasings = models.JSONField(default=list)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["prompt", "position"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "key"], name="unique_wrong_claim_key"),
        ]

    def __str__(self):
        return self.name

    @property
    def contradicts_key(self) -> str:
        return self.contradicts.key


class PracticeAnswer(models.Model):
    """A learner's answer to a practice question, graded when it was given."""

    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="practice_answers"
    )
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="practice_answers")
    options = models.ManyToManyField(Option, related_name="practice_answers")
    is_correct = models.BooleanField()
    answered_at = models.DateTimeField(auto_now_add=True)
    # Added with practice mode; older rows default to False.
    hint_taken = models.BooleanField(default=False)
    # Added with certainty-based marking; "" is an answer given before it (not stated).
    certainty = models.CharField(max_length=6, choices=Certainty.choices, blank=True, default="")

    class Meta:
        ordering = ["-answered_at"]

    def __str__(self):
        return f"{self.learner} on {self.question.slug}"


class HintRequest(models.Model):
    """A learner asked for a practice question's hint. Recorded apart from their answers."""

    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hint_requests"
    )
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="hint_requests")
    requested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self):
        return f"{self.learner} hint on {self.question.slug}"


class Attempt(models.Model):
    """One run of "Test this pattern": questions drawn at the start, graded once on submit."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        SUBMITTED = "submitted", "Submitted"

    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attempts")
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="attempts")
    status = models.CharField(max_length=11, choices=Status.choices, default=Status.IN_PROGRESS)
    started_at = models.DateTimeField(auto_now_add=True)
    last_answered_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            # Starting twice (a double click, two tabs) resumes the same attempt.
            models.UniqueConstraint(
                fields=["learner", "topic"],
                condition=models.Q(status="in_progress"),
                name="one_open_attempt_per_topic",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(status="in_progress", submitted_at__isnull=True)
                    | models.Q(status="submitted", submitted_at__isnull=False)
                ),
                name="submitted_attempt_has_submitted_at",
            ),
        ]

    def __str__(self):
        return f"{self.learner} on {self.topic.slug} ({self.status})"

    def get_absolute_url(self):
        return reverse("quizzes:attempt_detail", args=[self.pk])

    @property
    def is_submitted(self) -> bool:
        return self.status == self.Status.SUBMITTED

    @property
    def time_taken(self):
        """From start to submit (a timedelta); None while the attempt is open."""
        return self.submitted_at - self.started_at if self.submitted_at else None


class AttemptQuestion(models.Model):
    """A question drawn for an attempt, at `position` (1-based), and the learner's answer to it."""

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="items")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="attempt_items")
    position = models.PositiveSmallIntegerField()
    # Copied when drawn, so that the breakdown of a past attempt never moves with the content.
    difficulty = models.CharField(max_length=6, choices=Question.Difficulty.choices)
    chosen = models.ManyToManyField(Option, blank=True, related_name="attempt_items")
    answered_at = models.DateTimeField(null=True, blank=True)
    # Set once, when the attempt is graded.
    is_correct = models.BooleanField(null=True, blank=True)
    # Stored with the answer; "" when unanswered or answered before certainty-based marking.
    certainty = models.CharField(max_length=6, choices=Certainty.choices, blank=True, default="")

    class Meta:
        ordering = ["attempt", "position"]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "position"], name="unique_attempt_position"),
            models.UniqueConstraint(fields=["attempt", "question"], name="unique_attempt_question"),
        ]

    def __str__(self):
        return f"{self.attempt_id} #{self.position} {self.question.slug}"

    @property
    def is_answered(self) -> bool:
        return self.answered_at is not None


class AttemptScore(models.Model):
    """The grade of a submitted attempt. One per attempt: the one-to-one makes submitting idempotent."""

    class Verdict(models.TextChoices):
        STRONG = "strong", "Strong"
        NEEDS_WORK = "needs_work", "Needs work"

    attempt = models.OneToOneField(Attempt, on_delete=models.CASCADE, related_name="score")
    correct = models.PositiveSmallIntegerField()
    total = models.PositiveSmallIntegerField()
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    scored_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(correct__lte=models.F("total")), name="score_within_total"
            ),
        ]

    def __str__(self):
        return f"{self.attempt_id}: {self.correct}/{self.total}"

    @property
    def percent(self) -> int:
        return round(100 * self.correct / self.total) if self.total else 0


class ExplainAnswer(models.Model):
    """A free-text explanation and the concepts the automatic matcher found in it."""

    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="explain_answers"
    )
    prompt = models.ForeignKey(ExplainPrompt, on_delete=models.PROTECT, related_name="answers")
    text = models.TextField()
    found_keys = models.JSONField(default=list)
    # The wrong claims found (their keys); answers scored before wrong claims existed have [].
    wrong_claim_keys = models.JSONField(default=list)
    found_count = models.PositiveSmallIntegerField()
    total = models.PositiveSmallIntegerField()
    answered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-answered_at", "-pk"]

    def __str__(self):
        return f"{self.learner} on {self.prompt.slug}: {self.found_count}/{self.total}"


class ConceptMark(models.Model):
    """The learner says a concept the matcher missed is covered. Kept apart from the automatic score."""

    answer = models.ForeignKey(ExplainAnswer, on_delete=models.CASCADE, related_name="marks")
    concept = models.ForeignKey(KeyConcept, on_delete=models.PROTECT, related_name="marks")
    marked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["answer", "concept__position"]
        constraints = [
            models.UniqueConstraint(fields=["answer", "concept"], name="unique_concept_mark"),
        ]

    def __str__(self):
        return f"{self.answer_id} marks {self.concept.key}"
