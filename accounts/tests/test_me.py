"""GET/PATCH /api/v1/me/: the caller's own profile."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken

from accounts.tests.auth_helpers import ME_URL
from accounts.tests.factories import AuditLogFactory, AuthCodeFactory

pytestmark = pytest.mark.django_db


def test_get_me(auth_client):
    user = auth_client.user
    response = auth_client.get(ME_URL)
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": user.pk,
        "phone_number": user.phone_number,
        "display_name": user.display_name,
        "preferences": {},
        "first_seen": body["first_seen"],
        "last_active": None,
    }
    assert body["first_seen"].startswith(str(user.first_seen.date()))


def test_me_needs_a_token(api_client):
    response = api_client.get(ME_URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_me_rejects_a_bad_token(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token " + "ab" * 32)
    assert api_client.get(ME_URL).status_code == 401


def test_patch_display_name_and_preferences(auth_client):
    response = auth_client.patch(
        ME_URL, {"display_name": "Ana", "preferences": {"language": "pt", "digest": True}}
    )
    assert response.status_code == 200
    assert response.json()["display_name"] == "Ana"
    user = auth_client.user
    user.refresh_from_db()
    assert user.display_name == "Ana"
    assert user.preferences == {"language": "pt", "digest": True}


def test_patch_one_field_leaves_the_others(auth_client):
    auth_client.patch(ME_URL, {"preferences": {"a": 1}})
    auth_client.patch(ME_URL, {"display_name": "Bo"})
    auth_client.user.refresh_from_db()
    assert auth_client.user.preferences == {"a": 1}


def test_phone_number_and_dates_are_read_only(auth_client):
    user = auth_client.user
    original = user.phone_number

    response = auth_client.patch(
        ME_URL,
        {"phone_number": "+14155559999", "id": 999, "first_seen": "2000-01-01T00:00:00Z"},
    )

    assert response.status_code == 200
    assert response.json()["phone_number"] == original
    user.refresh_from_db()
    assert user.phone_number == original
    assert user.first_seen.year != 2000


@pytest.mark.parametrize("value", [[1, 2], "dark", 3, None, True])
def test_preferences_must_be_an_object(auth_client, value):
    response = auth_client.patch(ME_URL, {"preferences": value}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "preferences" in error["details"]


def test_preferences_have_a_size_limit(auth_client):
    response = auth_client.patch(ME_URL, {"preferences": {"blob": "x" * 20_000}})
    assert response.status_code == 400
    assert "preferences" in response.json()["error"]["details"]


def test_display_name_too_long(auth_client):
    response = auth_client.patch(ME_URL, {"display_name": "x" * 151})
    assert response.status_code == 400
    assert "display_name" in response.json()["error"]["details"]


@pytest.mark.parametrize("method", ["put", "delete", "post"])
def test_other_methods_are_not_allowed(auth_client, method):
    response = getattr(auth_client, method)(ME_URL, {})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def _queries(client, method="get", **kwargs) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = getattr(client, method)(ME_URL, **kwargs)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_me_query_count_does_not_grow_with_the_users_data(auth_client):
    user = auth_client.user
    baseline_get = _queries(auth_client)
    baseline_patch = _queries(auth_client, "patch", data={"display_name": "A"})

    for _ in range(15):
        AuthToken.objects.create(user=user)
    AuthCodeFactory.create_batch(30, user=user)
    AuditLogFactory.create_batch(30, actor=user)

    assert _queries(auth_client) == baseline_get
    assert _queries(auth_client, "patch", data={"display_name": "B"}) == baseline_patch
    assert baseline_get <= 3
