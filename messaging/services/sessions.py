"""WhatsApp sessions against the bridge (zapw): pairing a number, ending a session,
and reconciling our rows with what the bridge holds.

Each bridge call runs outside any transaction; the session row is then locked and
updated from the bridge's answer in its own short transaction. Bridge failures are
raised as `core.whatsapp.bridge.BridgeError`, whose message is fit for an admin page.

**Pairing** (connect, refresh the QR, disconnect). A refresh never moves a session
back from `connected`: the `session.connected` webhook may have flipped it
meanwhile, and the webhook is the authority on that.

**Reconciling** (`whatsapp_sessions_sync`). The bridge sends no
`session.disconnected` webhook when a session is deleted or when the bridge itself
stops, so a session would stay "connected" here forever. The sync asks the bridge
about each session (`GET /sessions/{id}`) and records what it answers:

==============================  ==============================================
bridge answer                   our row
==============================  ==============================================
404 (no such session)           ``disconnected`` (reason kept in metadata)
``connected``                   ``connected`` (phone number from the bridge)
``disconnected``                ``disconnected``
``qr_waiting``                  ``qr_pending`` (with the bridge's current QR)
``initializing``/``connecting`` unchanged: the bridge is reconnecting
==============================  ==============================================

Every answered session gets ``bridge_checked_at``; a change of status (or of the
session's phone number) is audited as ``session_synced``. If the row was written
while the bridge was asked (a webhook, the pairing page, another run), whoever wrote
it knew at least as much as the answer we hold, so its status is left alone and the
next run looks again.

When the bridge cannot be reached (network error, timeout, 5xx, an answer that is
not JSON) or refuses us (401/403: a wrong API key), nothing is changed for that
session and the run stops there: the bridge is down, asking about the rest would
only pile up timeouts. The report says so (`SyncReport.unreachable`), and the
management command exits non-zero so cron can alert.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from core.audit import AuditAction, audit_log_record
from core.whatsapp.bridge import BridgeClient, BridgeError
from messaging.bridge_sessions import (
    PAIRING_STATUSES,
    SYNC_STATUSES,
    bridge_phone_number,
    bridge_time,
)
from messaging.models import WhatsAppSession
from messaging.session_sync import (
    SyncReport,
    bridge_down,
    bridge_error_shown,
    bridge_url_shown,
)

logger = logging.getLogger(__name__)

Status = WhatsAppSession.Status

# Answers to "create" that mean the bridge already has a session of that name.
_ALREADY_EXISTS = (400, 409, 422)
GONE_REASON = "The bridge no longer has this session."
DISCONNECTED_REASON = "The bridge reports this session as disconnected."


# --- pairing ----------------------------------------------------------------------


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
    return _pairing_state_apply(
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
    return _pairing_state_apply(
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


def _pairing_state_apply(
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
    wanted = PAIRING_STATUSES.get(bridge_status)
    if wanted is None:
        wanted = Status.QR_PENDING if qr_code else None
    with transaction.atomic():
        locked = WhatsAppSession.objects.select_for_update().get(pk=session.pk)
        previous = locked.status
        fields = {"updated_at"}
        if wanted == Status.CONNECTED:
            if locked.status != Status.CONNECTED:
                locked.status = Status.CONNECTED
                locked.connected_at = bridge_time(data.get("connectedAt")) or timezone.now()
                fields |= {"status", "connected_at"}
            phone_number = bridge_phone_number(data.get("phoneNumber"))
            if phone_number:
                locked.phone_number = phone_number
                fields.add("phone_number")
            locked.qr_code, locked.qr_expires_at = "", None
            fields |= {"qr_code", "qr_expires_at"}
        elif wanted is not None and (may_downgrade or locked.status != Status.CONNECTED):
            locked.status = wanted
            locked.qr_code = qr_code if wanted == Status.QR_PENDING else ""
            locked.qr_expires_at = bridge_time(data.get("qrExpiresAt")) if locked.qr_code else None
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


# --- reconciling ------------------------------------------------------------------


@dataclass(frozen=True)
class _Seen:
    """A session as it was just before the bridge was asked about it."""

    pk: int
    bridge_session_id: str
    status: str
    updated_at: datetime


def whatsapp_sessions_sync(
    *,
    sessions: Iterable[WhatsAppSession] | None = None,
    client: BridgeClient | None = None,
    request=None,
) -> SyncReport:
    """Ask the bridge about sessions and record its answers (see the module docstring).

    By default every session that is not ``disconnected``; with `sessions` (a
    queryset or any iterable of sessions) exactly those, whatever their status.
    `request`, when given (the admin), is the audit rows' actor and origin.
    """
    client = client or BridgeClient.from_settings()
    report = SyncReport(bridge_url=bridge_url_shown(client))
    actor = getattr(request, "user", None)
    pending = _snapshot(sessions)
    for index, seen in enumerate(pending):
        try:
            data: Any = client.get_session(seen.bridge_session_id)
        except BridgeError as exc:
            if exc.status_code == 404:
                _record(seen, None, report=report, actor=actor, request=request)
                continue
            message = bridge_error_shown(exc, client)
            if bridge_down(exc):
                logger.warning(
                    "Session sync stopped: the bridge at %s failed (%s)", report.bridge_url, message
                )
                report.unreachable, report.error = True, message
                report.not_checked = [s.bridge_session_id for s in pending[index:]]
                break
            report.failed.append((seen.bridge_session_id, message))
            continue
        _record(seen, data, report=report, actor=actor, request=request)
    return report


def _snapshot(sessions: Iterable[WhatsAppSession] | None) -> list[_Seen]:
    """The sessions to ask about, read fresh from the database, by primary key."""
    rows = WhatsAppSession.objects.all()
    if sessions is None:
        rows = rows.exclude(status=Status.DISCONNECTED)
    else:
        if isinstance(sessions, QuerySet):
            pks = list(sessions.values_list("pk", flat=True))
        else:
            pks = [session.pk for session in sessions]
        rows = rows.filter(pk__in=pks)
    fields = ("pk", "bridge_session_id", "status", "updated_at")
    return [_Seen(*row) for row in rows.order_by("pk").values_list(*fields)]


def _record(seen: _Seen, data: Any, *, report: SyncReport, actor, request) -> None:
    """Apply one answer (None: the bridge has no such session) to the locked row."""
    gone = data is None
    if gone:
        bridge_status = "not_found"
        wanted: str | None = Status.DISCONNECTED
        data = {}
    elif isinstance(data, dict):
        bridge_status = str(data.get("status") or "")[:32]
        wanted = SYNC_STATUSES.get(bridge_status)
        if bridge_status not in SYNC_STATUSES:
            logger.warning(
                "The bridge reports session %s in an unknown state %r; left as it is",
                seen.bridge_session_id,
                bridge_status,
            )
    else:
        bridge_status, wanted, data = "", None, {}
        logger.warning(
            "The bridge answered about session %s with something that is not a session",
            seen.bridge_session_id,
        )
    now = timezone.now()
    with transaction.atomic():
        session = WhatsAppSession.objects.select_for_update().filter(pk=seen.pk).first()
        if session is None:  # deleted here meanwhile: nothing to record
            return
        report.checked += 1
        if gone:
            report.gone.append(session.bridge_session_id)
        fields = {"bridge_checked_at"}
        session.bridge_checked_at = now
        if session.status != seen.status or session.updated_at != seen.updated_at:
            # Written while we waited for the bridge: that write is at least as new.
            report.skipped.append(session.bridge_session_id)
            session.save(update_fields=sorted(fields))
            return
        previous_status, previous_phone = session.status, session.phone_number
        if wanted == Status.CONNECTED:
            fields |= _connected(session, data, now)
        elif wanted == Status.DISCONNECTED:
            fields |= _disconnected(session, GONE_REASON if gone else DISCONNECTED_REASON, now)
        elif wanted == Status.QR_PENDING:
            fields |= _qr_pending(session, data)
        status_changed = session.status != previous_status
        phone_changed = session.phone_number != previous_phone
        if fields != {"bridge_checked_at"}:  # a mere check is not a change of the row
            fields.add("updated_at")
        session.save(update_fields=sorted(fields))
        if status_changed:
            report.changed.append((session.bridge_session_id, previous_status, session.status))
        if status_changed or phone_changed:
            changes: dict[str, Any] = {
                "bridge_session_id": session.bridge_session_id,
                "bridge_status": bridge_status,
                "status": [previous_status, session.status],
            }
            if phone_changed:
                changes["phone_number"] = [previous_phone, session.phone_number]
            if status_changed and session.status == Status.DISCONNECTED:
                changes["reason"] = session.metadata.get("disconnect_reason", "")
            audit_log_record(
                action=AuditAction.SESSION_SYNCED,
                actor=actor,
                resource=session,
                changes=changes,
                request=request,
            )


def _connected(session: WhatsAppSession, data: dict, now: datetime) -> set[str]:
    fields = set()
    if session.status != Status.CONNECTED:
        session.status = Status.CONNECTED
        session.connected_at = bridge_time(data.get("connectedAt")) or now
        fields |= {"status", "connected_at"}
    phone_number = bridge_phone_number(data.get("phoneNumber"))
    if phone_number and phone_number != session.phone_number:
        session.phone_number = phone_number
        fields.add("phone_number")
    if session.qr_code or session.qr_expires_at:
        session.qr_code, session.qr_expires_at = "", None
        fields |= {"qr_code", "qr_expires_at"}
    return fields


def _disconnected(session: WhatsAppSession, reason: str, now: datetime) -> set[str]:
    fields = set()
    if session.status != Status.DISCONNECTED:
        session.status = Status.DISCONNECTED
        session.disconnected_at = now
        session.metadata = {**session.metadata, "disconnect_reason": reason}
        fields |= {"status", "disconnected_at", "metadata"}
    if session.qr_code or session.qr_expires_at:
        session.qr_code, session.qr_expires_at = "", None
        fields |= {"qr_code", "qr_expires_at"}
    return fields


def _qr_pending(session: WhatsAppSession, data: dict) -> set[str]:
    fields = set()
    if session.status != Status.QR_PENDING:
        session.status = Status.QR_PENDING
        fields.add("status")
    qr_code = data.get("qrCode")
    if isinstance(qr_code, str) and qr_code and qr_code != session.qr_code:
        session.qr_code = qr_code
        session.qr_expires_at = bridge_time(data.get("qrExpiresAt"))
        fields |= {"qr_code", "qr_expires_at"}
    return fields
