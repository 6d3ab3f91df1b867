"""Small admin building blocks every app's admin uses: read-only display of JSON,
guards against secret lookups, read-only and exact-search admins, a cheap filter of
distinct values."""

import json

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Q
from django.db.models.constants import LOOKUP_SEP
from django.utils.html import format_html

from core.phone import normalize_phone_number


def pretty_json(value) -> str:
    """A JSON value as an indented, escaped <pre> block for read-only display."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)


def normalised_phone_or_none(text: str) -> str | None:
    try:
        return normalize_phone_number(text)
    except ValidationError:
        return None


class SecretLookupGuardMixin:
    """Refuse changelist lookups whose path touches a secret column.

    Without this, `?code_hash__startswith=ab` in a changelist URL would be an
    oracle for the stored value. A refused lookup makes the admin answer 400.
    """

    secret_fields: frozenset[str] = frozenset()

    def lookup_allowed(self, lookup, value, request=None):
        if not self.secret_fields.isdisjoint(lookup.split(LOOKUP_SEP)):
            return False
        return super().lookup_allowed(lookup, value, request)


class ReadOnlyAdminMixin:
    """Rows written by the system: staff can look (and delete, where allowed), never edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ExactSearchMixin:
    """Search by exact values only, so a search on a big table is an index lookup.

    `exact_search_fields` are compared to the term as typed; `phone_search_fields`
    to the term normalised to E.164 (when it is a phone number). `search_fields`
    is still set on the admin so the search box shows; it is not used to query.
    """

    exact_search_fields: tuple[str, ...] = ()
    phone_search_fields: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(self.exact_search_q(term)), False

    def exact_search_q(self, term: str) -> Q:
        condition = Q(pk__in=[])  # matches nothing when no field applies
        for field_path in self.exact_search_fields:
            condition |= Q(**{field_path: term})
        phone = normalised_phone_or_none(term)
        if phone:
            for field_path in self.phone_search_fields:
                condition |= Q(**{field_path: phone})
        return condition


def distinct_values(model, field_name: str, *, limit: int) -> list[str]:
    """The distinct non-null values of a column, smallest first, at most `limit`.

    On PostgreSQL this is a loose index scan (one index probe per distinct
    value) instead of a DISTINCT over the whole table; the column needs a
    B-tree index with it as the leading column.
    """
    manager = model._default_manager
    connection = connections[manager.db]
    if connection.vendor != "postgresql":
        values = (
            manager.exclude(**{f"{field_name}__isnull": True})
            .order_by(field_name)
            .values_list(field_name, flat=True)
            .distinct()[:limit]
        )
        return list(values)
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    column = quote(model._meta.get_field(field_name).column)
    # Only quoted identifiers are interpolated; the limit is a parameter.
    sql = f"""
        WITH RECURSIVE v(value) AS (
            (SELECT {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY {column} LIMIT 1)
            UNION ALL
            SELECT (SELECT {column} FROM {table} WHERE {column} > v.value
                    ORDER BY {column} LIMIT 1)
            FROM v WHERE v.value IS NOT NULL
        )
        SELECT value FROM v WHERE value IS NOT NULL LIMIT %s
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [row[0] for row in cursor.fetchall()]


class DistinctValuesFilter(admin.SimpleListFilter):
    """Filter a free-text column by the values it actually holds (cheaply, see above).

    Subclass with `title`, `parameter_name` and `field_name`.
    """

    field_name: str
    max_values = 100

    def lookups(self, request, model_admin):
        values = distinct_values(model_admin.model, self.field_name, limit=self.max_values)
        return [(value, value) for value in values if value]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(**{self.field_name: value})


# ---------------------------------------------------------------------------
# Users
