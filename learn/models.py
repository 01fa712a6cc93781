from django.db import models
from django.urls import reverse


class Archivable(models.Model):
    # Content that vanishes from the markdown is archived, never deleted: learners' history
    # points at it.
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class CurriculumItem(Archivable):
    """Fields every synced content row shares. `slug` is the content file's stable id."""

    slug = models.SlugField(max_length=80, unique=True)
    source_path = models.CharField(max_length=255, help_text="Content file, relative to the project.")
    source_line = models.PositiveIntegerField(default=1)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class ActiveManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(archived_at__isnull=True)


class Topic(CurriculumItem):
    title = models.CharField(max_length=200)
    summary = models.TextField()
    minutes = models.PositiveIntegerField()
    tags = models.JSONField(default=list)
    order = models.IntegerField()
    body = models.TextField(help_text="The cheat sheet, in markdown.")

    objects = models.Manager()
    active = ActiveManager()

    class Meta:
        ordering = ["order", "slug"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("learn:topic_detail", args=[self.slug])


class Flashcard(CurriculumItem):
    class Level(models.TextChoices):
        BEGINNER = "beginner"
        INTERMEDIATE = "intermediate"
        ADVANCED = "advanced"

    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="flashcards")
    level = models.CharField(max_length=12, choices=Level.choices)
    front = models.TextField()
    back = models.TextField()

    objects = models.Manager()
    active = ActiveManager()

    class Meta:
        ordering = ["topic", "position"]

    def __str__(self):
        return self.slug
