"""How many rows a table has, cheaply: PostgreSQL's planner estimate once the table is
big (`pg_class.reltuples`, kept fresh by autovacuum/ANALYZE), an exact count below
that and on other databases. For pages that must not COUNT(*) a huge table."""

from django.db import connections


def table_estimate(model, *, using: str = "default") -> int | None:
    """The planner's row estimate of `model`'s table; None off PostgreSQL, or before
    the table was first analysed."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    # reltuples is -1 (PostgreSQL 14+) or 0 until the table is first analysed.
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


def table_count(model, *, threshold: int, using: str = "default") -> tuple[int, bool]:
    """(rows, estimated) of `model`'s whole table: the estimate above `threshold`
    rows, else an exact count."""
    estimate = table_estimate(model, using=using)
    if estimate is not None and estimate > threshold:
        return estimate, True
    return model._default_manager.using(using).order_by().count(), False
