"""Writes that matter for accounts. Keyword-only arguments; each owns its transaction."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from knox.models import AuthToken
from knox.settings import knox_settings

from accounts import limits, selectors
from accounts.codes import code_matches, generate_code, hash_code
from accounts.models import AuthCode, User
from core.audit import AuditAction, audit_log_record
from core.phone import normalize_phone_number
from core.request_info import client_ip
from core.whatsapp.backends import send_text

logger = logging.getLogger(__name__)


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


LOGIN_CODE_TEXT = (
    "Your Zapa login code is {code}. It expires in {minutes} minutes. "
    "Never share it: Zapa will never ask you for it."
)
LOCK_NOTICE_TEXT = (
    "Zapa: too many wrong login attempts were made for this number, so logins are "
    "paused until {until:%H:%M} UTC. If this was not you, your account is safe and "
    "you need not do anything."
)


def whatsapp_users_ensure(*, names_by_phone: dict[str, str]) -> None:
    """Make sure people WhatsApp told us about have users (one INSERT; existing users
    are left as they are; display name: the value). Numbers from WhatsApp are real by
    definition, so they only need the E.164 shape (`core.phone.phone_number_from_bridge`)."""
    if names_by_phone:
        User.objects.create_whatsapp_users(names_by_phone)


def whatsapp_user_ids(*, names_by_phone: dict[str, str]) -> dict[str, int]:
    """User ids by E.164 number, creating the missing users (see whatsapp_users_ensure)."""
    whatsapp_users_ensure(names_by_phone=names_by_phone)
    return dict(
        User.objects.filter(phone_number__in=sorted(names_by_phone)).values_list(
            "phone_number", "pk"
        )
    )


def _user_get_or_create(phone_number: str) -> User:
    user = selectors.user_get_by_phone(phone_number=phone_number)
    if user is not None:
        return user
    try:
        with transaction.atomic():
            return User.objects.create_user(phone_number)
    except (IntegrityError, ValidationError):
        # A concurrent request created the same number first.
        return User.objects.get(phone_number=phone_number)


def _safe_error(exc: Exception, *secrets: str) -> str:
    """A log-safe description of a sending failure (secrets blanked out, just in case)."""
    message = f"{type(exc).__name__}: {exc}"[:300]
    for secret in secrets:
        message = message.replace(secret, "[redacted]")
    return message


@sensitive_variables("code", "text")
def _login_code_deliver(*, user_id: int, phone_number: str, code: str, request) -> None:
    text = LOGIN_CODE_TEXT.format(code=code, minutes=int(limits.CODE_TTL.total_seconds() // 60))
    try:
        send_text(to=phone_number, text=text)
    except Exception as exc:  # any backend failure: the 202 must not depend on the bridge
        error = _safe_error(exc, code, text)
        logger.warning("Could not send a login code to user %s: %s", user_id, error)
        audit_log_record(
            action=AuditAction.LOGIN_CODE_SEND_FAILED,
            resource_type="user",
            resource_id=user_id,
            changes={"error": error},
            request=request,
        )
    else:
        logger.info("Sent a login code to user %s", user_id)


def _login_code_sender(*, user_id: int, phone_number: str, code: str, request) -> Callable:
    # A closure rather than functools.partial: a partial's repr would show the code
    # wherever a traceback lists on_commit's locals.
    @sensitive_variables()
    def send() -> None:
        _login_code_deliver(user_id=user_id, phone_number=phone_number, code=code, request=request)

    return send


def _lock_notice_sender(*, user_id: int, phone_number: str, until: datetime, request) -> Callable:
    def send() -> None:
        try:
            send_text(to=phone_number, text=LOCK_NOTICE_TEXT.format(until=until))
        except Exception as exc:  # the lock stands whether or not the notice goes out
            error = _safe_error(exc)
            logger.warning("Could not send a lock notice to user %s: %s", user_id, error)
            audit_log_record(
                action=AuditAction.LOGIN_LOCK_NOTICE_FAILED,
                resource_type="user",
                resource_id=user_id,
                changes={"error": error},
                request=request,
            )

    return send


@sensitive_variables("code", "send")
def auth_code_request(*, phone_number: str, request=None) -> CodeRequestOutcome:
    """Issue a login code for `phone_number` and send it over WhatsApp after commit.

    A new number gets a user. The code replaces any earlier unused code; only its
    keyed hash is stored. Raises django ValidationError for a malformed number.
    """
    phone_number = normalize_phone_number(phone_number)
    now = timezone.now()
    with transaction.atomic():
        user = limits.lock_user(_user_get_or_create(phone_number).pk)
        refusal = None
        if not user.is_active:
            refusal = "inactive"
        elif limits.is_locked(user, now=now):
            refusal = "locked"
        elif not limits.code_request_allowed(user, now=now):
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
        limits.invalidate_live_codes(user, now=now)
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
        send = _login_code_sender(
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


def _failure_register(*, user: User, now: datetime, channel: str, request) -> None:
    """Count a failure on the locked user row; lock and notify when it is one too many."""
    if not limits.register_failure(user, now=now):
        return
    audit_log_record(
        action=AuditAction.LOGIN_LOCKED,
        resource=user,
        changes={"until": user.login_locked_until.isoformat(), "channel": channel},
        request=request,
    )
    transaction.on_commit(
        _lock_notice_sender(
            user_id=user.pk,
            phone_number=user.phone_number,
            until=user.login_locked_until,
            request=request,
        ),
        robust=True,
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
    user = limits.lock_user(user.pk)
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
        _failure_register(user=user, now=now, channel="whatsapp_code", request=request)
        return None
    auth_code.used_at = now
    auth_code.save(update_fields=["used_at", "updated_at"])
    limits.register_success(user, now=now)
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


def auth_token_revoke(*, auth_token: AuthToken, request=None) -> None:
    """Log out one token (the caller's own)."""
    with transaction.atomic():
        user = auth_token.user
        auth_token.delete()
        audit_log_record(action=AuditAction.LOGOUT, actor=user, resource=user, request=request)


def user_tokens_revoke_all(*, user: User, actor: User | None = None, request=None) -> int:
    """Revoke every API token of `user`; returns how many there were."""
    with transaction.atomic():
        revoked, _ = AuthToken.objects.filter(user=user).delete()
        audit_log_record(
            action=AuditAction.LOGOUT_ALL,
            actor=actor,
            resource=user,
            changes={"revoked": revoked},
            request=request,
        )
    return revoked


def user_profile_update(
    *, user: User, display_name: str | None = None, preferences: dict | None = None
) -> User:
    """Change what a user may change about themselves."""
    fields = []
    if display_name is not None:
        user.display_name = display_name
        fields.append("display_name")
    if preferences is not None:
        user.preferences = preferences
        fields.append("preferences")
    if fields:
        user.save(update_fields=[*fields, "updated_at"])
    return user


def admin_login_failure_record(
    *, username: str, user_id: int | None, reason: str, request=None
) -> None:
    """Count a failed admin login on the user's row (same lock as code logins) and audit it."""
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
            _failure_register(user=user, now=timezone.now(), channel="admin", request=request)


def admin_login_success_record(*, user: User, request=None) -> None:
    with transaction.atomic():
        locked = limits.lock_user(user.pk)
        locked.failed_login_attempts = 0
        locked.save(update_fields=["failed_login_attempts", "updated_at"])
        audit_log_record(
            action=AuditAction.ADMIN_LOGIN_SUCCEEDED, actor=user, resource=user, request=request
        )
