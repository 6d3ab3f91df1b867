"""What Zapa tells a user over WhatsApp about their logins: the code, and a lock.

Each sender is a callback for `transaction.on_commit`: nothing goes out for a
transaction that rolled back, and a sending failure is logged and audited without
ever failing the login flow that scheduled it.
"""

import logging
from collections.abc import Callable
from datetime import datetime

from django.views.decorators.debug import sensitive_variables

from accounts import limits
from core.audit import AuditAction, audit_log_record
from core.whatsapp.backends import send_text

logger = logging.getLogger(__name__)

LOGIN_CODE_TEXT = (
    "Your Zapa login code is {code}. It expires in {minutes} minutes. "
    "Never share it: Zapa will never ask you for it."
)
LOCK_NOTICE_TEXT = (
    "Zapa: too many wrong login attempts were made for this number, so logins are "
    "paused until {until:%H:%M} UTC. If this was not you, your account is safe and "
    "you need not do anything."
)


def _safe_error(exc: Exception, *secrets: str) -> str:
    """A log-safe description of a sending failure (secrets blanked out, just in case)."""
    message = f"{type(exc).__name__}: {exc}"[:300]
    for secret in secrets:
        message = message.replace(secret, "[redacted]")
    return message


def _send_failed(*, action: str, what: str, user_id: int, error: str, request) -> None:
    logger.warning("Could not send %s to user %s: %s", what, user_id, error)
    audit_log_record(
        action=action,
        resource_type="user",
        resource_id=user_id,
        changes={"error": error},
        request=request,
    )


@sensitive_variables("code", "text")
def _login_code_deliver(*, user_id: int, phone_number: str, code: str, request) -> None:
    text = LOGIN_CODE_TEXT.format(code=code, minutes=int(limits.CODE_TTL.total_seconds() // 60))
    try:
        send_text(to=phone_number, text=text)
    except Exception as exc:  # any backend failure: the 202 must not depend on the bridge
        _send_failed(
            action=AuditAction.LOGIN_CODE_SEND_FAILED,
            what="a login code",
            user_id=user_id,
            error=_safe_error(exc, code, text),
            request=request,
        )
    else:
        logger.info("Sent a login code to user %s", user_id)


def login_code_sender(*, user_id: int, phone_number: str, code: str, request) -> Callable:
    # A closure rather than functools.partial: a partial's repr would show the code
    # wherever a traceback lists on_commit's locals.
    @sensitive_variables()
    def send() -> None:
        _login_code_deliver(user_id=user_id, phone_number=phone_number, code=code, request=request)

    return send


def lock_notice_sender(*, user_id: int, phone_number: str, until: datetime, request) -> Callable:
    def send() -> None:
        try:
            send_text(to=phone_number, text=LOCK_NOTICE_TEXT.format(until=until))
        except Exception as exc:  # the lock stands whether or not the notice goes out
            _send_failed(
                action=AuditAction.LOGIN_LOCK_NOTICE_FAILED,
                what="a lock notice",
                user_id=user_id,
                error=_safe_error(exc),
                request=request,
            )

    return send
