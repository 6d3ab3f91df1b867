"""Reading rows with raw SQL in tests, to see what the database really holds."""

from django.db import connection


def raw_row(model, pk, *columns):
    """Column values as the database holds them, bypassing the ORM's conversions."""
    quote = connection.ops.quote_name
    selected = ", ".join(quote(c) for c in columns)
    sql = f"SELECT {selected} FROM {quote(model._meta.db_table)} WHERE id = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        return cursor.fetchone()
