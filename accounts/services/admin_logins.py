"""The admin's password logins: the per-account counters shared with code logins, and
a per-IP count of failures in the cache (a second line behind the per-account lock)."""

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts import limits
from accounts.models import User
from accounts.services.lockout import login_failure_count, user_lock
from core.audit import AuditAction, audit_log_record
from core.request_info import client_ip


def _ip_cache_key(ip: str | None) -> str:
    return f"admin-login-failures:{ip or 'unknown'}"


def admin_login_ip_blocked(*, ip: str | None) -> bool:
    """Whether admin logins from `ip` are refused for now (too many failures)."""
    return limits.admin_ip_blocked(failures=cache.get(_ip_cache_key(ip)) or 0)


def _ip_failure_add(ip: str | None) -> int:
    """Count a failed admin login from `ip`; the window starts at the first failure."""
    key = _ip_cache_key(ip)
    timeout = int(limits.ADMIN_IP_WINDOW.total_seconds())
    if cache.add(key, 1, timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, timeout)
        return 1


def admin_login_failure_record(
    *, username: str, user_id: int | None, reason: str, request=None
) -> None:
    """Count a failed admin login against the client's IP and on the user's row (same
    lock as code logins), and audit it."""
    _ip_failure_add(client_ip(request))
    with transaction.atomic():
        user = None
        if user_id is not None:
            user = User.objects.select_for_update().filter(pk=user_id).first()
        audit_log_record(
            action=AuditAction.ADMIN_LOGIN_FAILED,
            resource_type="user",
            resource_id=user.pk if user else "",
            changes={"reason": reason, "username": username[:64]},
            request=request,
        )
        if user is not None and reason == "bad_credentials":
            login_failure_count(user=user, now=timezone.now(), channel="admin", request=request)


def admin_login_success_record(*, user: User, request=None) -> None:
    with transaction.atomic():
        locked = user_lock(user_id=user.pk)
        locked.failed_login_attempts = 0
        locked.save(update_fields=["failed_login_attempts", "updated_at"])
        audit_log_record(
            action=AuditAction.ADMIN_LOGIN_SUCCEEDED, actor=user, resource=user, request=request
        )
