"""Admin changelists over big tables without an exact COUNT(*) of the whole table.

An unfiltered changelist on PostgreSQL takes the planner's row estimate
(`pg_class.reltuples`, kept fresh by autovacuum/ANALYZE) once it passes a
threshold; below it, on a filtered list, or on SQLite the count is exact.
"""

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """A paginator that estimates the size of an unfiltered, big table."""

    # Below this many (estimated) rows an exact count is cheap enough.
    estimate_threshold = 10_000

    is_estimated = False

    @cached_property
    def count(self) -> int:
        estimate = self._table_estimate()
        if estimate is not None and estimate > self.estimate_threshold:
            self.is_estimated = True
            return estimate
        return super().count

    def page(self, number):
        if not self.is_estimated:
            return super().page(number)
        # The estimate is approximate: slice by page size alone rather than
        # clipping the last page to a count that may be off.
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        return self._get_page(self.object_list[bottom : bottom + self.per_page], number, self)

    def _table_estimate(self) -> int | None:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is None or not _is_whole_table(query):
            return None
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        table = connection.ops.quote_name(queryset.model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [table])
            row = cursor.fetchone()
        # reltuples is -1 (PostgreSQL 14+) or 0 until the table is first analysed.
        if row is None or row[0] is None or row[0] < 0:
            return None
        return int(row[0])


def _is_whole_table(query) -> bool:
    """True when the query selects every row of its table exactly once."""
    return (
        not query.where
        and not query.distinct
        and not query.combinator
        and not query.group_by
        and query.low_mark == 0
        and query.high_mark is None
    )


class BigTableAdminMixin:
    """ModelAdmin settings for tables that grow without bound.

    No exact count of the whole table (estimated paginator, no "N total"),
    and no facet counts (each would be an aggregate over the filtered table).
    """

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
