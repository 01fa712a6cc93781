"""Everything that writes instructor rows: the role, cohorts, memberships."""

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from instructor.models import Cohort, Membership
from learn.models import INSTRUCTORS_GROUP


def grant_instructor(user) -> bool:
    """Put `user` in the instructors group. False when they already were in it."""
    group, _ = Group.objects.get_or_create(name=INSTRUCTORS_GROUP)
    if user.groups.filter(pk=group.pk).exists():
        return False
    user.groups.add(group)
    return True


def create_cohort(*, owner, name: str) -> Cohort:
    """A new cohort with a fresh join code. Raises IntegrityError for a name the owner already uses."""
    return Cohort.objects.create(owner=owner, name=name)


def join_cohort(cohort: Cohort, *, learner) -> tuple[Membership, bool]:
    """Add `learner` to `cohort` once; a second join (a double click, the link opened again) is a no-op.

    Returns the membership and whether it is new. The unique (cohort, learner) constraint
    settles two joins racing each other.
    """
    existing = Membership.objects.filter(cohort=cohort, learner=learner).first()
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            return Membership.objects.create(cohort=cohort, learner=learner), True
    except IntegrityError:
        return Membership.objects.get(cohort=cohort, learner=learner), False
