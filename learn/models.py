import datetime as dt

import fsrs
from django.conf import settings
from django.db import connection, models
from django.urls import reverse

from config.plain_sql import Columns


class ActiveManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(archived_at__isnull=True)


class Archivable(models.Model):
    # Content that vanishes from the markdown is archived, never deleted: learners' history
    # points at it.
    archived_at = models.DateTimeField(null=True, blank=True)

    objects = models.Manager()
    active = ActiveManager()  # what learners see

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


class Topic(CurriculumItem):
    title = models.CharField(max_length=200)
    summary = models.TextField()
    minutes = models.PositiveIntegerField()
    tags = models.JSONField(default=list)
    order = models.IntegerField()
    body = models.TextField(help_text="The cheat sheet, in markdown.")

    class Meta:
        ordering = ["order", "slug"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("dashboard:topic_detail", args=[self.slug])


class Flashcard(CurriculumItem):
    class Level(models.TextChoices):
        BEGINNER = "beginner"
        INTERMEDIATE = "intermediate"
        ADVANCED = "advanced"

    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="flashcards")
    level = models.CharField(max_length=12, choices=Level.choices)
    front = models.TextField()
    back = models.TextField()

    class Meta:
        ordering = ["topic", "position"]

    def __str__(self):
        return self.slug


class CardReviewStates(models.Manager):
    def of(self, learner_id: int, flashcard_ids: list[int]) -> dict[int, "CardReviewState"]:
        """The learner's states of these cards, by card id. One statement, in SQL: a card rating
        reads them twice (its card's, then its topic's), and through the ORM building and
        compiling the statement cost more CPU than running it (config/plain_sql.py)."""
        if not flashcard_ids:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {STATE_COLUMNS.sql()} FROM learn_cardreviewstate s"
                f" WHERE s.learner_id = %s AND s.flashcard_id IN ({', '.join(['%s'] * len(flashcard_ids))})",
                [learner_id, *flashcard_ids],
            )
            states = [STATE_COLUMNS.instance(row) for row in cursor.fetchall()]
        return {state.flashcard_id: state for state in states}


class CardReviewState(models.Model):
    """One learner's FSRS schedule for one flashcard: the fields of an `fsrs.Card`.

    No row means the learner has never rated the card (a "new" card). `due_at` leads the
    (learner, due_at) index that the review queue and the navigation's due count read.
    """

    class State(models.TextChoices):
        # The names match fsrs.State (Learning = 1, Review = 2, Relearning = 3).
        LEARNING = "learning"
        REVIEW = "review"
        RELEARNING = "relearning"

    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="card_states"
    )
    flashcard = models.ForeignKey(Flashcard, on_delete=models.PROTECT, related_name="review_states")
    state = models.CharField(max_length=12, choices=State.choices)
    step = models.PositiveSmallIntegerField(null=True, blank=True)
    stability = models.FloatField(null=True, blank=True)
    difficulty = models.FloatField(null=True, blank=True)
    due_at = models.DateTimeField()
    last_reviewed_at = models.DateTimeField(null=True, blank=True)
    review_count = models.PositiveIntegerField(
        default=0, help_text="Ratings so far; a rating form must name it, so a replayed POST is ignored."
    )

    objects = CardReviewStates()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["learner", "flashcard"], name="one_review_state_per_learner_card")
        ]
        indexes = [models.Index(fields=["learner", "due_at"], name="review_state_due")]

    def __str__(self):
        return f"{self.learner_id}:{self.flashcard_id} due {self.due_at:%Y-%m-%d %H:%M}"

    def to_fsrs(self) -> fsrs.Card:
        return fsrs.Card(
            card_id=self.flashcard_id,
            state=fsrs.State[self.state.capitalize()],
            step=self.step,
            stability=self.stability,
            difficulty=self.difficulty,
            due=self.due_at.astimezone(dt.UTC),
            last_review=self.last_reviewed_at.astimezone(dt.UTC) if self.last_reviewed_at else None,
        )

    def set_from_fsrs(self, card: fsrs.Card) -> None:
        self.state = card.state.name.lower()
        self.step = card.step
        self.stability = card.stability
        self.difficulty = card.difficulty
        self.due_at = card.due
        self.last_reviewed_at = card.last_review


STATE_COLUMNS = Columns(CardReviewState, "s")


class Rating(models.IntegerChoices):
    # The values are fsrs.Rating's.
    AGAIN = 1, "Again"
    HARD = 2, "Hard"
    GOOD = 3, "Good"
    EASY = 4, "Easy"


