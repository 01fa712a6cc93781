import secrets

from django.conf import settings
from django.db import models
from django.urls import reverse

# No 0/O or 1/I/L: a code read aloud or copied from a slide survives.
JOIN_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
JOIN_CODE_LENGTH = 8


def new_join_code() -> str:
    """A random code; 31**8 (about 8.5e11) of them, and the unique constraint catches a repeat."""
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


class Cohort(models.Model):
    """A group of learners an instructor follows. Learners join with `join_code`."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cohorts")
    name = models.CharField(max_length=100)
    join_code = models.CharField(max_length=12, unique=True, default=new_join_code, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    learners = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="joined_cohorts"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="unique_cohort_name_per_owner"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("instructor:cohort_dashboard", args=[self.pk])

    def get_join_url(self):
        return reverse("instructor:join", args=[self.join_code])


class Membership(models.Model):
    """A learner in a cohort. Joining twice keeps one row (the unique constraint)."""

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="memberships")
    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cohort_memberships"
    )
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["cohort", "joined_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["cohort", "learner"], name="one_membership_per_cohort_learner"),
        ]

    def __str__(self):
        return f"{self.learner_id} in {self.cohort_id}"
