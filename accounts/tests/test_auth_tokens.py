"""API tokens: logout, logout-all, revocation by the admin's service, dead users."""

from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts import services
from accounts.tests.auth_helpers import (
    LOGOUT_ALL_URL,
    LOGOUT_URL,
    ME_URL,
    fresh_cache,  # noqa: F401 (fixture)
    login,
)
from accounts.tests.factories import UserFactory
from core.audit import AuditAction
from core.models import AuditLog

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _token_for(user) -> str:
    return AuthToken.objects.create(user=user)[1]


def test_deactivated_users_token_stops_working_at_once(auth_client):
    assert auth_client.get(ME_URL).status_code == 200
    auth_client.user.is_active = False
    auth_client.user.save(update_fields=["is_active"])

    response = auth_client.get(ME_URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_deleted_users_token_stops_working(auth_client):
    auth_client.user.delete()
    assert auth_client.get(ME_URL).status_code == 401


def test_logout_revokes_only_this_token(user):
    first, second = _client(_token_for(user)), _client(_token_for(user))

    response = first.post(LOGOUT_URL)

    assert response.status_code == 204
    assert first.get(ME_URL).status_code == 401
    assert second.get(ME_URL).status_code == 200
    entry = AuditLog.objects.get(action=AuditAction.LOGOUT)
    assert entry.actor == user


def test_logout_all_revokes_every_token_of_the_user(user):
    clients = [_client(_token_for(user)) for _ in range(3)]
    stranger = _client(_token_for(UserFactory()))

    response = clients[0].post(LOGOUT_ALL_URL)

    assert response.status_code == 204
    assert all(client.get(ME_URL).status_code == 401 for client in clients)
    assert stranger.get(ME_URL).status_code == 200
    entry = AuditLog.objects.get(action=AuditAction.LOGOUT_ALL)
    assert entry.changes == {"revoked": 3}
    assert entry.actor == user


@pytest.mark.parametrize("url", [LOGOUT_URL, LOGOUT_ALL_URL])
def test_logout_needs_a_token(api_client, url):
    response = api_client.post(url)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_revoke_all_service_for_the_admin(user, staff_user, rf):
    tokens = [_token_for(user) for _ in range(2)]
    request = rf.post("/admin/", HTTP_USER_AGENT="admin-browser", REMOTE_ADDR="192.0.2.9")

    revoked = services.user_tokens_revoke_all(user=user, actor=staff_user, request=request)

    assert revoked == 2
    assert not AuthToken.objects.filter(user=user).exists()
    assert all(_client(token).get(ME_URL).status_code == 401 for token in tokens)
    entry = AuditLog.objects.get(action=AuditAction.LOGOUT_ALL)
    assert (entry.actor, entry.resource_id, entry.ip_address, entry.user_agent) == (
        staff_user,
        str(user.pk),
        "192.0.2.9",
        "admin-browser",
    )
    assert services.user_tokens_revoke_all(user=user) == 0


def test_login_keeps_the_user_within_the_token_limit(api_client, outbox, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 3}
    user = UserFactory()
    old_tokens = [_token_for(user) for _ in range(3)]

    _, token = login(api_client, outbox, user.phone_number)

    assert AuthToken.objects.filter(user=user).count() == 3
    assert _client(token).get(ME_URL).status_code == 200
    # The oldest one made room for the new login.
    assert _client(old_tokens[0]).get(ME_URL).status_code == 401
    assert _client(old_tokens[-1]).get(ME_URL).status_code == 200


def test_token_expiry_follows_settings(api_client, outbox, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": timedelta(hours=2)}
    user = UserFactory()
    login(api_client, outbox, user.phone_number)
    expiry = AuthToken.objects.get(user=user).expiry
    assert timedelta(hours=1, minutes=59) < expiry - timezone.now() <= timedelta(hours=2)
