"""The admin's login form, hardened against password guessing.

Failures count on the user's row under a row lock, with the same threshold and lock
as code logins (accounts.limits, written by accounts.services); a locked account is
refused before its password is even checked. A per-IP cap in the cache slows spraying
one password across accounts.
"""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

from accounts import limits, selectors, services
from core.phone import normalize_phone_number
from core.request_info import client_ip


class AdminLoginForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "locked": "Too many failed logins for this account. Try again later.",
        "ip_blocked": "Too many failed logins from your address. Try again later.",
    }

    def clean_username(self):
        username = self.cleaned_data["username"]
        # Staff may type the number as they like; accounts store it normalised.
        try:
            return normalize_phone_number(username)
        except ValidationError:
            return username

    @sensitive_variables()
    def clean(self):
        username = self.cleaned_data.get("username")
        if username is None or not self.cleaned_data.get("password"):
            return super().clean()
        ip = client_ip(self.request)
        user = selectors.user_get_by_phone(phone_number=username)
        user_id = user.pk if user else None
        if services.admin_login_ip_blocked(ip=ip):
            self._failed(username, user_id, "ip_blocked")
            raise ValidationError(self.error_messages["ip_blocked"], code="ip_blocked")
        if user is not None and limits.is_locked(user):
            self._failed(username, user_id, "locked")
            raise ValidationError(self.error_messages["locked"], code="locked")
        try:
            cleaned = super().clean()
        except ValidationError:
            self._failed(username, user_id, "bad_credentials")
            raise
        services.admin_login_success_record(user=self.user_cache, request=self.request)
        return cleaned

    def _failed(self, username: str, user_id: int | None, reason: str) -> None:
        services.admin_login_failure_record(
            username=username, user_id=user_id, reason=reason, request=self.request
        )
