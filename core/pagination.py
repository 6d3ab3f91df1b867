"""Keyset (cursor) pagination: pages are found by position, never by OFFSET.

A page of N rows is one query for N + 1 rows that starts right after the cursor's
position in a fixed, unique ordering, so page 1000 costs the same as page 1 and
rows inserted meanwhile cause no duplicates or gaps. There is no total count (it
would cost a scan of the whole history).

The cursor is opaque to clients: the position (e.g. timestamp + id) and the
direction, as base64 JSON, signed so a tampered cursor is refused instead of
silently landing somewhere else.

Each list subclasses `KeysetPagination` with its ordering (`keyset`) and a salt of
its own, so one list's cursor is refused by another. API views use the subclass as
their DRF pagination class; a page without a DRF request (the admin's conversation)
calls `decode_cursor`, `fetch_page` and `encode_cursor` itself.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar

from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

INVALID_CURSOR = (
    "invalid or changed; use a page's 'next' or 'previous' link unchanged, "
    "or leave the cursor out to start at the first page."
)


@dataclass(frozen=True)
class KeysetField:
    """One column of the ordering: a field or annotation name, its direction and type."""

    name: str
    descending: bool
    kind: type  # datetime, int or str


@dataclass(frozen=True)
class Cursor:
    """A position in the ordering, and whether to read backwards from it."""

    position: tuple
    backwards: bool = False


@dataclass(frozen=True)
class KeysetPage:
    """Rows in the keyset's order, and whether there are rows beyond either end."""

    rows: list
    has_next: bool
    has_previous: bool


class InvalidCursor(ValueError):
    """A cursor this list did not sign, or one that was changed."""


def _encode_value(value: Any, kind: type) -> Any:
    if kind is datetime:
        # Integer microseconds: exact, unlike a float, and shorter than ISO text.
        return (value - EPOCH) // ONE_MICROSECOND
    return value


def _decode_value(value: Any, kind: type) -> Any:
    if kind is datetime:
        if type(value) is not int:
            raise TypeError
        return EPOCH + timedelta(microseconds=value)
    if type(value) is not kind:
        raise TypeError
    return value


def _field_value(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, dict) else getattr(row, name)


