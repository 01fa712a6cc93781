"""Template context every page gets."""

from functools import cache

from learn.queries import due_count_for


def review_due_count(request):
    """`review_due_count`: the signed-in learner's due cards, for the navigation's "Review (N)".

    A callable, which templates call when they show it: a template that never shows it (an htmx
    fragment, an anonymous page) costs nothing, and one query for the whole page when it is shown.
    Templates get the int itself, so filters such as `pluralize` work (a SimpleLazyObject has no
    float() or len(), and `pluralize` gave "30 card due").
    """

    @cache
    def count() -> int:
        return due_count_for(request.user) if request.user.is_authenticated else 0

    return {"review_due_count": count}