class CardReviewLog(models.Model):
    """One rating, with the card's state just before it, so the latest rating can be undone exactly."""

    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="card_reviews"
    )
    flashcard = models.ForeignKey(Flashcard, on_delete=models.PROTECT, related_name="review_logs")
    rating = models.PositiveSmallIntegerField(choices=Rating.choices)
    reviewed_at = models.DateTimeField()
    number = models.PositiveIntegerField(
        help_text="1 for the learner's first rating of this card, and so on."
    )
    state_before = models.JSONField(
        null=True, blank=True, help_text="fsrs.Card.to_dict() before this rating; null when the card was new."
    )

    class Meta:
        constraints = [
            # A double click or a replayed POST cannot record the same review twice.
            models.UniqueConstraint(
                fields=["learner", "flashcard", "number"], name="one_log_per_review_number"
            ),
            models.CheckConstraint(condition=models.Q(rating__gte=1, rating__lte=4), name="rating_is_1_to_4"),
        ]
        indexes = [models.Index(fields=["learner", "-id"], name="review_log_latest")]

    def __str__(self):
        return f"{self.learner_id}:{self.flashcard_id} #{self.number} {self.get_rating_display()}"


class Claim(CurriculumItem):
    """A behavioural fact about Celery that content items rest on, proved by a test (`check_path`).

    Loaded from content/claims/*.md by `content sync`; the links to the items that cite it are
    rebuilt from their `claims:` fields on every sync.
    """

    class Modes(models.TextChoices):
        BOTH = "both", "both run modes"
        REDIS = "redis", "Redis mode only"
        EMBEDDED = "embedded", "embedded mode (django-db) only"

    statement = models.TextField(help_text="Markdown, one to three sentences.")
    check_path = models.CharField(max_length=255, help_text="tests/<file>.py::<test function>")
    modes = models.CharField(max_length=8, choices=Modes.choices)
    since = models.CharField(max_length=20, blank=True, help_text="Celery version the behaviour holds since.")
    flashcards = models.ManyToManyField(Flashcard, blank=True, related_name="claims")
    questions = models.ManyToManyField("quizzes.Question", blank=True, related_name="claims")
    explain_prompts = models.ManyToManyField("quizzes.ExplainPrompt", blank=True, related_name="claims")

    class Meta:
        ordering = ["source_path", "position"]

    def __str__(self):
        return self.slug


class Misconception(CurriculumItem):
    """A wrong belief about Celery that learners hold, refuted by a claim of the registry.

    Loaded from content/misconceptions/<slug>.md by `content sync`; the wrong options of
    questions name the misconception they embody (`quizzes.Option.misconception`).
    """

    statement = models.TextField(help_text="The belief, as a learner would hold it.")
    why_wrong = models.TextField(help_text="Markdown: why the belief is wrong for the installed Celery.")
    refuted_by = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="misconceptions")
    source_url = models.URLField(blank=True, help_text="A Celery doc or issue where the belief shows.")
    lab_slug = models.CharField(
        max_length=80, blank=True, help_text="A live-lab experiment that shows it wrong."
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.slug

    def get_absolute_url(self):
        return reverse("dashboard:misconception_detail", args=[self.slug])


class ExperimentLink(models.Model):
    """A place in the course that a live-lab experiment illuminates, from the content's `lab:`
    lines: a cheat-sheet section or a question. Derived on every `content sync`; the experiment
    page reads them to link back, by experiment id, without importing quizzes."""

    class Kind(models.TextChoices):
        SECTION = "section", "Cheat-sheet section"
        QUESTION = "question", "Question"

    experiment = models.SlugField(max_length=80, help_text="The lab's experiment id.")
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="experiment_links")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = models.CharField(
        max_length=200, help_text="A section's anchor on the topic page, or a question's id."
    )
    title = models.TextField(help_text="What the link says (markdown): the heading or the question.")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["topic__order", "position"]  # per topic: its sections, then its questions
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "topic", "kind", "target"], name="one_link_per_place"
            )
        ]

    def __str__(self):
        return f"{self.experiment} -> {self.kind} {self.target}"


# The role: members of this Django group (or staff) are instructors. Created by a migration
# (instructor/migrations/0002); `manage.py grant_instructor USERNAME` or the admin's user page
# adds someone to it. Defined with the accounts, on the floor, so that logging in can tell.
INSTRUCTORS_GROUP = "instructors"


class Signup(models.Model):
    """One account created, by the client address it came from (config/client_address.py).

    Counted for the signup limit (services.create_account) and deleted after an hour: the only
    record of an address the app keeps for signups.
    """

    address = models.CharField(max_length=45)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["address", "created_at"])]

    def __str__(self):
        return f"{self.address} at {self.created_at:%Y-%m-%d %H:%M}"


class RenderedText(models.Model):
    """A curriculum text's HTML, rendered by `content sync` (learn/curriculum/render.py), so that
    no web process renders the markdown of a page a whole class opens in the same minute."""

    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the markdown source.")
    html = models.TextField()

    def __str__(self):
        return self.digest


class ContentVersion(models.Model):
    """The curriculum's version: one row, given a new token by every `content sync`, in the
    sync's transaction. Web processes keep what pages show of the curriculum per token
    (learn/curriculum/kept.py) and read the database again when it changes."""

    token = models.CharField(max_length=32)
    synced_at = models.DateTimeField()

    def __str__(self):
        return f"{self.token} ({self.synced_at:%Y-%m-%d %H:%M})"
