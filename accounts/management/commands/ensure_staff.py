"""Create or refresh a staff login for the admin, with a fresh random password.

For local runs (scripts/run.sh): prints the phone number, the new password and the
admin URL. That terminal line is the only place the password ever appears.
"""

import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.services.staff import DEFAULT_STAFF_PHONE, staff_login_ensure
from core.phone import normalize_phone_number


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
        user, _ = staff_login_ensure(
            phone_number=phone_number, password=password, via="manage.py ensure_staff"
        )
        self.stdout.write(
            f"Admin login: {admin_url}  phone: {user.phone_number}  password: {password}"
        )
