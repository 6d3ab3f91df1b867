import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.management.commands.ensure_staff import DEFAULT_STAFF_PHONE
from accounts.models import User
from accounts.tests.factories import StaffUserFactory, UserFactory
from core.models import AuditLog

pytestmark = pytest.mark.django_db

LINE = re.compile(r"Admin login: (\S+)  phone: (\+\d+)  password: (\S+)")


def ensure_staff(*args) -> tuple[str, str, str]:
    out = StringIO()
    call_command("ensure_staff", *args, stdout=out)
    match = LINE.search(out.getvalue())
    assert match, out.getvalue()
    return match.groups()


def admin_login_works(client, phone: str, password: str) -> bool:
    response = client.post("/admin/login/?next=/admin/", {"username": phone, "password": password})
    return response.status_code == 302 and response["Location"] == "/admin/"


def test_creates_the_default_staff_login_when_there_is_none(client):
    url, phone, password = ensure_staff()
    assert (url, phone) == ("http://127.0.0.1:8000/admin/", DEFAULT_STAFF_PHONE)
    user = User.objects.get(phone_number=phone)
    assert user.is_staff and user.is_superuser
    assert admin_login_works(client, phone, password)
    assert AuditLog.objects.filter(action="staff_login_created", resource_id=str(user.pk)).exists()


def test_refreshes_an_existing_superuser_with_an_unusable_password(client):
    demo_staff = StaffUserFactory(password=None)  # as a fixture would ship it
    UserFactory()
    assert not demo_staff.has_usable_password()
    _, phone, password = ensure_staff()
    assert phone == demo_staff.phone_number
    assert User.objects.filter(is_superuser=True).count() == 1
    assert admin_login_works(client, phone, password)


def test_each_run_sets_a_new_password(client):
    _, phone, first = ensure_staff()
    _, _, second = ensure_staff()
    assert first != second and len(second) >= 20
    assert not admin_login_works(client, phone, first)
    assert admin_login_works(client, phone, second)
    assert AuditLog.objects.filter(action="staff_password_reset").count() == 1


def test_phone_option_promotes_that_user_and_clears_a_lockout(client):
    user = UserFactory(failed_login_attempts=9)
    _, phone, password = ensure_staff("--phone", user.phone_number, "--admin-url", "http://x/a/")
    user.refresh_from_db()
    assert phone == user.phone_number
    assert user.is_staff and user.is_superuser and user.failed_login_attempts == 0
    assert admin_login_works(client, phone, password)


def test_password_never_reaches_the_audit_log():
    _, _, password = ensure_staff()
    assert all(password not in str(entry.changes) for entry in AuditLog.objects.all())


def test_invalid_phone_is_a_clear_error():
    with pytest.raises(CommandError, match="--phone: The phone number must start with"):
        call_command("ensure_staff", "--phone", "12345", stdout=StringIO())
