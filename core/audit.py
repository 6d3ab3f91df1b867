"""The audit log's writer and its vocabulary: every action any app records.

Services call `audit_log_record` for security-relevant events (logins, lockouts, key
changes, session changes), always with an `AuditAction` constant.
"""

from typing import Any

from django.db import models

from core.models import AuditLog
from core.request_info import client_ip, user_agent


class AuditAction:
    """Every action name written to AuditLog, by the app that writes it."""

    # accounts
    LOGIN_CODE_REQUESTED = "login_code_requested"
    LOGIN_CODE_REFUSED = "login_code_refused"
    LOGIN_CODE_SEND_FAILED = "login_code_send_failed"
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGIN_LOCKED = "login_locked"
    LOGIN_LOCK_NOTICE_FAILED = "login_lock_notice_failed"
    LOGOUT = "logout"
    LOGOUT_ALL = "logout_all"
    ADMIN_LOGIN_SUCCEEDED = "admin_login_succeeded"
    ADMIN_LOGIN_FAILED = "admin_login_failed"
    STAFF_LOGIN_CREATED = "staff_login_created"
    STAFF_PASSWORD_RESET = "staff_password_reset"
    # llm
    LLM_KEY_CREATED = "llm_key_created"
    LLM_KEY_CHANGED = "llm_key_changed"
    LLM_KEY_DELETED = "llm_key_deleted"
    LLM_KEY_CHECKED = "llm_key_checked"
    LLM_KEYS_ROTATED = "llm_keys_rotated"
    LLM_CONFIG_UPDATED = "llm_config_updated"
    LLM_CONFIG_ACTIVATED = "llm_config_activated"
    LLM_CONFIG_DEACTIVATED = "llm_config_deactivated"
    # messaging
    SESSION_CONNECT_REQUESTED = "whatsapp_session_connect_requested"
    SESSION_QR_REFRESHED = "whatsapp_session_qr_refreshed"
    SESSION_DISCONNECT_REQUESTED = "whatsapp_session_disconnected"
    SESSION_CONNECTED = "session_connected"
    SESSION_DISCONNECTED = "session_disconnected"
    SESSION_SYNCED = "session_synced"
    MESSAGES_EXPORTED = "messages_exported"


# Names whose values must never reach an audit row, whatever a caller passes:
# whole words of a snake_case name, so "api_key" and "code" are caught while
# "max_tokens" or "api_key_last4" are not.
_SECRET_WORDS = frozenset({"key", "apikey", "token", "code", "password", "secret", "pepper"})
_SAFE_LAST_WORDS = frozenset({"last4", "id", "type", "count", "hint", "masked"})


def _is_secret_name(name: str) -> bool:
    words = name.lower().replace("-", "_").split("_")
    return bool(_SECRET_WORDS.intersection(words)) and words[-1] not in _SAFE_LAST_WORDS


def _scrub(changes: dict[str, Any]) -> dict[str, Any]:
    clean = {}
    for name, value in changes.items():
        if _is_secret_name(name):
            clean[name] = "[redacted]"
        elif isinstance(value, dict):
            clean[name] = _scrub(value)
        else:
            clean[name] = value
    return clean


def audit_log_record(
    *,
    action: str,
    actor=None,
    resource: models.Model | None = None,
    resource_type: str = "",
    resource_id: str | int = "",
    changes: dict[str, Any] | None = None,
    request=None,
) -> AuditLog:
    """Record a security-relevant event. Secret-looking keys in `changes` are redacted."""
    if resource is not None:
        resource_type = resource_type or resource._meta.model_name
        resource_id = resource_id or resource.pk
    if actor is not None and not getattr(actor, "pk", None):
        actor = None
    return AuditLog.objects.create(
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id or ""),
        changes=_scrub(changes or {}),
        ip_address=client_ip(request),
        user_agent=user_agent(request),
    )
