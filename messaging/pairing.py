"""Pairing a WhatsApp number through the bridge: connect, refresh the QR, disconnect.

Each bridge call runs outside any transaction; the session row is then locked
and updated from the bridge's answer. A refresh never moves a session back from
`connected`: the `session.connected` webhook may have flipped it meanwhile, and
the webhook is the authority on that.

Bridge failures are raised as `core.whatsapp.bridge.BridgeError`, whose message is
fit for an admin page.
"""

import re
from datetime import UTC, datetime
from typing import Any

import segno
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User
from core.audit import AuditAction, audit_log_record
from core.whatsapp.bridge import BridgeClient, BridgeError
from messaging.jid import InvalidJid, parse_jid
from messaging.models import WhatsAppSession

Status = WhatsAppSession.Status

# zapw's session states (DESIGN.md) and what each means for our row.
BRIDGE_STATUSES = {
    "initializing": Status.QR_PENDING,
    "connecting": Status.QR_PENDING,
    "qr_waiting": Status.QR_PENDING,
    "connected": Status.CONNECTED,
    "disconnected": Status.DISCONNECTED,
}
# Answers to "create" that mean the bridge already has a session of that name.
_ALREADY_EXISTS = (400, 409, 422)

# Only image data URLs the browser shows inertly, and nothing absurdly large.
_IMAGE_DATA_URL = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}")
_MAX_DATA_URL_LENGTH = 200_000


def qr_image_data_url(qr_code: str) -> str:
    """An `<img src>` for a stored QR: the bridge's image, or our rendering of its text.

    Empty when there is nothing to show (no code, or text too long for a QR).
    """
    if not qr_code:
        return ""
    if qr_code.startswith("data:"):
        if len(qr_code) <= _MAX_DATA_URL_LENGTH and _IMAGE_DATA_URL.fullmatch(qr_code):
            return qr_code
        return ""
    try:
        return segno.make_qr(qr_code, error="m").png_data_uri(scale=6, border=4)
    except segno.DataOverflowError:
        return ""


def whatsapp_session_connect(
    *,
    session: WhatsAppSession,
    actor: User | None = None,
    request=None,
    client: BridgeClient | None = None,
) -> WhatsAppSession:
    """Ask the bridge to start pairing `session` (or report the pairing under way).

    A session the bridge already has is read back; one it holds as disconnected
    is ended and started again, so staff always get a fresh QR to scan.
    """
    client = client or BridgeClient.from_settings()
    name = session.bridge_session_id
    try:
        data = client.create_session(session_id=name)
    except BridgeError as exc:
        if exc.status_code not in _ALREADY_EXISTS:
            raise
        try:
            data = client.get_session(name)
        except BridgeError:
            raise exc from None
        if data.get("status") == "disconnected":
            client.delete_session(name)
            data = client.create_session(session_id=name)
    return _apply_bridge_state(
        session=session,
        data=data,
        may_downgrade=True,
        audit_action=AuditAction.SESSION_CONNECT_REQUESTED,
        actor=actor,
        request=request,
    )


def whatsapp_session_refresh_qr(
    *,
    session: WhatsAppSession,
    actor: User | None = None,
    request=None,
    client: BridgeClient | None = None,
) -> WhatsAppSession:
    """Fetch the session's current QR (the bridge renews an expired one) and state.

    Called on every reload of the pairing page, so it is audited only when the
    session's status changes.
    """
    client = client or BridgeClient.from_settings()
    try:
        data = client.get_session(session.bridge_session_id)
    except BridgeError as exc:
        if exc.status_code == 404:
            _qr_forget(session)
            raise BridgeError(
                f"The bridge has no session “{session.bridge_session_id}” (it may have "
                "restarted). Press Connect to start pairing again.",
                status_code=404,
            ) from exc
        raise
    return _apply_bridge_state(
        session=session,
        data=data,
        may_downgrade=False,
        audit_action=AuditAction.SESSION_QR_REFRESHED,
        audit_only_on_change=True,
        actor=actor,
        request=request,
    )


