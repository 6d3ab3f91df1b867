"""Bytes in, typed events out: the only place that reads a bridge delivery.

Nothing here touches the database. `read_body` decodes the body once (one JSON
parse; text PostgreSQL cannot store is cleaned in the same pass); `parse_event`
turns each payload into a `MessageEvent`, `StatusEvent`, `SessionEvent`, `Ignored`
or `Rejected` (see docs/bridge.md for every shape and why it is taken).

The rule: the bridge's normal traffic is never refused. `Rejected` is only for what
is not a bridge event at all (no ``eventType``/``sessionId``, a value no bridge
sends, such as a negative timestamp or a JID that is not one); an event Zapa cannot
act on is `Ignored`, with the reason.
"""

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from core.json_body import json_depth_exceeds
from core.phone import bridge_number_problem
from messaging.ingest import fields
from messaging.ingest.events import (
    EVENT_TYPES,
    MAX_ID_LENGTH,
    MAX_SESSION_ID_LENGTH,
    MESSAGE_DELIVERED,
    MESSAGE_READ,
    MESSAGE_RECEIVED,
    MESSAGE_SENT,
    SESSION_CONNECTED,
    SESSION_EVENTS,
    Ignored,
    MessageEvent,
    ParsedEvent,
    Rejected,
    SessionEvent,
    StatusEvent,
)
from messaging.jid import GROUP_SERVER, InvalidJid, Jid, parse_jid

BROADCAST_SUFFIX = "@broadcast"  # status@broadcast: WhatsApp Status posts; broadcast lists

# WhatsApp acks as the bridge numbers them (Baileys): 0 error, 1 pending,
# 2 sent (server ack), 3 delivered, 4 read, 5 played (voice notes).
ACK_STATUSES = {0: "failed", 1: "pending", 2: "sent", 3: "delivered", 4: "read", 5: "read"}
STATUS_NAMES = {
    "error": "failed",
    "failed": "failed",
    "pending": "pending",
    "server": "sent",
    "server_ack": "sent",
    "sent": "sent",
    "delivery_ack": "delivered",
    "delivered": "delivered",
    "read": "read",
    "played": "read",
}
EVENT_STATUS = {MESSAGE_SENT: "sent", MESSAGE_DELIVERED: "delivered", MESSAGE_READ: "read"}
# Fields that make a message.sent an outgoing message rather than a status update.
BODY_FIELDS = ("type", "to", "text", "body", "caption", "mediaUrl")

_EPOCH_SECONDS_LIMIT = 10**11  # below: seconds (10^11 ms is 1973, 10^11 s is year 5138)
_LATEST_TIMESTAMP_MS = 253402300799000  # 9999-12-31T23:59:59Z


class BodyError(ValueError):
    """The request body cannot be read as bridge events at all."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid_json"):
        super().__init__(message)
        self.status = status
        self.code = code


class _Reject(ValueError):
    """Raised inside the parser for a value no bridge sends; becomes `Rejected`."""

    def __init__(self, field_name: str, problem: str):
        super().__init__(f"{field_name} {problem}.")


class _Ignore(ValueError):
    """Raised inside the parser for an event Zapa does not act on; becomes `Ignored`."""


@dataclass(frozen=True)
class Body:
    payloads: list[Any]
    is_list: bool


# --- bodies ---------------------------------------------------------------------------


def read_body(raw: bytes, *, max_events: int) -> Body:
    """One event object or a list of them; raise BodyError with a short, safe reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError("The body is not UTF-8 text.") from exc
    max_depth = settings.API_MAX_JSON_DEPTH
    if json_depth_exceeds(raw, max_depth):
        raise BodyError(f"The body is not valid JSON: nested more than {max_depth} levels deep.")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise BodyError("The body is not valid JSON: nested too deeply.") from exc
    except ValueError as exc:
        raise BodyError(f"The body is not valid JSON: {str(exc)[:200]}") from exc
    if "\\u" in text:  # only an escape can smuggle in a NUL or a lone surrogate
        value = fields.storable(value)
    if not isinstance(value, list):
        return Body([value], is_list=False)
    if not value:
        raise BodyError("The list of events is empty.", code="invalid")
    if len(value) > max_events:
        raise BodyError(
            f"At most {max_events} events per request; this list has {len(value)}.",
            status=413,
            code="too_many_events",
        )
    return Body(value, is_list=True)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


