"""Django's SQLite backend, with INSERTs that do not return the new row's id by RETURNING."""
