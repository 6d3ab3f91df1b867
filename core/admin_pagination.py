"""Admin changelists over big tables without an exact COUNT(*) of the whole table.

An unfiltered changelist on PostgreSQL takes the planner's row estimate
(`pg_class.reltuples`, kept fresh by autovacuum/ANALYZE) once it passes a
threshold; below it, on a filtered list, or on SQLite the count is exact.
"""

from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from core.table_size import table_count


class EstimatedCountPaginator(Paginator):
    """A paginator that estimates the size of an unfiltered, big table."""

    # Below this many (estimated) rows an exact count is cheap enough.
    estimate_threshold = 10_000

    is_estimated = False

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is None or not _is_whole_table(query):
            return super().count
        count, self.is_estimated = table_count(
            self.object_list.model,
            threshold=self.estimate_threshold,
            using=self.object_list.db,
        )
        return count

    def page(self, number):
        if not self.is_estimated:
            return super().page(number)
        # The estimate is approximate: slice by page size alone rather than
        # clipping the last page to a count that may be off.
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        return self._get_page(self.object_list[bottom : bottom + self.per_page], number, self)


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