def whatsapp_session_disconnect(
    *,
    session: WhatsAppSession,
    actor: User | None = None,
    request=None,
    client: BridgeClient | None = None,
) -> WhatsAppSession:
    """End the session at the bridge (logging the phone out) and mark it disconnected.

    A session the bridge does not know is already ended there: that is not an error.
    """
    client = client or BridgeClient.from_settings()
    known_to_bridge = True
    try:
        client.delete_session(session.bridge_session_id)
    except BridgeError as exc:
        if exc.status_code != 404:
            raise
        known_to_bridge = False
    with transaction.atomic():
        locked = WhatsAppSession.objects.select_for_update().get(pk=session.pk)
        previous = locked.status
        locked.status = Status.DISCONNECTED
        locked.disconnected_at = timezone.now()
        locked.qr_code, locked.qr_expires_at = "", None
        locked.save(
            update_fields=["status", "disconnected_at", "qr_code", "qr_expires_at", "updated_at"]
        )
        audit_log_record(
            action=AuditAction.SESSION_DISCONNECT_REQUESTED,
            actor=actor,
            resource=locked,
            changes={
                "bridge_session_id": locked.bridge_session_id,
                "status": [previous, locked.status],
                "known_to_bridge": known_to_bridge,
            },
            request=request,
        )
    return locked


# ---------------------------------------------------------------------------


def _apply_bridge_state(
    *,
    session: WhatsAppSession,
    data: Any,
    may_downgrade: bool,
    audit_action: str,
    audit_only_on_change: bool = False,
    actor: User | None,
    request,
) -> WhatsAppSession:
    if not isinstance(data, dict):
        raise BridgeError("The WhatsApp bridge sent a session that is not a JSON object.")
    bridge_status = str(data.get("status") or "")
    qr_code = data.get("qrCode") if isinstance(data.get("qrCode"), str) else ""
    wanted = BRIDGE_STATUSES.get(bridge_status)
    if wanted is None:
        wanted = Status.QR_PENDING if qr_code else None
    with transaction.atomic():
        locked = WhatsAppSession.objects.select_for_update().get(pk=session.pk)
        previous = locked.status
        fields = {"updated_at"}
        if wanted == Status.CONNECTED:
            if locked.status != Status.CONNECTED:
                locked.status = Status.CONNECTED
                locked.connected_at = _bridge_time(data.get("connectedAt")) or timezone.now()
                fields |= {"status", "connected_at"}
            phone_number = _phone_number(data.get("phoneNumber"))
            if phone_number:
                locked.phone_number = phone_number
                fields.add("phone_number")
            locked.qr_code, locked.qr_expires_at = "", None
            fields |= {"qr_code", "qr_expires_at"}
        elif wanted is not None and (may_downgrade or locked.status != Status.CONNECTED):
            locked.status = wanted
            locked.qr_code = qr_code if wanted == Status.QR_PENDING else ""
            locked.qr_expires_at = _bridge_time(data.get("qrExpiresAt")) if locked.qr_code else None
            fields |= {"status", "qr_code", "qr_expires_at"}
            if wanted == Status.DISCONNECTED and previous != Status.DISCONNECTED:
                locked.disconnected_at = timezone.now()
                fields.add("disconnected_at")
        locked.save(update_fields=sorted(fields))
        if not audit_only_on_change or locked.status != previous:
            audit_log_record(
                action=audit_action,
                actor=actor,
                resource=locked,
                changes={
                    "bridge_session_id": locked.bridge_session_id,
                    "bridge_status": bridge_status[:32],
                    "status": [previous, locked.status],
                },
                request=request,
            )
    return locked


def _qr_forget(session: WhatsAppSession) -> None:
    WhatsAppSession.objects.filter(pk=session.pk, status=Status.QR_PENDING).update(
        qr_code="", qr_expires_at=None, updated_at=timezone.now()
    )


def _bridge_time(value: Any) -> datetime | None:
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


def _phone_number(value: Any) -> str:
    if value in (None, ""):
        return ""
    try:
        return parse_jid(value).phone_number or ""
    except InvalidJid:
        return ""
