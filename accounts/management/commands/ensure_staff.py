"""Create or refresh a staff login for the admin, with a fresh random password.

For local runs (scripts/run.sh): prints the phone number, the new password and the
admin URL. That terminal line is the only place the password ever appears.
"""

import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import User
from core.audit import AuditAction, audit_log_record
from core.phone import normalize_phone_number

# Used when neither --phone is given nor any superuser exists yet.
DEFAULT_STAFF_PHONE = "+14155550100"


class Command(BaseCommand):
    help = (
        "Create or update a staff superuser and give it a fresh random password. "
        "Without --phone, refreshes the oldest existing superuser (e.g. the demo staff) "
        f"or creates {DEFAULT_STAFF_PHONE}."
    )

    def add_arguments(self, parser):
        parser.add_argument("--phone", help="E.164 phone number of the staff login.")
        parser.add_argument(
            "--admin-url",
            default="http://127.0.0.1:8000/admin/",
            help="Admin URL to print with the login (default: %(default)s).",
        )

    def handle(self, *args, phone=None, admin_url, **options):
        try:
            phone_number = normalize_phone_number(phone) if phone else None
        except ValidationError as exc:
            raise CommandError(f"--phone: {' '.join(exc.messages)}") from exc
        password = secrets.token_urlsafe(18)
        with transaction.atomic():
            user, created = self._ensure(phone_number, password)
            audit_log_record(
                action=AuditAction.STAFF_LOGIN_CREATED
                if created
                else AuditAction.STAFF_PASSWORD_RESET,
                resource=user,
                changes={"via": "manage.py ensure_staff"},
            )
        self.stdout.write(
            f"Admin login: {admin_url}  phone: {user.phone_number}  password: {password}"
        )

    @staticmethod
    def _ensure(phone_number: str | None, password: str) -> tuple[User, bool]:
        if phone_number is None:
            user = (
                User.objects.select_for_update()
                .filter(is_superuser=True, is_active=True)
                .order_by("pk")
                .first()
            )
            phone_number = user.phone_number if user else DEFAULT_STAFF_PHONE
        user = User.objects.select_for_update().filter(phone_number=phone_number).first()
        if user is None:
            user = User.objects.create_superuser(phone_number, password, display_name="Staff")
            return user, True
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.failed_login_attempts = 0
        user.login_locked_until = None
        user.save()
        return user, False
