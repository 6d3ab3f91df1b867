"""core.pagination: signed cursors, the keyset query, and the DRF pagination class."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from core.models import AuditLog
from core.pagination import (
    INVALID_CURSOR,
    Cursor,
    InvalidCursor,
    KeysetField,
    KeysetPagination,
)

T0 = datetime(2025, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)


class NewestFirst(KeysetPagination):
    keyset = (
        KeysetField("created_at", descending=True, kind=datetime),
        KeysetField("id", descending=True, kind=int),
    )
    cursor_salt = "core.tests.newest_first"
    page_size = 3
    max_page_size = 10


class ByAction(KeysetPagination):
    keyset = (KeysetField("action", descending=False, kind=str),)
    cursor_salt = "core.tests.by_action"
    page_size_query_param = "limit"


def entries(count: int, *, step: timedelta = timedelta(minutes=1)) -> list[AuditLog]:
    return [
        AuditLog.objects.create(action=f"action-{n:02d}", created_at=T0 + step * n)
        for n in range(count)
    ]


def drf_request(params: dict | None = None) -> Request:
    return Request(APIRequestFactory().get("/api/v1/things/", params or {}))


def walk(pagination: KeysetPagination, queryset, *, size: int, backwards_from=None) -> list:
    """Every row, page by page, following the cursors as a client follows links."""
    seen = []
    cursor = backwards_from
    for _ in range(100):
        page = pagination.fetch_page(queryset, size=size, cursor=cursor)
        if cursor is not None and cursor.backwards:
            seen = page.rows + seen
            if not page.has_previous:
                return seen
            cursor = pagination.cursor_at(page.rows[0], backwards=True)
        else:
            seen += page.rows
            if not page.has_next:
                return seen
            cursor = pagination.cursor_at(page.rows[-1])
    raise AssertionError("pagination does not end")


# -- configuration -----------------------------------------------------------------------


def test_a_list_needs_a_keyset_and_a_salt_of_its_own():
    with pytest.raises(ImproperlyConfigured):

        class NoSalt(KeysetPagination):
            keyset = NewestFirst.keyset

    with pytest.raises(ImproperlyConfigured):

        class NoKeyset(KeysetPagination):
            cursor_salt = "core.tests.no_keyset"


# -- cursors ------------------------------------------------------------------------------


def test_a_cursor_round_trips_to_the_microsecond():
    pagination = NewestFirst()
    cursor = Cursor((T0, 42), backwards=True)
    raw = pagination.encode_cursor(cursor)
    assert pagination.decode_cursor(raw) == cursor


def test_a_cursor_of_a_row_or_of_a_dict_of_values():
    pagination = ByAction()
    assert pagination.cursor_at({"action": "login"}) == Cursor(("login",), False)
    entry = AuditLog(action="logout", created_at=T0, id=7)
    assert NewestFirst().cursor_at(entry, backwards=True) == Cursor((T0, 7), True)


@pytest.mark.parametrize(
    "forge",
    [
        lambda p: "not-a-cursor",
        lambda p: p.encode_cursor(Cursor((T0, 1))) + "x",
        lambda p: p.encode_cursor(Cursor((T0, 1))).rsplit(":", 1)[0],
        lambda p: ByAction().encode_cursor(Cursor(("login",))),  # another list's cursor
        lambda p: p.signer.sign_object({"p": [10**30, 1], "b": False}),  # out of range
        lambda p: p.signer.sign_object({"p": ["2025-03-01", 1], "b": False}),
        lambda p: p.signer.sign_object({"p": [1, "1"], "b": False}),
        lambda p: p.signer.sign_object({"p": [1], "b": False}),
        lambda p: p.signer.sign_object({"p": [1, 1], "b": "yes"}),
        lambda p: p.signer.sign_object({"p": [1, 1]}),
        lambda p: p.signer.sign_object([1, 1]),
    ],
)
def test_a_forged_or_changed_cursor_is_refused(forge):
    pagination = NewestFirst()
    with pytest.raises(InvalidCursor):
        pagination.decode_cursor(forge(pagination))


# -- the keyset query -------------------------------------------------------------------------


@pytest.mark.django_db
def test_pages_walk_every_row_once_both_ways_even_with_ties():
    tied = entries(7, step=timedelta(0))  # the id breaks the ties
    later = entries(4)
    newest_first = sorted(tied + later, key=lambda e: (e.created_at, e.id), reverse=True)
    pagination = NewestFirst()

    forwards = walk(pagination, AuditLog.objects.all(), size=3)
    assert forwards == newest_first

    oldest = newest_first[-1]
    backwards = walk(
        pagination,
        AuditLog.objects.all(),
        size=3,
        backwards_from=pagination.cursor_at(oldest, backwards=True),
    )
    assert backwards == newest_first[:-1]


@pytest.mark.django_db
def test_a_page_knows_what_lies_beyond_either_end():
    rows = sorted(entries(5), key=lambda e: e.created_at, reverse=True)
    pagination = NewestFirst()
    queryset = AuditLog.objects.all()

    first = pagination.fetch_page(queryset, size=2)
    assert (first.rows, first.has_next, first.has_previous) == (rows[:2], True, False)
    middle = pagination.fetch_page(queryset, size=2, cursor=pagination.cursor_at(rows[1]))
    assert (middle.rows, middle.has_next, middle.has_previous) == (rows[2:4], True, True)
    last = pagination.fetch_page(queryset, size=2, cursor=pagination.cursor_at(rows[3]))
    assert (last.rows, last.has_next, last.has_previous) == (rows[4:], False, True)
    back = pagination.fetch_page(
        queryset, size=2, cursor=pagination.cursor_at(rows[2], backwards=True)
    )
    assert (back.rows, back.has_next, back.has_previous) == (rows[:2], True, False)
    empty = pagination.fetch_page(queryset, size=2, cursor=pagination.cursor_at(rows[4]))
    assert (empty.rows, empty.has_next, empty.has_previous) == ([], False, False)


@pytest.mark.django_db
def test_an_inclusive_page_starts_at_the_cursors_own_row():
    rows = sorted(entries(4), key=lambda e: e.created_at, reverse=True)
    pagination = NewestFirst()
    cursor = pagination.cursor_at(rows[1])

    page = pagination.fetch_page(AuditLog.objects.all(), size=10, cursor=cursor, inclusive=True)

    assert page.rows == rows[1:]


@pytest.mark.django_db
def test_an_ascending_keyset_over_grouped_rows():
    for action in ["b", "a", "c", "a", "d"]:
        AuditLog.objects.create(action=action)
    groups = AuditLog.objects.values("action").distinct()
    pagination = ByAction()

    assert [g["action"] for g in walk(pagination, groups, size=2)] == ["a", "b", "c", "d"]


def test_the_first_column_also_bounds_the_range_for_the_index():
    condition = NewestFirst().after((T0, 5))
    assert condition.connector == "AND"
    assert condition.children[0] == ("created_at__lte", T0)
    assert ByAction().after(("m",)).children == [("action__gt", "m")]


# -- as a DRF pagination class ----------------------------------------------------------


@pytest.mark.django_db
def test_a_response_links_its_pages_and_keeps_the_other_parameters():
    rows = sorted(entries(5), key=lambda e: e.created_at, reverse=True)
    pagination = NewestFirst()

    page = pagination.paginate_queryset(AuditLog.objects.all(), drf_request({"q": "x"}))
    body = pagination.get_paginated_response([e.pk for e in page]).data

    assert body["results"] == [e.pk for e in rows[:3]]
    assert body["previous"] is None
    query = parse_qs(urlsplit(body["next"]).query)
    assert query["q"] == ["x"]
    assert pagination.decode_cursor(query["cursor"][0]) == pagination.cursor_at(rows[2])

    second = NewestFirst()
    page = second.paginate_queryset(AuditLog.objects.all(), drf_request(query))
    body = second.get_paginated_response([e.pk for e in page]).data
    assert body["results"] == [e.pk for e in rows[3:]]
    assert body["next"] is None and body["previous"] is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "size"), [({}, 3), ({"page_size": ""}, 3), ({"page_size": "10"}, 10)]
)
def test_page_size_default_and_maximum(params, size):
    entries(12)
    assert len(NewestFirst().paginate_queryset(AuditLog.objects.all(), drf_request(params))) == size


@pytest.mark.parametrize("value", ["0", "-1", "11", "ten", "1.5"])
def test_a_page_size_out_of_range_is_refused_by_name(value):
    with pytest.raises(ValidationError) as caught:
        NewestFirst().paginate_queryset(AuditLog.objects.none(), drf_request({"page_size": value}))
    assert caught.value.detail == {"page_size": ["must be between 1 and 10."]}


def test_a_bad_cursor_is_refused_by_name():
    with pytest.raises(ValidationError) as caught:
        NewestFirst().paginate_queryset(AuditLog.objects.none(), drf_request({"cursor": "nope"}))
    assert caught.value.detail == {"cursor": [INVALID_CURSOR]}


class EntryListView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    pagination_class = ByAction

    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(AuditLog.objects.values("action"), request, view=self)
        return paginator.get_paginated_response(page)


@pytest.mark.django_db
def test_a_tampered_cursor_is_a_400_in_the_one_error_shape():
    request = APIRequestFactory().get("/api/v1/things/", {"cursor": "tampered", "limit": "2"})

    response = EntryListView.as_view()(request)

    assert response.status_code == 400
    error = response.data["error"]
    assert error["code"] == "invalid"
    assert error["message"] == f"cursor: {INVALID_CURSOR}"
    assert error["details"] == {"cursor": [INVALID_CURSOR]}


def test_the_schema_wraps_results_in_the_page_and_names_the_parameters():
    results = {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}
    schema = ByAction().get_paginated_response_schema(results)
    assert schema["required"] == ["next", "previous", "results"]
    assert schema["properties"]["results"] == results
    assert schema["properties"]["next"]["nullable"] is True
    parameters = ByAction().get_schema_operation_parameters(view=None)
    assert [(p["name"], p["in"], p["schema"]["type"]) for p in parameters] == [
        ("cursor", "query", "string"),
        ("limit", "query", "integer"),
    ]
    assert "1 to 200 (default 50)" in parameters[1]["description"]
