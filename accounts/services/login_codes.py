"""Logging in with a code sent over WhatsApp: issuing the code, and exchanging it for
an API token.

Both run in one transaction holding the user's row lock (then the code's): the
per-number limits (accounts.limits) are counted on those rows, so concurrent
requests for one number are serialised.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from knox.models import AuthToken
from knox.settings import knox_settings

from accounts import limits, selectors
from accounts.codes import code_matches, generate_code, hash_code
from accounts.models import AuthCode, User
from accounts.services.lockout import (
    live_codes_end,
    login_failure_count,
    login_success_count,
    user_lock,
)
from accounts.services.notices import login_code_sender
from accounts.services.users import user_get_or_create
from core.audit import AuditAction, audit_log_record
from core.phone import normalize_phone_number
from core.request_info import client_ip


class CodeRequestOutcome(StrEnum):
    ISSUED = "issued"
    # Answered exactly like ISSUED (nothing tells a caller the account is disabled),
    # but no code exists and nothing is sent.
    INACTIVE = "inactive"
    # The number is locked or has had its hourly/daily share of codes.
    LIMITED = "limited"


class LoginCodeInvalid(Exception):
    """A verify attempt failed. Deliberately one kind: wrong, expired, used, unknown
    number, inactive or locked account all look the same to the caller."""


@dataclass(frozen=True)
class IssuedToken:
    user: User
    token: str = field(repr=False)
    expiry: datetime | None


def _code_request_allowed(*, user: User, now: datetime) -> bool:
    hour_start, day_start = limits.code_request_windows(now=now)
    counts = AuthCode.objects.filter(user=user, created_at__gt=day_start).aggregate(
        day=Count("id"), hour=Count("id", filter=Q(created_at__gt=hour_start))
    )
    return limits.code_request_allowed(
        issued_last_hour=counts["hour"], issued_last_day=counts["day"]
    )


@sensitive_variables("code", "send")
def auth_code_request(*, phone_number: str, request=None) -> CodeRequestOutcome:
    """Issue a login code for `phone_number` and send it over WhatsApp after commit.

    A new number gets a user. The code replaces any earlier unused code; only its
    keyed hash is stored. Raises django ValidationError for a malformed number.
    """
    phone_number = normalize_phone_number(phone_number)
    now = timezone.now()
    with transaction.atomic():
        user = user_lock(user_id=user_get_or_create(phone_number=phone_number).pk)
        refusal = None
        if not user.is_active:
            refusal = "inactive"
        elif limits.is_locked(user, now=now):
            refusal = "locked"
        elif not _code_request_allowed(user=user, now=now):
            refusal = "too_many_codes"
        if refusal is not None:
            audit_log_record(
                action=AuditAction.LOGIN_CODE_REFUSED,
                resource=user,
                changes={"reason": refusal},
                request=request,
            )
            return (
                CodeRequestOutcome.INACTIVE if refusal == "inactive" else CodeRequestOutcome.LIMITED
            )
        live_codes_end(user=user, now=now)
        code = generate_code()
        auth_code = AuthCode.objects.create(
            user=user,
            code_hash=hash_code(user_id=user.pk, code=code),
            expires_at=now + limits.CODE_TTL,
            requested_ip=client_ip(request),
        )
        audit_log_record(
            action=AuditAction.LOGIN_CODE_REQUESTED,
            resource=user,
            changes={"auth_code_id": auth_code.pk, "expires_at": auth_code.expires_at.isoformat()},
            request=request,
        )
        send = login_code_sender(
            user_id=user.pk, phone_number=user.phone_number, code=code, request=request
        )
        transaction.on_commit(send, robust=True)
    return CodeRequestOutcome.ISSUED


def _login_failed(*, user: User | None, reason: str, request, **extra) -> None:
    audit_log_record(
        action=AuditAction.LOGIN_FAILED,
        resource_type="user",
        resource_id=user.pk if user else "",
        changes={"reason": reason, **extra},
        request=request,
    )


def _token_create(*, user: User, now: datetime) -> tuple[AuthToken, str]:
    """A new knox token; the oldest tokens go so the user stays within the limit."""
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    if limit is not None:
        tokens = AuthToken.objects.filter(user=user)
        tokens.filter(expiry__lte=now).delete()
        surplus = list(
            tokens.filter(Q(expiry__gt=now) | Q(expiry__isnull=True))
            .order_by("-created", "-digest")
            .values_list("digest", flat=True)[max(limit - 1, 0) :]
        )
        if surplus:
            AuthToken.objects.filter(digest__in=surplus).delete()
    return AuthToken.objects.create(user=user, expiry=knox_settings.TOKEN_TTL)


@sensitive_variables("code", "token")
def _verify_in_transaction(
    *, phone_number: str, code: str, now: datetime, request
) -> IssuedToken | None:
    user = selectors.user_get_by_phone(phone_number=phone_number)
    if user is None:
        hash_code(user_id=0, code=code)  # roughly the work a known number costs
        _login_failed(
            user=None, reason="unknown_number", request=request, phone_number=phone_number
        )
        return None
    user = user_lock(user_id=user.pk)
    if not user.is_active:
        _login_failed(user=user, reason="inactive", request=request)
        return None
    if limits.is_locked(user, now=now):
        _login_failed(user=user, reason="locked", request=request)
        return None
    auth_code = selectors.auth_code_newest_unused(user=user, lock=True)
    if auth_code is None or not limits.code_is_live(auth_code, now=now):
        # No code could have matched, so this guess cannot count against anyone.
        _login_failed(user=user, reason="no_live_code", request=request)
        return None
    if not code_matches(user_id=user.pk, code=code, code_hash=auth_code.code_hash):
        auth_code.attempts += 1
        auth_code.save(update_fields=["attempts", "updated_at"])
        _login_failed(
            user=user,
            reason="wrong_code",
            request=request,
            auth_code_id=auth_code.pk,
            attempts=auth_code.attempts,
        )
        login_failure_count(user=user, now=now, channel="whatsapp_code", request=request)
        return None
    auth_code.used_at = now
    auth_code.save(update_fields=["used_at", "updated_at"])
    login_success_count(user=user, now=now)
    instance, token = _token_create(user=user, now=now)
    audit_log_record(
        action=AuditAction.LOGIN_SUCCEEDED,
        actor=user,
        resource=user,
        changes={"auth_code_id": auth_code.pk, "channel": "whatsapp_code"},
        request=request,
    )
    return IssuedToken(user=user, token=token, expiry=instance.expiry)


@sensitive_variables("code", "issued")
def auth_code_verify(*, phone_number: str, code: str, request=None) -> IssuedToken:
    """Exchange the newest live code of `phone_number` for a knox token.

    Every failure raises LoginCodeInvalid, but only after the transaction holding
    the attempt counters has committed: a failed guess always counts.
    """
    phone_number = normalize_phone_number(phone_number)
    with transaction.atomic():
        issued = _verify_in_transaction(
            phone_number=phone_number, code=code, now=timezone.now(), request=request
        )
    if issued is None:
        raise LoginCodeInvalid
    return issued
