"""Keeping PostgreSQL's autovacuum off tables that a module fixture fills and empties.

Such a fixture commits thousands of rows, deletes them afterwards and runs ANALYZE, so
later tests see the statistics of what is left. An autovacuum ANALYZE that started while
the rows were there can still finish after that and leave their number in
`pg_class.reltuples`, where the admin's estimated count reads it. Pausing autovacuum on
the tables for the fixture's lifetime (the ALTER also cancels a run in progress) closes
that window.
"""

from contextlib import contextmanager

from django.db import connection


@contextmanager
def autovacuum_paused(*tables: str):
    _set_autovacuum(tables, "SET (autovacuum_enabled = false)")
    try:
        yield
    finally:
        _set_autovacuum(tables, "RESET (autovacuum_enabled)")


def _set_autovacuum(tables, action: str) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ALTER TABLE {connection.ops.quote_name(table)} {action}")
