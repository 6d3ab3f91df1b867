"""Writes that matter for accounts. Keyword-only arguments; each owns its transaction."""

from typing import Any

from django.db import models

from accounts.models import AuditLog, User
from accounts.request_info import client_ip, user_agent

# Keys whose values must never reach an audit row, whatever a caller passes.
_SECRET_KEYS = ("key", "token", "code", "password", "secret")


def _scrub(changes: dict[str, Any]) -> dict[str, Any]:
    clean = {}
    for name, value in changes.items():
        lowered = name.lower()
        if any(part in lowered for part in _SECRET_KEYS) and not lowered.endswith(
            ("_last4", "_id", "_type")
        ):
            clean[name] = "[redacted]"
        elif isinstance(value, dict):
            clean[name] = _scrub(value)
        else:
            clean[name] = value
    return clean


def audit_log_record(
    *,
    action: str,
    actor: User | None = None,
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