# --- events ---------------------------------------------------------------------------


def parse_event(payload: Any) -> ParsedEvent:
    try:
        return _parse(payload)
    except _Reject as exc:
        return Rejected(str(exc))
    except _Ignore as exc:
        return Ignored(str(exc))


def _parse(payload: Any) -> ParsedEvent:
    if not isinstance(payload, dict):
        raise _Reject("event", "must be a JSON object")
    event_type = _required_str(payload, "eventType")
    session_id = _required_str(payload, "sessionId")
    if len(session_id) > MAX_SESSION_ID_LENGTH:
        raise _Reject("sessionId", f"is longer than {MAX_SESSION_ID_LENGTH} characters")
    sent_at = _timestamp(payload.get("timestamp"), "timestamp")
    if event_type not in EVENT_TYPES:
        return Ignored(f"Unknown event type '{event_type[:64]}'.")
    data = payload.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _Reject("data", "must be an object")
    origin_phone, origin_problem = _origin(payload.get("origin"))
    if event_type in SESSION_EVENTS:
        return _session_event(data, event_type, session_id, origin_phone, origin_problem, sent_at)
    message_id = _message_id(data)
    if event_type != MESSAGE_RECEIVED and not any(_present(data, f) for f in BODY_FIELDS):
        return _status_event(data, event_type, session_id, message_id)
    if event_type in (MESSAGE_DELIVERED, MESSAGE_READ):
        return _status_event(data, event_type, session_id, message_id)
    return _message_event(
        data,
        event_type,
        session_id=session_id,
        message_id=message_id,
        origin_phone=origin_phone,
        origin_problem=origin_problem,
        sent_at=sent_at,
    )


