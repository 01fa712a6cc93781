"""Django's SQLite backend, with INSERTs that do not return the new row's id by RETURNING.

An INSERT ... RETURNING keeps SQLite's write lock from its first step, which hands Python the
returned row, until Python steps it again to the end. In between, the thread takes the
interpreter lock back; in the busy web process that can take milliseconds, and all that time
every other writer (the worker storing results and lane-2 rows) waits, backing off for up to
100 ms at a time. A plain INSERT ends, and releases the lock, inside one step; Django then
reads the id from cursor.lastrowid, as it did before SQLite 3.35 (docs/PERFORMANCE.md).

bulk_create no longer sets the new rows' ids either (Django does so only where the database
returns them); instructor/demo.py, the one caller that needs them, assigns them itself.
"""

from django.db.backends.sqlite3 import base, features


class DatabaseFeatures(features.DatabaseFeatures):
    can_return_columns_from_insert = False
    can_return_rows_from_bulk_insert = False


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
