"""Writes that matter for accounts, one module per job. Keyword-only arguments; each
public service owns its transaction. The names callers use are importable from here."""

from accounts.services.admin_logins import (
    admin_login_failure_record,
    admin_login_ip_blocked,
    admin_login_success_record,
)
from accounts.services.login_codes import (
    CodeRequestOutcome,
    IssuedToken,
    LoginCodeInvalid,
    auth_code_request,
    auth_code_verify,
)
from accounts.services.staff import staff_login_ensure
from accounts.services.tokens import auth_token_revoke, user_tokens_revoke_all
from accounts.services.users import user_profile_update, whatsapp_user_ids, whatsapp_users_ensure

__all__ = [
    "CodeRequestOutcome",
    "IssuedToken",
    "LoginCodeInvalid",
    "admin_login_failure_record",
    "admin_login_ip_blocked",
    "admin_login_success_record",
    "auth_code_request",
    "auth_code_verify",
    "auth_token_revoke",
    "staff_login_ensure",
    "user_profile_update",
    "user_tokens_revoke_all",
    "whatsapp_user_ids",
    "whatsapp_users_ensure",
]
