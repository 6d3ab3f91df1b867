"""The numbers that make login codes unguessable, and the decisions built on them.

Pure: every function decides from values the caller has read and writes nothing.
The writes (row locks, counters, ending codes) are in accounts.services, which reads
the counters under the user's row lock so the decisions hold across processes.
The arithmetic behind the numbers is in docs/security.md ("Login limits").
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
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


@dataclass(frozen=True)
class FailureCounted:
    """A user's login counters after one more failed attempt."""

    failed_login_attempts: int
    login_locked_until: datetime | None
    # This failure locks the number: its live code must end and its owner be told.
    locks: bool


def is_locked(user: User, *, now: datetime | None = None) -> bool:
    return user.login_locked_until is not None and user.login_locked_until > (now or timezone.now())


def code_is_live(auth_code: AuthCode, *, now: datetime) -> bool:
    return (
        auth_code.used_at is None
        and auth_code.expires_at > now
        and auth_code.attempts < MAX_ATTEMPTS_PER_CODE
    )


def code_request_windows(*, now: datetime) -> tuple[datetime, datetime]:
    """Starts of the sliding hour and 24 hours whose issued codes count against a number."""
    return now - timedelta(hours=1), now - timedelta(days=1)


def code_request_allowed(*, issued_last_hour: int, issued_last_day: int) -> bool:
    """Whether one more code may be issued to a number that was issued these many codes
    since the starts of `code_request_windows` (hourly and daily caps)."""
    return issued_last_hour < MAX_CODES_PER_HOUR and issued_last_day < MAX_CODES_PER_DAY


def codes_to_end(*, now: datetime) -> Q:
    """The codes of a user that a new code, or a lock, ends: every unused, unexpired one."""
    return Q(used_at__isnull=True, expires_at__gt=now)


def failure_counted(user: User, *, now: datetime) -> FailureCounted:
    """Count one failed attempt; lock the number when it is one too many.

    On locking, the counter starts again from zero (for after the lock) and the live
    code is to die, so an attacker cannot keep guessing the code they were attacking.
    """
    attempts = user.failed_login_attempts + 1
    if attempts >= LOCK_AFTER_FAILURES:
        return FailureCounted(
            failed_login_attempts=0, login_locked_until=now + LOCK_DURATION, locks=True
        )
    return FailureCounted(
        failed_login_attempts=attempts, login_locked_until=user.login_locked_until, locks=False
    )


def admin_ip_blocked(*, failures: int) -> bool:
    """Whether an IP with this many failed admin logins in the window is refused."""
    return failures >= ADMIN_MAX_FAILURES_PER_IP
