from django.conf import settings
from django.db import models

from learn.models import ActiveManager, Archivable, CurriculumItem, Topic


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

    objects = models.Manager()
    active = ActiveManager()

    class Meta:
        ordering = ["topic", "position"]

    def __str__(self):
        return self.slug


class Option(Archivable):
    """One choice of a question. `key` (A to F) is its stable id within the question."""

    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="options")
    key = models.CharField(max_length=1)
    text = models.TextField()
    is_correct = models.BooleanField()
    position = models.PositiveIntegerField(default=0)

    objects = models.Manager()
    active = ActiveManager()

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

    objects = models.Manager()
    active = ActiveManager()

    class Meta:
        ordering = ["topic", "position"]

    def __str__(self):
        return self.slug


class KeyConcept(Archivable):
    """A concept an explanation should name. `key` is the slug of its name, stable per prompt."""

    prompt = models.ForeignKey(ExplainPrompt, on_delete=models.PROTECT, related_name="concepts")
    key = models.SlugField(max_length=80)
    name = models.CharField(max_length=200)
    phrasings = models.JSONField(default=list)
    position = models.PositiveIntegerField(default=0)

    objects = models.Manager()
    active = ActiveManager()

    class Meta:
        ordering = ["prompt", "position"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "key"], name="unique_concept_key"),
        ]

    def __str__(self):
        return self.name


class PracticeAnswer(models.Model):
    """A learner's answer to a practice question, graded when it was given."""

    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="practice_answers"
    )
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="practice_answers")
    options = models.ManyToManyField(Option, related_name="practice_answers")
    is_correct = models.BooleanField()
    answered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-answered_at"]

    def __str__(self):
        return f"{self.learner} on {self.question.slug}"
