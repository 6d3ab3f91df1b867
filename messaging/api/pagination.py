"""Keyset (cursor) pagination: pages are found by position, never by OFFSET.

A page of N rows is one query for N + 1 rows that starts right after the cursor's
position in a fixed, unique ordering, so page 1000 costs the same as page 1 and
rows inserted meanwhile cause no duplicates or gaps. There is no total count (it
would cost a scan of the whole history).

The cursor is opaque to clients: the position (e.g. timestamp + id) and the
direction, as base64 JSON, signed so a tampered cursor is refused with a 400
instead of silently landing somewhere else.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core import signing
from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.utils.urls import remove_query_param, replace_query_param

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class KeysetField:
    """One column of the ordering: a field or annotation name, its direction and type."""

    name: str
    descending: bool
    kind: type  # datetime, int or str


@dataclass
class Page:
    results: list
    next: str | None
    previous: str | None


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


class KeysetPagination:
    """Paginates a queryset by `fields` (which together must be unique per row)."""

    cursor_param = "cursor"

    def __init__(
        self,
        *,
        fields: Sequence[KeysetField],
        salt: str,
        page_size_param: str = "page_size",
        default_page_size: int = DEFAULT_PAGE_SIZE,
        max_page_size: int = MAX_PAGE_SIZE,
    ):
        self.fields = tuple(fields)
        self.signer = signing.Signer(salt=salt)
        self.page_size_param = page_size_param
        self.default_page_size = default_page_size
        self.max_page_size = max_page_size

    # -- request parsing -------------------------------------------------------------

    def page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_param)
        if raw is None or raw == "":
            return self.default_page_size
        message = f"must be between 1 and {self.max_page_size}."
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({self.page_size_param: [message]}) from None
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({self.page_size_param: [message]})
        return size

    def decode_cursor(self, raw: str) -> tuple[tuple, bool]:
        """The (position, backwards) a cursor stands for, or a 400."""
        try:
            data = self.signer.unsign_object(raw)
            values = data["p"]
            backwards = data["b"]
            if type(backwards) is not bool or len(values) != len(self.fields):
                raise ValueError
            position = tuple(
                _decode_value(value, field.kind)
                for value, field in zip(values, self.fields, strict=True)
            )
        except (signing.BadSignature, ValueError, TypeError, KeyError, OverflowError):
            raise ValidationError(
                {
                    self.cursor_param: [
                        "invalid or changed; use a page's 'next' or 'previous' link "
                        "unchanged, or leave the cursor out to start at the first page."
                    ]
                }
            ) from None
        return position, backwards

    def encode_cursor(self, row: Any, *, backwards: bool) -> str:
        values = [_encode_value(_field_value(row, f.name), f.kind) for f in self.fields]
        return self.signer.sign_object({"p": values, "b": backwards})

    # -- querying --------------------------------------------------------------------

    def ordering(self, *, backwards: bool = False) -> list[str]:
        return [
            ("-" if field.descending != backwards else "") + field.name for field in self.fields
        ]

    def after(self, position: tuple, *, backwards: bool = False) -> Q:
        """Rows strictly after `position` in the ordering (before it when backwards).

        Written as  a > x OR (a = x AND b > y)  plus the redundant  a >= x, which
        databases can use as an index range condition; the OR alone they cannot.
        """
        condition = None
        for index in range(len(self.fields) - 1, -1, -1):
            field = self.fields[index]
            lookup = "lt" if field.descending != backwards else "gt"
            strictly = Q(**{f"{field.name}__{lookup}": position[index]})
            if condition is None:
                condition = strictly
            else:
                condition = strictly | (Q(**{field.name: position[index]}) & condition)
        first = self.fields[0]
        bound = "lte" if first.descending != backwards else "gte"
        return Q(**{f"{first.name}__{bound}": position[0]}) & condition

    def paginate(self, queryset: QuerySet, request: Request) -> Page:
        size = self.page_size(request)
        raw_cursor = request.query_params.get(self.cursor_param)
        position, backwards = self.decode_cursor(raw_cursor) if raw_cursor else (None, False)

        if position is not None:
            queryset = queryset.filter(self.after(position, backwards=backwards))
        rows = list(queryset.order_by(*self.ordering(backwards=backwards))[: size + 1])
        has_more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()

        url = remove_query_param(request.build_absolute_uri(), self.cursor_param)
        # Forwards, the rows before a cursor page exist (the page the cursor came from);
        # backwards, the rows after it do. Either way the N + 1st row answers the other side.
        has_next = has_more if not backwards else position is not None
        has_previous = has_more if backwards else position is not None
        next_url = previous_url = None
        if rows and has_next:
            next_url = self._link(url, rows[-1], backwards=False)
        if rows and has_previous:
            previous_url = self._link(url, rows[0], backwards=True)
        return Page(results=rows, next=next_url, previous=previous_url)

    def _link(self, url: str, row: Any, *, backwards: bool) -> str:
        return replace_query_param(
            url, self.cursor_param, self.encode_cursor(row, backwards=backwards)
        )
