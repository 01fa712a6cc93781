"""Model instances from hand-written SQL, for the few statements most of a class's requests make.

Django builds and compiles a queryset's SQL anew every time it runs. In the classroom profile
(docs/PERFORMANCE.md, "Plain SQL where most requests go") that took more of the web's CPU than
running the statements: an answer's four writes cost 1.7 ms of CPU through the ORM and 0.33 ms as
plain statements. So the statements of an answer and of a card rating (together two thirds of a
class's requests) and the navigation's due count are written in SQL; the rest of the app keeps
the ORM.

`Columns` keeps such a SELECT in step with the models: it lists a model's columns from its
fields, and turns the values back into an instance through the converters the ORM itself applies
(SQLite's datetimes made aware, its booleans). `insert` writes a new row from an instance, each
value prepared by its field as `Model.save` prepares it.
"""

from weakref import WeakKeyDictionary

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model


class Columns:
    """A model's columns under a table alias in a hand-written SELECT, and its instances."""

    def __init__(self, model: type[Model], alias: str):
        self.model = model
        self.alias = alias
        self.fields = model._meta.concrete_fields
        self.attnames = [field.attname for field in self.fields]
        # Per connection (each thread has its own): a backend's converters are bound to it.
        self.converters_by_connection: WeakKeyDictionary = WeakKeyDictionary()

    def __len__(self) -> int:
        return len(self.fields)

    def sql(self) -> str:
        """`alias.column, …` for the SELECT list, in the order `instance` reads them."""
        quote = connection.ops.quote_name
        return ", ".join(f"{quote(self.alias)}.{quote(field.column)}" for field in self.fields)

    def instance(self, row, start: int = 0) -> Model:
        """The model instance of row[start:start + len(self)], as the ORM would have made it."""
        wrapper = connections[DEFAULT_DB_ALIAS]
        values = list(row[start : start + len(self.fields)])
        for position, converters, column in self.converters(wrapper):
            for converter in converters:
                values[position] = converter(values[position], column, wrapper)
        return self.model.from_db(wrapper.alias, self.attnames, values)

    def converters(self, wrapper) -> list:
        """(position, converters, column) for the fields that have any, as SQLCompiler.get_converters."""
        found = self.converters_by_connection.get(wrapper)
        if found is None:
            found = []
            for position, field in enumerate(self.fields):
                column = field.get_col(self.alias)
                converters = wrapper.ops.get_db_converters(column) + column.get_db_converters(wrapper)
                if converters:
                    found.append((position, converters, column))
            self.converters_by_connection[wrapper] = found
        return found


def insert(instance: Model) -> None:
    """INSERT the instance's row, as `instance.save(force_insert=True)` would, without sending
    signals (the app connects none to these models), and set its id: by RETURNING where the
    backend says so (not on SQLite: config/sqlite_backend/), else from the cursor's lastrowid."""
    fields = [field for field in instance._meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(instance._meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"
        f" VALUES ({', '.join(['%s'] * len(fields))})"
    )
    returning = connection.features.can_return_columns_from_insert
    if returning:
        sql += f" RETURNING {quote(instance._meta.pk.column)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        instance.pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    instance._state.adding = False
    instance._state.db = connection.alias
