"""Template context every page gets."""

from django.utils.functional import SimpleLazyObject

from learn.queries import due_count_for


def review_due_count(request):
    """`review_due_count`: the signed-in learner's due cards, for the navigation's "Review (N)".

    Lazy, so a template that never shows it (an htmx fragment, an anonymous page) costs nothing;
    one query when it is shown.
    """

    def count() -> int:
        return due_count_for(request.user) if request.user.is_authenticated else 0

    return {"review_due_count": SimpleLazyObject(count)}