class KeysetPagination(BasePagination):
    """Pages a queryset by `keyset`, whose fields together must be unique per row.

    A subclass sets `keyset` and `cursor_salt`, and may change the query parameters
    and page sizes.
    """

    keyset: ClassVar[tuple[KeysetField, ...]] = ()
    cursor_salt: ClassVar[str] = ""
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    page_size = DEFAULT_PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.keyset or not cls.cursor_salt:
            raise ImproperlyConfigured(f"{cls.__name__} needs a keyset and a cursor_salt.")

    # -- cursors ---------------------------------------------------------------------

    @cached_property
    def signer(self) -> signing.Signer:
        return signing.Signer(salt=self.cursor_salt)

    def cursor_at(self, row: Any, *, backwards: bool = False) -> Cursor:
        """The position of `row` (a model instance or a dict of values)."""
        return Cursor(tuple(_field_value(row, f.name) for f in self.keyset), backwards)

    def encode_cursor(self, cursor: Cursor) -> str:
        values = [
            _encode_value(value, field.kind)
            for value, field in zip(cursor.position, self.keyset, strict=True)
        ]
        return self.signer.sign_object({"p": values, "b": cursor.backwards})

    def decode_cursor(self, raw: str) -> Cursor:
        """The cursor `raw` stands for; InvalidCursor unless this list signed it."""
        try:
            data = self.signer.unsign_object(raw)
            values = data["p"]
            backwards = data["b"]
            if type(backwards) is not bool or len(values) != len(self.keyset):
                raise ValueError
            position = tuple(
                _decode_value(value, field.kind)
                for value, field in zip(values, self.keyset, strict=True)
            )
        except (signing.BadSignature, ValueError, TypeError, KeyError, OverflowError):
            raise InvalidCursor from None
        return Cursor(position, backwards)

    # -- the keyset query ------------------------------------------------------------

    def ordering(self, *, backwards: bool = False) -> list[str]:
        return [
            ("-" if field.descending != backwards else "") + field.name for field in self.keyset
        ]

    def after(self, position: tuple, *, backwards: bool = False, inclusive: bool = False) -> Q:
        """Rows after `position` in the ordering (before it when backwards), and the
        row at `position` itself when `inclusive`.

        Written as  a > x OR (a = x AND b > y)  plus the redundant  a >= x, which
        databases can use as an index range condition; the OR alone they cannot.
        """
        condition = None
        for index in range(len(self.keyset) - 1, -1, -1):
            field = self.keyset[index]
            lookup = "lt" if field.descending != backwards else "gt"
            if inclusive and condition is None:
                lookup += "e"
            strictly = Q(**{f"{field.name}__{lookup}": position[index]})
            if condition is None:
                condition = strictly
            else:
                condition = strictly | (Q(**{field.name: position[index]}) & condition)
        if len(self.keyset) == 1:
            return condition
        first = self.keyset[0]
        bound = "lte" if first.descending != backwards else "gte"
        return Q(**{f"{first.name}__{bound}": position[0]}) & condition

    def fetch_page(
        self,
        queryset: QuerySet,
        *,
        size: int,
        cursor: Cursor | None = None,
        inclusive: bool = False,
    ) -> KeysetPage:
        """Up to `size` rows from `cursor` on (from the start without one), in one query.

        `inclusive` starts at the cursor's own row: a list opened at a given row.
        """
        backwards = cursor is not None and cursor.backwards
        if cursor is not None:
            queryset = queryset.filter(
                self.after(cursor.position, backwards=backwards, inclusive=inclusive)
            )
        rows = list(queryset.order_by(*self.ordering(backwards=backwards))[: size + 1])
        has_more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
        # Forwards, the rows before a cursor page exist (the page the cursor came from);
        # backwards, the rows after it do. Either way the N + 1st row answers the other side.
        from_a_cursor = cursor is not None
        return KeysetPage(
            rows=rows,
            has_next=bool(rows) and (from_a_cursor if backwards else has_more),
            has_previous=bool(rows) and (has_more if backwards else from_a_cursor),
        )

    # -- DRF -------------------------------------------------------------------------

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        message = f"must be between 1 and {self.max_page_size}."
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({self.page_size_query_param: [message]}) from None
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [message]})
        return size

    def paginate_queryset(self, queryset: QuerySet, request: Request, view=None) -> list:
        size = self.get_page_size(request)
        raw_cursor = request.query_params.get(self.cursor_query_param)
        try:
            cursor = self.decode_cursor(raw_cursor) if raw_cursor else None
        except InvalidCursor:
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]}) from None
        self.page = self.fetch_page(queryset, size=size, cursor=cursor)
        self.url = remove_query_param(request.build_absolute_uri(), self.cursor_query_param)
        return self.page.rows

    def get_paginated_response(self, data) -> Response:
        return Response(
            {"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data}
        )

    def get_next_link(self) -> str | None:
        if not self.page.has_next:
            return None
        return self._link(self.cursor_at(self.page.rows[-1]))

    def get_previous_link(self) -> str | None:
        if not self.page.has_previous:
            return None
        return self._link(self.cursor_at(self.page.rows[0], backwards=True))

    def _link(self, cursor: Cursor) -> str:
        return replace_query_param(self.url, self.cursor_query_param, self.encode_cursor(cursor))

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": "The next page, or null on the last page.",
                },
                "previous": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": "The previous page, or null on the first page.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "in": "query",
                "required": False,
                "description": "Opaque position from a page's `next` or `previous` link; "
                "leave out for the first page. A changed cursor is refused with 400.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "in": "query",
                "required": False,
                "description": f"Rows per page, 1 to {self.max_page_size} "
                f"(default {self.page_size}).",
                "schema": {"type": "integer"},
            },
        ]
