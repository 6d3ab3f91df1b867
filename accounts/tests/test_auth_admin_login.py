"""The admin's password login is guarded like code logins: per-account lock, per-IP cap."""

import pytest
from django.contrib import admin
from django.test import Client, TestCase
from django.utils import timezone

from accounts import limits
from accounts.admin_login import AdminLoginForm
from accounts.models import User
from accounts.tests.auth_helpers import fresh_cache  # noqa: F401 (fixture)
from accounts.tests.factories import StaffUserFactory, UserFactory
from core.audit import AuditAction
from core.models import AuditLog

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

LOGIN_URL = "/admin/login/"
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def staff(settings):
    # A fast hasher: these tests check dozens of passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return StaffUserFactory()


def _login(client, username, password):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            LOGIN_URL, {"username": username, "password": password, "next": "/admin/"}
        )


def _logged_in(response) -> bool:
    return response.status_code == 302 and response.url == "/admin/"


def test_admin_site_uses_the_guarded_form():
    assert admin.site.login_form is AdminLoginForm


def test_staff_can_log_in_and_success_resets_failures(staff):
    User.objects.filter(pk=staff.pk).update(failed_login_attempts=3)
    client = Client()

    assert _logged_in(_login(client, staff.phone_number, PASSWORD))

    staff.refresh_from_db()
    assert staff.failed_login_attempts == 0
    assert AuditLog.objects.filter(action=AuditAction.ADMIN_LOGIN_SUCCEEDED).count() == 1


def test_number_may_be_typed_with_spaces(staff):
    spaced = f"{staff.phone_number[:2]} {staff.phone_number[2:5]} {staff.phone_number[5:]}"
    assert _logged_in(_login(Client(), spaced, PASSWORD))


def test_failures_count_on_the_user_row_and_are_audited(staff):
    client = Client(HTTP_USER_AGENT="guesser/1.0")
    response = _login(client, staff.phone_number, "wrong")

    assert response.status_code == 200
    assert "correct phone number and password" in response.content.decode().lower()
    staff.refresh_from_db()
    assert staff.failed_login_attempts == 1
    entry = AuditLog.objects.get(action=AuditAction.ADMIN_LOGIN_FAILED)
    assert entry.resource_id == str(staff.pk)
    assert entry.changes == {"reason": "bad_credentials", "username": staff.phone_number}
    assert entry.user_agent == "guesser/1.0"
    assert "wrong" not in str(entry.changes)


def test_account_locks_after_too_many_failures_even_for_the_right_password(staff, outbox):
    client = Client()
    for _ in range(limits.LOCK_AFTER_FAILURES):
        assert not _logged_in(_login(client, staff.phone_number, "wrong"))

    staff.refresh_from_db()
    assert staff.login_locked_until > timezone.now()
    assert outbox[-1].to == staff.phone_number.lstrip("+")
    assert "too many wrong login attempts" in outbox[-1].text

    response = _login(client, staff.phone_number, PASSWORD)

    assert response.status_code == 200
    assert "too many failed logins for this account" in response.content.decode().lower()
    assert "_auth_user_id" not in client.session
    assert AuditLog.objects.filter(action=AuditAction.LOGIN_LOCKED).count() == 1
    assert AuditLog.objects.filter(
        action=AuditAction.ADMIN_LOGIN_FAILED, changes__reason="locked"
    ).exists()

    # The lock ends on its own.
    User.objects.filter(pk=staff.pk).update(login_locked_until=timezone.now())
    assert _logged_in(_login(client, staff.phone_number, PASSWORD))


def test_code_login_failures_and_admin_failures_share_one_counter(staff):
    User.objects.filter(pk=staff.pk).update(failed_login_attempts=limits.LOCK_AFTER_FAILURES - 1)
    _login(Client(), staff.phone_number, "wrong")
    staff.refresh_from_db()
    assert staff.login_locked_until is not None


def test_per_ip_cap_across_accounts(staff):
    client = Client()
    victims = UserFactory.create_batch(3)
    for i in range(limits.ADMIN_MAX_FAILURES_PER_IP):
        victim = victims[i % len(victims)]
        _login(client, victim.phone_number, f"guess-{i}")

    response = _login(client, staff.phone_number, PASSWORD)

    assert response.status_code == 200
    assert "too many failed logins from your address" in response.content.decode().lower()
    # The staff member's own counter is untouched: the refusal is not their failure.
    staff.refresh_from_db()
    assert staff.failed_login_attempts == 0
    # Another address is not affected.
    assert _logged_in(_login(Client(REMOTE_ADDR="192.0.2.44"), staff.phone_number, PASSWORD))


def test_unknown_username_is_audited_without_a_user(staff):
    _login(Client(), "+14155550000", "whatever")
    entry = AuditLog.objects.get(action=AuditAction.ADMIN_LOGIN_FAILED)
    assert entry.resource_id == ""
    assert entry.changes["username"] == "+14155550000"