def _message_event(
    data, event_type, *, session_id, message_id, origin_phone, origin_problem, sent_at
) -> MessageEvent:
    if any(
        isinstance(data.get(name), str) and data[name].strip().lower().endswith(BROADCAST_SUFFIX)
        for name in ("from", "to", "chat", "remoteJid", "groupId")
    ):
        raise _Ignore("A WhatsApp Status post (status@broadcast): Status posts are not stored.")
    own = parse_jid(origin_phone[1:]) if origin_phone else None
    group = _group_jid(data)
    incoming = event_type == MESSAGE_RECEIVED
    if incoming:
        sender = _participant(data)
        recipient = _optional_jid(data, "to") or own
        contact = sender if not sender.is_group else None
    else:
        sender = _optional_jid(data, "from") or own
        recipient = _optional_jid(data, "to")
        if recipient is None:
            raise _Ignore("An outgoing message without data.to: no chat to store it in.")
        if recipient.is_group:
            group = group or recipient
        contact = None if group else recipient
        if sender is None:
            raise _Ignore(
                "An outgoing message without data.from, and origin is not the session's number."
            )
    chat = group or (sender if incoming else recipient)
    message_type, content, caption, meta = fields.message_body(data, in_group=group is not None)
    timestamp = _timestamp(data.get("timestamp"), "data.timestamp") or sent_at or _now()
    return MessageEvent(
        session_id=session_id,
        origin_phone=origin_phone,
        origin_problem=origin_problem,
        direction="incoming" if incoming else "outgoing",
        wa_message_id=message_id,
        chat_jid=str(chat),
        sender_jid=str(sender),
        recipient_jid=str(recipient) if recipient else "",
        contact=contact,
        timestamp=timestamp,
        message_type=message_type,
        content=content,
        caption=caption,
        media_metadata=meta,
        quoted_message_id=fields.quoted_message_id(data, MAX_ID_LENGTH),
        sender_name=fields.first_str(data, "pushName", "notifyName", "senderName")[:150],
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _message_id(data: dict) -> str:
    value = data.get("messageId")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Ignore("No data.messageId: a message cannot be stored without its id.")
    if not isinstance(value, str):
        raise _Reject("data.messageId", "must be a string")
    if len(value.strip()) > MAX_ID_LENGTH:
        raise _Reject("data.messageId", f"is longer than {MAX_ID_LENGTH} characters")
    return value.strip()


def _participant(data) -> Jid:
    if not _present(data, "from"):
        raise _Ignore("A received message without data.from: no sender to store it under.")
    sender = _jid(data, "from")
    if sender.is_group:
        member = _optional_jid(data, "participant") or _optional_jid(data, "author")
        return member or sender
    return sender


def _group_jid(data) -> Jid | None:
    group_id = data.get("groupId")
    if group_id not in (None, ""):
        try:
            group = parse_jid(group_id, default_server=GROUP_SERVER)
        except InvalidJid as exc:
            raise _Reject("data.groupId", str(exc)) from exc
        if not group.is_group:
            raise _Reject("data.groupId", "must be a group JID (@g.us)")
        return group
    for name in ("from", "to"):
        value = data.get(name)
        if isinstance(value, str) and value.strip().lower().endswith("@" + GROUP_SERVER):
            return parse_jid(value)
    return None


def _status_event(data, event_type, session_id, message_id) -> StatusEvent:
    status = _status_value(data.get("status")) or EVENT_STATUS[event_type]
    return StatusEvent(session_id=session_id, wa_message_id=message_id, status=status)


def _status_value(value) -> str | None:
    """A WhatsApp ack (number or name) as a Message.Status; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _Reject("data.status", "must be a WhatsApp ack number or status name")
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(float(value))
        if number in ACK_STATUSES:
            return ACK_STATUSES[number]
        raise _Reject("data.status", f"{number} is not a WhatsApp ack (0-5)")
    if isinstance(value, str) and value.strip().lower() in STATUS_NAMES:
        return STATUS_NAMES[value.strip().lower()]
    raise _Reject("data.status", "must be a WhatsApp ack number or status name")


def _session_event(data, event_type, session_id, origin_phone, origin_problem, sent_at):
    phone_number, problem = None, origin_problem
    for name in ("phoneNumber", "phone"):
        if _present(data, name):
            phone_number, problem = _phone(data[name], f"data.{name}")
            if phone_number:
                break
    return SessionEvent(
        session_id=session_id,
        connected=event_type == SESSION_CONNECTED,
        phone_number=phone_number or origin_phone,
        phone_problem="" if phone_number or origin_phone else problem,
        timestamp=sent_at,
        reason=fields.reason_text(data),
    )


# --- small readers ----------------------------------------------------------------------


def _origin(value) -> tuple[str | None, str]:
    """The session's own number from the envelope's ``origin``, or why there is none.

    The bridge sends the session id there while it does not know the number yet, so
    a value that is not a number is not an error: it is just no number.
    """
    if value in (None, ""):
        return None, "origin is missing"
    return _phone(value, "origin")


def _phone(value, label: str) -> tuple[str | None, str]:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None, f"{label} is not a phone number"
    try:
        jid = parse_jid(value)
    except InvalidJid:
        return None, f"{label} '{str(value)[:40]}' is not a phone number"
    phone = jid.phone_number
    if phone:
        return phone, ""
    if jid.is_lid or jid.is_group or not jid.user.isdigit():
        return None, f"{label} '{str(value)[:40]}' is not a phone number"
    return None, f"{label} '{jid.user[:40]}' {bridge_number_problem(jid.user)}"


def _present(data: dict, name: str) -> bool:
    return data.get(name) not in (None, "", False)


def _required_str(container: dict, name: str) -> str:
    value = container.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Reject(name, "is required")
    if not isinstance(value, str):
        raise _Reject(name, "must be a string")
    return value.strip()


def _jid(data: dict, name: str) -> Jid:
    try:
        return parse_jid(data[name])
    except InvalidJid as exc:
        raise _Reject(f"data.{name}", str(exc)) from exc


def _optional_jid(data: dict, name: str) -> Jid | None:
    return _jid(data, name) if _present(data, name) else None


def _timestamp(value, label: str) -> datetime | None:
    """Epoch milliseconds (seconds below 10^11; numeric strings too); None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _Reject(label, "must be epoch milliseconds")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError as exc:
            raise _Reject(label, "must be epoch milliseconds") from exc
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise _Reject(label, "must be epoch milliseconds")
    millis = value * 1000 if value < _EPOCH_SECONDS_LIMIT else value
    if millis > _LATEST_TIMESTAMP_MS:
        raise _Reject(label, "is out of range")
    return datetime.fromtimestamp(millis / 1000, tz=UTC)
