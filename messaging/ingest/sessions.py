"""Session rows from bridge events: session.connected / session.disconnected, and the
sessions that messages name before Zapa knew them."""

from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.services import whatsapp_user_ids
from core.audit import AuditAction, audit_log_record
from messaging.ingest.events import SessionEvent
from messaging.models import WhatsAppSession

LAST_SESSION_EVENT_KEY = "last_session_event_at"


class UnknownSession(Exception):
    """An event names a session Zapa does not know and gives no number to create it."""


class SessionRef(NamedTuple):
    pk: int
    user_id: int
    session_type: str


def session_type_for(session_id: str) -> str:
    if session_id == settings.WHATSAPP_MAIN_SESSION_ID:
        return WhatsAppSession.SessionType.MAIN
    return WhatsAppSession.SessionType.USER


def unknown_session_reason(session_id: str, problem: str) -> str:
    return (
        f"The session '{session_id}' is not known and cannot be created without its "
        f"phone number: {problem}."
    )


def sessions_create(specs: dict[str, dict[str, Any]]) -> dict[str, SessionRef]:
    """Create sessions by bridge id (owner: the user of `phone_number`); return them all."""
    if not specs:
        return {}
    owners = whatsapp_user_ids(names_by_phone={spec["phone_number"]: "" for spec in specs.values()})
    WhatsAppSession.objects.bulk_create(
        [
            WhatsAppSession(
                bridge_session_id=key,
                user_id=owners[spec["phone_number"]],
                session_type=session_type_for(key),
                **spec,
            )
            for key, spec in sorted(specs.items())
        ],
        ignore_conflicts=True,
    )
    return {
        key: SessionRef(pk, user_id, session_type)
        for key, pk, user_id, session_type in WhatsAppSession.objects.filter(
            bridge_session_id__in=sorted(specs)
        ).values_list("bridge_session_id", "pk", "user_id", "session_type")
    }


def connected_session_spec(phone_number: str, first_seen: datetime) -> dict[str, Any]:
    """A session first seen through its messages: it is connected, since it sends them."""
    return {
        "phone_number": phone_number,
        "status": WhatsAppSession.Status.CONNECTED,
        "connected_at": first_seen,
    }


def session_event_apply(*, event: SessionEvent, request=None) -> WhatsAppSession:
    """Record a session.connected / session.disconnected event and audit it.

    An event older than the last session event applied (by the bridge's timestamps,
    kept in metadata["last_session_event_at"]) is a late redelivery: it changes nothing.
    Raises UnknownSession for an unknown session without a phone number.
    """
    with transaction.atomic():
        session = _locked(event.session_id)
        if session is None:
            if not event.phone_number:
                raise UnknownSession(unknown_session_reason(event.session_id, event.phone_problem))
            spec = {"phone_number": event.phone_number, "status": WhatsAppSession.Status.QR_PENDING}
            sessions_create({event.session_id: spec})
            session = _locked(event.session_id)
        # Compared with the bridge's own clock only, so skew with ours cannot hide an event.
        last_event_at = session.metadata.get(LAST_SESSION_EVENT_KEY)
        if event.timestamp and last_event_at and event.timestamp.isoformat() < last_event_at:
            return session
        when = event.timestamp or timezone.now()
        changed = ["status", "updated_at", "metadata"]
        if event.timestamp:
            session.metadata = {**session.metadata, LAST_SESSION_EVENT_KEY: when.isoformat()}
        if event.connected:
            session.status = WhatsAppSession.Status.CONNECTED
            session.connected_at = when
            session.qr_code, session.qr_expires_at = "", None
            changed += ["connected_at", "qr_code", "qr_expires_at"]
            if event.phone_number:
                session.phone_number = event.phone_number
                changed.append("phone_number")
        else:
            session.status = WhatsAppSession.Status.DISCONNECTED
            session.disconnected_at = when
            changed.append("disconnected_at")
            if event.reason:
                session.metadata = {**session.metadata, "disconnect_reason": event.reason}
        session.save(update_fields=changed)
        audit_log_record(
            action=(
                AuditAction.SESSION_CONNECTED
                if event.connected
                else AuditAction.SESSION_DISCONNECTED
            ),
            resource=session,
            changes={
                "status": session.status,
                "phone_number": session.phone_number,
                "bridge_session_id": session.bridge_session_id,
                **({"reason": event.reason} if event.reason else {}),
            },
            request=request,
        )
    return session


def _locked(session_id: str) -> WhatsAppSession | None:
    return WhatsAppSession.objects.select_for_update().filter(bridge_session_id=session_id).first()
