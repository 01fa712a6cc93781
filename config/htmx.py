"""The one place that chooses between a full page and an htmx fragment."""


def page_or_partial(request, template: str, partial: str) -> str:
    """`template#partial` for an htmx request, the whole page otherwise.

    A history-restore request (the back button after htmx swapped the page) always gets the
    whole page: htmx puts the response in place of the entire body.
    """
    if request.htmx and not request.htmx.history_restore_request:
        return f"{template}#{partial}"
    return template
