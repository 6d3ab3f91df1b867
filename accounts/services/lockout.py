"""The per-number login counters, written under the user's row lock.

Code logins and admin password logins share them. These functions run inside the
caller's `transaction.atomic()`, on a user row the caller locked with `user_lock`:
the limits are rows in the database, not cache entries, so they hold across
processes and survive restarts. What the counters become is decided by
accounts.limits.
"""

from datetime import datetime

from django.db import transaction

from accounts import limits
from accounts.models import AuthCode, User
from accounts.services.notices import lock_notice_sender
from core.audit import AuditAction, audit_log_record


def user_lock(*, user_id: int) -> User:
    """The user's row, locked until the surrounding transaction ends."""
    return User.objects.select_for_update().get(pk=user_id)


def live_codes_end(*, user: User, now: datetime) -> int:
    """End every code of `user` that could still be used, now."""
    return AuthCode.objects.filter(limits.codes_to_end(now=now), user=user).update(expires_at=now)


def login_failure_count(*, user: User, now: datetime, channel: str, request) -> None:
    """Count a failure on the locked user row; lock and notify when it is one too many."""
    counted = limits.failure_counted(user, now=now)
    user.failed_login_attempts = counted.failed_login_attempts
    user.login_locked_until = counted.login_locked_until
    if counted.locks:
        live_codes_end(user=user, now=now)
    user.save(update_fields=["failed_login_attempts", "login_locked_until", "updated_at"])
    if not counted.locks:
        return
    audit_log_record(
        action=AuditAction.LOGIN_LOCKED,
        resource=user,
        changes={"until": user.login_locked_until.isoformat(), "channel": channel},
        request=request,
    )
    transaction.on_commit(
        lock_notice_sender(
            user_id=user.pk,
            phone_number=user.phone_number,
            until=user.login_locked_until,
            request=request,
        ),
        robust=True,
    )


def login_success_count(*, user: User, now: datetime) -> None:
    """A code login succeeded on the locked user row: the failures start again from zero."""
    user.failed_login_attempts = 0
    user.login_locked_until = None
    user.last_active = now
    user.last_login = now
    user.save(
        update_fields=[
            "failed_login_attempts",
            "login_locked_until",
            "last_active",
            "last_login",
            "updated_at",
        ]
    )
