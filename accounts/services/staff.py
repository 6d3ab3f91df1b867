"""Staff logins made outside the admin (manage.py ensure_staff)."""

from django.db import transaction

from accounts.models import User
from core.audit import AuditAction, audit_log_record

# Used when no phone number is given and no superuser exists yet.
DEFAULT_STAFF_PHONE = "+14155550100"


def staff_login_ensure(*, phone_number: str | None, password: str, via: str) -> tuple[User, bool]:
    """Make `phone_number` an active superuser with `password`, clearing any lockout.

    Without a number, the oldest active superuser (e.g. the demo staff), or a new one
    at DEFAULT_STAFF_PHONE. Returns the user and whether it was created.
    """
    with transaction.atomic():
        if phone_number is None:
            oldest = (
                User.objects.select_for_update()
                .filter(is_superuser=True, is_active=True)
                .order_by("pk")
                .first()
            )
            phone_number = oldest.phone_number if oldest else DEFAULT_STAFF_PHONE
        user = User.objects.select_for_update().filter(phone_number=phone_number).first()
        created = user is None
        if created:
            user = User.objects.create_superuser(phone_number, password, display_name="Staff")
        else:
            user.is_staff = user.is_superuser = user.is_active = True
            user.set_password(password)
            user.failed_login_attempts = 0
            user.login_locked_until = None
            user.save()
        audit_log_record(
            action=AuditAction.STAFF_LOGIN_CREATED if created else AuditAction.STAFF_PASSWORD_RESET,
            resource=user,
            changes={"via": via},
        )
    return user, created
