"""What the apps standing on the course add to its pipeline, registered from their
AppConfig.ready(), so that the course never imports them (STYLE.md, "Apps depend one way").

- live_lab registers its catalog: the experiment ids a `lab:` field may name, with their titles.
- quizzes registers the explain claim syntax (its scorer reads claims in that syntax), the sync
  of the items it stores (questions and their options, explain prompts and their concepts and
  wrong claims), and its models' markdown fields that `content sync` renders.

Each register_* call replaces an earlier one from the same function or model: ready() may run
more than once in a test process.
"""

from collections.abc import Callable, Mapping

_lab_catalog: Callable[[], Mapping[str, str]] | None = None
_claim_syntax: Callable[[str], object] | None = None
_item_syncs: dict[str, Callable] = {}
_text_fields: dict[type, list[str]] = {}


def register_lab_catalog(titles: Callable[[], Mapping[str, str]]) -> None:
    """`titles()` answers {experiment id: title}; called when asked, not at startup."""
    global _lab_catalog
    _lab_catalog = titles


def lab_experiments() -> Mapping[str, str]:
    """{experiment id: title} of the live lab; empty when no lab is installed."""
    return _lab_catalog() if _lab_catalog else {}


def register_claim_syntax(parse: Callable[[str], object]) -> None:
    """`parse(phrasing)` raises ValueError, with a message for an author, on a bad claim."""
    global _claim_syntax
    _claim_syntax = parse


def check_claim_syntax(phrasing: str) -> None:
    """Raise ValueError when `phrasing` is not a claim the explain scorer can read."""
    if _claim_syntax is not None:  # without quizzes, no explain prompt is ever scored
        _claim_syntax(phrasing)


def register_item_sync(sync: Callable) -> None:
    """`sync(context)` writes its rows from `context.curriculum` (learn/curriculum/sync.py,
    SyncContext), inside the sync's transaction, after topics, claims, misconceptions and cards."""
    _item_syncs[f"{sync.__module__}.{sync.__qualname__}"] = sync


def item_syncs() -> list[Callable]:
    return list(_item_syncs.values())


def register_texts(model: type, field_names: list[str]) -> None:
    """The model's markdown fields, rendered and stored by `content sync` (render.py)."""
    _text_fields[model] = field_names


def text_fields() -> list[tuple[type, list[str]]]:
    return list(_text_fields.items())
