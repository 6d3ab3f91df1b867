"""Ending a user's API tokens from the admin: the user page, its confirmation, the action."""

import pytest
from django.urls import reverse
from knox.models import AuthToken

from accounts.tests.factories import UserFactory
from core.models import AuditLog

pytestmark = pytest.mark.django_db


def tokens_for(user, count: int) -> list[str]:
    return [AuthToken.objects.create(user=user)[1] for _ in range(count)]


def test_user_page_shows_active_tokens_and_never_the_tokens(admin_client_logged_in, user):
    plaintexts = tokens_for(user, 2)
    html = admin_client_logged_in.get(reverse("admin:accounts_user_change", args=[user.pk])).text
    assert "2 active (logged-in apps)" in html
    assert reverse("admin:accounts_user_end_tokens", args=[user.pk]) in html
    for token in plaintexts:
        assert token not in html and token[:8] not in html


def test_end_tokens_asks_then_logs_the_user_out(admin_client_logged_in, user, staff_user):
    tokens_for(user, 3)
    other = UserFactory()
    tokens_for(other, 1)
    url = reverse("admin:accounts_user_end_tokens", args=[user.pk])

    confirm = admin_client_logged_in.get(url)
    assert confirm.status_code == 200
    assert 'value="Yes, end the tokens"' in confirm.text
    assert AuthToken.objects.filter(user=user).count() == 3

    response = admin_client_logged_in.post(url, follow=True)

    assert response.redirect_chain == [(reverse("admin:accounts_user_change", args=[user.pk]), 302)]
    assert "Ended 3 API token(s)" in response.text
    assert "No active API tokens." in response.text
    assert not AuthToken.objects.filter(user=user).exists()
    assert AuthToken.objects.filter(user=other).count() == 1
    audit = AuditLog.objects.get(action="logout_all")
    assert (audit.actor, audit.resource_id, audit.changes) == (
        staff_user,
        str(user.pk),
        {"revoked": 3},
    )


def test_end_tokens_action_on_selected_users(admin_client_logged_in):
    first, second, untouched = UserFactory(), UserFactory(), UserFactory()
    for person in (first, second, untouched):
        tokens_for(person, 2)

    response = admin_client_logged_in.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "end_api_tokens", "index": 0, "_selected_action": [first.pk, second.pk]},
        follow=True,
    )

    assert "Ended 4 API token(s) of 2 user(s)." in response.text
    assert set(AuthToken.objects.values_list("user_id", flat=True)) == {untouched.pk}
    assert AuditLog.objects.filter(action="logout_all").count() == 2


def test_end_tokens_needs_the_change_permission(client, user):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(viewer)
    tokens_for(user, 1)
    url = reverse("admin:accounts_user_end_tokens", args=[user.pk])
    assert client.post(url).status_code == 403
    assert AuthToken.objects.filter(user=user).count() == 1


def test_end_tokens_of_a_missing_user_is_404(admin_client_logged_in):
    url = reverse("admin:accounts_user_end_tokens", args=[999999])
    assert admin_client_logged_in.post(url).status_code == 404
