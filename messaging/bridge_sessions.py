"""What the WhatsApp bridge (zapw) says about a session, in our row's terms.

Pure: read by the pairing and reconciliation services (messaging.services.sessions).
"""

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from messaging.jid import InvalidJid, parse_jid
from messaging.models import WhatsAppSession

Status = WhatsAppSession.Status

# While pairing, every state before the scan means the QR page keeps waiting.
PAIRING_STATUSES: dict[str, str] = {
    "initializing": Status.QR_PENDING,
    "connecting": Status.QR_PENDING,
    "qr_waiting": Status.QR_PENDING,
    "connected": Status.CONNECTED,
    "disconnected": Status.DISCONNECTED,
}
# When reconciling, a session that is (re)connecting is left as it is (None).
SYNC_STATUSES: dict[str, str | None] = {
    "initializing": None,
    "connecting": None,
    "qr_waiting": Status.QR_PENDING,
    "connected": Status.CONNECTED,
    "disconnected": Status.DISCONNECTED,
}


def bridge_time(value: Any) -> datetime | None:
    """An ISO 8601 string or epoch milliseconds, as an aware datetime (None if neither)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            return None
        if parsed is not None and timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=UTC)
        return parsed
    return None


def bridge_phone_number(value: Any) -> str:
    """E.164 from the bridge's phoneNumber (digits or a JID); "" when it is not one."""
    if value in (None, ""):
        return ""
    try:
        return parse_jid(value).phone_number or ""
    except InvalidJid:
        return ""
