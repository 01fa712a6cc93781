"""Path converters shared by every urls.py (registered in config/urls.py)."""

# The largest value of a signed 64-bit integer: the widest integer column of SQLite and of
# PostgreSQL's bigint. Django returns no rows for a larger value on an IntegerField lookup, but
# not on every lookup (a foreign key's `learner_id=` raised OverflowError, a 500), so such ids
# are refused here, before any view runs.
MAX_DATABASE_ID = 2**63 - 1


class DatabaseIdConverter:
    """`<id:name>`: a non-negative whole number a database column can hold, else no match.

    An id that does not match leaves the URL unresolved, so Django answers 404 whoever asks:
    the same answer as for an id that fits but names nothing.
    """

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_DATABASE_ID:
            raise ValueError(f"{value} does not fit a 64-bit database id")  # Django: no match
        return number

    def to_url(self, value) -> str:
        return str(value)
