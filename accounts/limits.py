"""The numbers that make login codes unguessable, and the lock logic.

Every function that changes a counter expects the caller to hold the user's row
lock (``lock_user``) inside ``transaction.atomic``: the limits are rows in the
database, not cache entries, so they hold across processes and survive restarts.
The arithmetic behind the numbers is in docs/security.md ("Login limits").
"""

from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import AuthCode, User

CODE_TTL = timedelta(minutes=5)
# Wrong guesses one code survives; the next attempt finds it dead.
MAX_ATTEMPTS_PER_CODE = 5
# Codes issued to one phone number in any sliding hour / 24 hours.
MAX_CODES_PER_HOUR = 3
MAX_CODES_PER_DAY = 10
# Consecutive failed attempts (across codes, API and admin) before the number is locked.
LOCK_AFTER_FAILURES = 10
LOCK_DURATION = timedelta(hours=1)

# Admin password logins: failures per client IP in a fixed window (cache-based, a
# second line behind the per-user lock above).
ADMIN_MAX_FAILURES_PER_IP = 20
ADMIN_IP_WINDOW = timedelta(hours=1)


def lock_user(user_id: int) -> User:
    """The user's row, locked until the surrounding transaction ends."""
    return User.objects.select_for_update().get(pk=user_id)


def is_locked(user: User, *, now: datetime | None = None) -> bool:
    return user.login_locked_until is not None and user.login_locked_until > (now or timezone.now())


def code_is_live(auth_code: AuthCode, *, now: datetime) -> bool:
    return (
        auth_code.used_at is None
        and auth_code.expires_at > now
        and auth_code.attempts < MAX_ATTEMPTS_PER_CODE
    )


def code_request_allowed(user: User, *, now: datetime) -> bool:
    """Whether one more code may be issued to `user` (hourly and daily caps)."""
    counts = AuthCode.objects.filter(user=user, created_at__gt=now - timedelta(days=1)).aggregate(
        day=Count("id"), hour=Count("id", filter=Q(created_at__gt=now - timedelta(hours=1)))
    )
    return counts["hour"] < MAX_CODES_PER_HOUR and counts["day"] < MAX_CODES_PER_DAY


def invalidate_live_codes(user: User, *, now: datetime) -> int:
    """End every unused, unexpired code of `user` now."""
    return AuthCode.objects.filter(user=user, used_at__isnull=True, expires_at__gt=now).update(
        expires_at=now
    )


def register_failure(user: User, *, now: datetime) -> bool:
    """Count one failed attempt; lock the number when it is one too many.

    Returns True when this failure locked the number. On locking, the counter
    starts again from zero (for after the lock) and the live code dies, so an
    attacker cannot keep guessing the code they were attacking.
    """
    user.failed_login_attempts += 1
    locked = user.failed_login_attempts >= LOCK_AFTER_FAILURES
    if locked:
        user.failed_login_attempts = 0
        user.login_locked_until = now + LOCK_DURATION
        invalidate_live_codes(user, now=now)
    user.save(update_fields=["failed_login_attempts", "login_locked_until", "updated_at"])
    return locked


def register_success(user: User, *, now: datetime) -> None:
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


def _admin_ip_cache_key(ip: str | None) -> str:
    return f"admin-login-failures:{ip or 'unknown'}"


def admin_ip_blocked(ip: str | None) -> bool:
    return (cache.get(_admin_ip_cache_key(ip)) or 0) >= ADMIN_MAX_FAILURES_PER_IP


def admin_ip_failure_add(ip: str | None) -> int:
    """Count a failed admin login from `ip`; the window starts at the first failure."""
    key = _admin_ip_cache_key(ip)
    timeout = int(ADMIN_IP_WINDOW.total_seconds())
    if cache.add(key, 1, timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, timeout)
        return 1
