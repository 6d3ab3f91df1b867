"""Reconcile WhatsApp sessions with the bridge (zapw).

The bridge sends no `session.disconnected` webhook when a session is deleted or
when the bridge itself stops, so a session would stay "connected" here forever.
`whatsapp_sessions_sync` asks the bridge about each session (`GET /sessions/{id}`)
and records what it answers:

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
session's phone number) is audited as ``session_synced``.

Each bridge call runs outside any transaction; the row is then locked and updated
in its own short transaction. If the row was written meanwhile (a webhook, the
pairing page, another run), whoever wrote it knew at least as much as the answer
we hold, so its status is left alone and the next run looks again.

When the bridge cannot be reached (network error, timeout, 5xx, an answer that is
not JSON) or refuses us (401/403: a wrong API key), nothing is changed for that
session and the run stops there: the bridge is down, asking about the rest would
only pile up timeouts. The report says so (`SyncReport.unreachable`), and the
management command exits non-zero so cron can alert.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.audit import AuditAction, audit_log_record
from core.whatsapp.bridge import BridgeClient, BridgeError
from messaging.jid import InvalidJid, parse_jid
from messaging.models import WhatsAppSession

logger = logging.getLogger(__name__)

Status = WhatsAppSession.Status

AUDIT_SESSION_SYNCED = "session_synced"
GONE_REASON = "The bridge no longer has this session."
DISCONNECTED_REASON = "The bridge reports this session as disconnected."

# zapw's session states and the status each means for our row (None: leave it).
BRIDGE_STATUSES: dict[str, str | None] = {
    "initializing": None,
    "connecting": None,
    "qr_waiting": Status.QR_PENDING,
    "connected": Status.CONNECTED,
    "disconnected": Status.DISCONNECTED,
}
# Answers that mean the bridge will not answer about any session right now.
_BRIDGE_REFUSES = (401, 403)
# How many sessions a summary names before "and N more".
_SUMMARY_NAMES = 10
_REDACTED = "[redacted]"


@dataclass
class SyncReport:
    """What one run did. All bridge session ids; messages never hold the API key."""

    bridge_url: str
    # Sessions the bridge answered about (a 404 included): bridge_checked_at was set.
    checked: int = 0
    # (bridge_session_id, old status, new status) for each status changed.
    changed: list[tuple[str, str, str]] = field(default_factory=list)
    # Sessions the bridge no longer has (404); recorded as disconnected.
    gone: list[str] = field(default_factory=list)
    # Answered, but the row was written meanwhile: its status was left alone.
    skipped: list[str] = field(default_factory=list)
    # (bridge_session_id, error) for other refusals about one session (e.g. a 400).
    failed: list[tuple[str, str]] = field(default_factory=list)
    # The bridge could not be reached (or refused every request): the run stopped.
    unreachable: bool = False
    error: str = ""
    # Sessions not checked because the run stopped (the one that failed included).
    not_checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unreachable and not self.failed

    def summary(self) -> str:
        """One line for a cron mail, a log or an admin message."""
        if self.unreachable:
            text = (
                f"Could not check sessions with the WhatsApp bridge at {self.bridge_url}: "
                f"{self.error.rstrip('.')}. {_count(len(self.not_checked), 'session')} not checked"
            )
            if self.checked:
                text += f"; {self.checked} checked before the failure"
            if self.changed:
                text += f", {len(self.changed)} changed ({self._changes_text()})"
            return text + "."
        if not self.checked and not self.failed:
            return "No WhatsApp sessions to check with the bridge."
        details = [
            f"{len(self.changed)} changed ({self._changes_text()})"
            if self.changed
            else "no changes"
        ]
        if self.gone:
            details.append(f"{len(self.gone)} no longer at the bridge")
        if self.skipped:
            details.append(f"{len(self.skipped)} changed meanwhile, left for the next run")
        if self.failed:
            shown = "; ".join(f"{name}: {error}" for name, error in self.failed[:_SUMMARY_NAMES])
            more = len(self.failed) - _SUMMARY_NAMES
            details.append(
                f"{len(self.failed)} failed ({shown}"
                + (f"; and {more} more" if more > 0 else "")
                + ")"
            )
        head = f"Checked {_count(self.checked, 'WhatsApp session')} with the bridge"
        return f"{head}: {', '.join(details)}."

    def _changes_text(self) -> str:
        shown = [f"{name} {old} → {new}" for name, old, new in self.changed[:_SUMMARY_NAMES]]
        more = len(self.changed) - _SUMMARY_NAMES
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


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
    report = SyncReport(bridge_url=_safe_url(client.base_url))
    actor = getattr(request, "user", None)
    pending = _snapshot(sessions)
    for index, seen in enumerate(pending):
        try:
            data: Any = client.get_session(seen.bridge_session_id)
        except BridgeError as exc:
            if exc.status_code == 404:
                _record(seen, None, report=report, actor=actor, request=request)
                continue
            message = _redact(str(exc), client)
            if _bridge_down(exc):
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


def _bridge_down(exc: BridgeError) -> bool:
    """Does this failure mean the bridge will not answer about any session now?"""
    code = exc.status_code
    return code is None or code >= 500 or code in _BRIDGE_REFUSES


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
        wanted = BRIDGE_STATUSES.get(bridge_status)
        if bridge_status not in BRIDGE_STATUSES:
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
        session.connected_at = _bridge_time(data.get("connectedAt")) or now
        fields |= {"status", "connected_at"}
    phone_number = _phone_number(data.get("phoneNumber"))
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
        session.qr_expires_at = _bridge_time(data.get("qrExpiresAt"))
        fields |= {"qr_code", "qr_expires_at"}
    return fields


def _phone_number(value: Any) -> str:
    """E.164 from the bridge's phoneNumber (digits or a JID); "" when it is not one."""
    if value in (None, ""):
        return ""
    try:
        return parse_jid(value).phone_number or ""
    except InvalidJid:
        return ""


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


def _safe_url(url: str) -> str:
    """The bridge URL for messages: no user:password, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(the configured bridge URL)"
    if not parts.scheme or not host:
        return "(the configured bridge URL)"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _redact(text: str, client: BridgeClient) -> str:
    """A bridge error as we may show it: the API key never, even if the bridge echoed it."""
    for key in {settings.WHATSAPP_BRIDGE_API_KEY, getattr(client, "_api_key", "")}:
        if key:
            text = text.replace(key, _REDACTED)
    return text


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
