"""The bridge's (zapw) webhook payloads, parsed and validated into typed events.

The bridge's format is not ours to change (see DESIGN.md, "The bridge (zapw)
contract"). Each event is an envelope::

    {"sessionId": "...", "origin": "<digits>", "eventType": "...",
     "timestamp": <epoch ms>, "data": {...}}

`parse_event` turns one envelope into a `MessageEvent`, `StatusEvent`,
`SessionEvent` or `IgnoredEvent`, or raises `InvalidEvent` naming the field that
is missing or wrong. Nothing here touches the database.

Lenient where the bridge's variants differ, strict where a wrong value would
store a wrong message:

- Timestamps are epoch milliseconds; values below 10^11 are taken as seconds
  (10^11 ms is 1973, 10^11 s is the year 5138), numeric strings are accepted.
- Message types: the seven of `Message.MessageType`, plus the aliases in
  `MESSAGE_TYPE_ALIASES` (``chat``, ``ptt``, ``sticker``, …). Other types
  (reactions, polls, …) are ignored, not failed: the bridge cannot do better.
- Reply: the quoted message's id is read from ``quotedMessageId``,
  ``quotedMsgId``, ``quotedStanzaId``, ``quotedMessage.id|messageId``,
  ``contextInfo.stanzaId|quotedMessageId`` or ``replyTo`` (a string or
  ``{id|messageId}``), first found wins.
- Groups: ``isGroup``/``groupId``, or a ``@g.us`` JID in ``from``/``to``. In a
  group ``from`` is the participant and ``groupId`` the chat; when ``from`` is the
  group itself the participant is read from ``participant``/``author``.
"""

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from messaging.jid import GROUP_SERVER, InvalidJid, Jid, parse_jid

MESSAGE_RECEIVED = "message.received"
MESSAGE_SENT = "message.sent"
MESSAGE_DELIVERED = "message.delivered"
MESSAGE_READ = "message.read"
SESSION_CONNECTED = "session.connected"
SESSION_DISCONNECTED = "session.disconnected"
MESSAGE_EVENTS = (MESSAGE_RECEIVED, MESSAGE_SENT)
STATUS_EVENTS = (MESSAGE_DELIVERED, MESSAGE_READ)
SESSION_EVENTS = (SESSION_CONNECTED, SESSION_DISCONNECTED)
EVENT_TYPES = MESSAGE_EVENTS + STATUS_EVENTS + SESSION_EVENTS

MESSAGE_TYPES = ("text", "image", "audio", "video", "document", "location", "contact")
MESSAGE_TYPE_ALIASES = {
    "chat": "text",
    "conversation": "text",
    "extendedtext": "text",
    "ptt": "audio",
    "voice": "audio",
    "sticker": "image",
    "gif": "video",
    "vcard": "contact",
    "contacts": "contact",
    "multi_vcard": "contact",
    "livelocation": "location",
    "live_location": "location",
}
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
EVENT_STATUS = {MESSAGE_DELIVERED: "delivered", MESSAGE_READ: "read"}

MAX_ID_LENGTH = 128  # Message.wa_message_id
MAX_SESSION_ID_LENGTH = 100  # WhatsAppSession.bridge_session_id
_EPOCH_SECONDS_LIMIT = 10**11
_LATEST_TIMESTAMP_MS = 253402300799000  # 9999-12-31T23:59:59Z


class InvalidEvent(ValueError):
    """An event the bridge should not have sent: names the offending field."""

    def __init__(self, field_name: str, problem: str):
        self.field = field_name
        self.problem = problem
        super().__init__(f"{field_name} {problem}.")


class MalformedBody(ValueError):
    """The request body is not JSON we can store."""


@dataclass(frozen=True)
class MessageEvent:
    session_id: str
    origin: str
    direction: str  # "incoming" | "outgoing"
    wa_message_id: str
    chat_jid: str
    sender_jid: str
    recipient_jid: str
    contact: Jid | None  # the person on the other side; None for an outgoing group message
    timestamp: datetime
    message_type: str
    content: str | None
    caption: str | None
    media_metadata: dict[str, Any] = field(default_factory=dict)
    quoted_message_id: str | None = None
    sender_name: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.session_id, self.wa_message_id)

    @property
    def status(self) -> str:
        return "delivered" if self.direction == "incoming" else "sent"


@dataclass(frozen=True)
class StatusEvent:
    session_id: str
    wa_message_id: str
    status: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.session_id, self.wa_message_id)


@dataclass(frozen=True)
class SessionEvent:
    session_id: str
    origin: str
    connected: bool
    phone_number: str | None
    timestamp: datetime | None
    reason: str = ""


@dataclass(frozen=True)
class IgnoredEvent:
    reason: str


ParsedEvent = MessageEvent | StatusEvent | SessionEvent | IgnoredEvent


# --- request bodies -------------------------------------------------------------------


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_body(raw: bytes) -> Any:
    """Decode a webhook body; raise MalformedBody with a short, safe reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody("The body is not UTF-8 text.") from exc
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise MalformedBody("The body is not valid JSON: nested too deeply.") from exc
    except ValueError as exc:
        raise MalformedBody(f"The body is not valid JSON: {str(exc)[:200]}") from exc
    return value


def sanitize_json(value: Any) -> Any:
    """Make decoded JSON storable: PostgreSQL rejects NUL characters and lone surrogates."""
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, list):
        return [sanitize_json(item) for item in value]
    if isinstance(value, dict):
        return {_clean_text(str(key)): sanitize_json(item) for key, item in value.items()}
    return value


def _clean_text(text: str) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def raw_body_for_storage(raw: bytes, limit: int) -> str:
    """The start of an undecodable body, as storable text."""
    return _clean_text(raw[:limit].decode("utf-8", "replace"))


# --- what is stored on every WebhookEvent row ----------------------------------------


def envelope_fields(payload: Any) -> tuple[str, str, str]:
    """(event_type, session_key, wa_message_id) of a payload, never raising."""
    if not isinstance(payload, dict):
        return ("", "", "")
    event_type = payload.get("eventType")
    session_key = payload.get("sessionId")
    data = payload.get("data")
    message_id = data.get("messageId") if isinstance(data, dict) else None
    return (
        event_type.strip()[:64] if isinstance(event_type, str) else "",
        session_key.strip()[:MAX_SESSION_ID_LENGTH] if isinstance(session_key, str) else "",
        message_id.strip()[:MAX_ID_LENGTH] if isinstance(message_id, str) else "",
    )


# --- events ---------------------------------------------------------------------------


def parse_event(payload: Any) -> ParsedEvent:
    if not isinstance(payload, dict):
        raise InvalidEvent("event", "must be a JSON object")
    event_type = _required_str(payload, "eventType", "eventType")
    session_id = _required_str(payload, "sessionId", "sessionId")
    if len(session_id) > MAX_SESSION_ID_LENGTH:
        raise InvalidEvent("sessionId", f"is longer than {MAX_SESSION_ID_LENGTH} characters")
    if event_type not in EVENT_TYPES:
        return IgnoredEvent(f"Unknown event type '{event_type[:64]}'.")
    origin = _origin(payload)
    data = payload.get("data")
    if data is None and event_type in SESSION_EVENTS:
        data = {}
    if not isinstance(data, dict):
        raise InvalidEvent("data", "is required and must be an object")
    if event_type in MESSAGE_EVENTS:
        return _message_event(payload, data, event_type, session_id, origin)
    if event_type in STATUS_EVENTS:
        return _status_event(data, event_type, session_id)
    return _session_event(payload, data, event_type, session_id, origin)


def _message_event(payload, data, event_type, session_id, origin) -> MessageEvent | IgnoredEvent:
    message_id = _required_str(data, "messageId", "data.messageId")
    if len(message_id) > MAX_ID_LENGTH:
        raise InvalidEvent("data.messageId", f"is longer than {MAX_ID_LENGTH} characters")
    raw_type = _required_str(data, "type", "data.type")
    message_type = MESSAGE_TYPE_ALIASES.get(raw_type.lower(), raw_type.lower())
    if message_type not in MESSAGE_TYPES:
        return IgnoredEvent(f"Unsupported message type '{raw_type[:40]}'.")
    timestamp = _timestamp(data.get("timestamp"), "data.timestamp")
    if timestamp is None:
        timestamp = _timestamp(payload.get("timestamp"), "timestamp")
    if timestamp is None:
        raise InvalidEvent("data.timestamp", "is required (epoch milliseconds)")

    own = parse_jid(origin) if origin else None
    group = _group_jid(data)
    incoming = event_type == MESSAGE_RECEIVED
    if incoming:
        sender = _participant(data)
        recipient = _optional_jid(data, "to") or own
        contact = sender if sender and not sender.is_group else None
    else:
        sender = _optional_jid(data, "from") or own
        recipient = _jid_field(data, "to", "data.to")
        if recipient.is_group:
            group = group or recipient
        contact = None if group else recipient
    if sender is None:
        raise InvalidEvent("data.from", "is required")
    chat = group or (sender if incoming else recipient)

    content, caption = _texts(data, message_type)
    return MessageEvent(
        session_id=session_id,
        origin=origin,
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
        media_metadata=_media_metadata(data, raw_type, group is not None),
        quoted_message_id=_quoted_message_id(data),
        sender_name=_first_str(data, "pushName", "notifyName", "senderName")[:150],
    )


def _participant(data) -> Jid:
    sender = _jid_field(data, "from", "data.from")
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
            raise InvalidEvent("data.groupId", str(exc)) from exc
        if not group.is_group:
            raise InvalidEvent("data.groupId", "must be a group JID (@g.us)")
        return group
    for name in ("from", "to"):
        value = data.get(name)
        if isinstance(value, str) and value.strip().lower().endswith("@" + GROUP_SERVER):
            return parse_jid(value)
    return None


def _texts(data, message_type) -> tuple[str | None, str | None]:
    text = _first_str(data, "text", "body")
    caption = _first_str(data, "caption")
    if message_type == "text":
        if not text.strip():
            raise InvalidEvent("data.text", "is required for a text message")
        return text, None
    # Some bridges put a media caption in `text`/`body`.
    return None, (caption or text) or None


def _media_metadata(data, raw_type, in_group) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if raw_type.lower() != MESSAGE_TYPE_ALIASES.get(raw_type.lower(), raw_type.lower()):
        meta["original_type"] = raw_type[:40]
    for key, names in (
        ("mime_type", ("mimeType", "mimetype", "mime_type")),
        ("file_name", ("fileName", "filename", "file_name")),
        ("url", ("mediaUrl", "url")),
    ):
        value = _first_str(data, *names)
        if value:
            meta[key] = value[:2048]
    for key, names in (
        ("size", ("fileSize", "fileLength", "size")),
        ("width", ("width",)),
        ("height", ("height",)),
        ("duration", ("duration", "seconds")),
    ):
        number = _first_number(data, *names)
        if number is not None:
            meta[key] = number
    if isinstance(data.get("hasMedia"), bool):
        meta["has_media"] = data["hasMedia"]
    location = data.get("location")
    if isinstance(location, dict):
        meta["location"] = {
            "latitude": _number(location.get("latitude")),
            "longitude": _number(location.get("longitude")),
            "name": _str(location.get("name")),
            "address": _str(location.get("address")),
        }
    contact = data.get("contact")
    if isinstance(contact, dict):
        card = {"name": _str(contact.get("name")), "number": _str(contact.get("number"))}
        if _str(contact.get("vcard")):
            card["vcard"] = _str(contact.get("vcard"))[:8192]
        meta["contact"] = card
    group_name = _first_str(data, "groupName")
    if in_group and group_name:
        meta["group_name"] = group_name[:256]
    return meta


def _quoted_message_id(data) -> str | None:
    candidates = [data.get("quotedMessageId"), data.get("quotedMsgId"), data.get("quotedStanzaId")]
    for container, names in (
        ("quotedMessage", ("id", "messageId")),
        ("contextInfo", ("stanzaId", "quotedMessageId")),
        ("replyTo", ("id", "messageId")),
    ):
        value = data.get(container)
        if isinstance(value, dict):
            candidates.extend(value.get(name) for name in names)
        elif container == "replyTo":
            candidates.append(value)
    for value in candidates:
        if isinstance(value, str) and value.strip() and len(value) <= MAX_ID_LENGTH:
            return value.strip()
    return None


def _status_event(data, event_type, session_id) -> StatusEvent:
    message_id = _required_str(data, "messageId", "data.messageId")
    if len(message_id) > MAX_ID_LENGTH:
        raise InvalidEvent("data.messageId", f"is longer than {MAX_ID_LENGTH} characters")
    status = _status_value(data.get("status")) or EVENT_STATUS[event_type]
    return StatusEvent(session_id=session_id, wa_message_id=message_id, status=status)


def _status_value(value) -> str | None:
    """A WhatsApp ack (number or name) as a Message.Status; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidEvent("data.status", "must be a WhatsApp ack number or status name")
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(float(value))
        if number in ACK_STATUSES:
            return ACK_STATUSES[number]
        raise InvalidEvent("data.status", f"{number} is not a WhatsApp ack (0-5)")
    if isinstance(value, str) and value.strip().lower() in STATUS_NAMES:
        return STATUS_NAMES[value.strip().lower()]
    raise InvalidEvent("data.status", "must be a WhatsApp ack number or status name")


def _session_event(payload, data, event_type, session_id, origin) -> SessionEvent:
    phone_number = None
    for candidate in (data.get("phoneNumber"), data.get("phone"), origin or None):
        if candidate in (None, ""):
            continue
        try:
            phone_number = parse_jid(candidate).phone_number
        except InvalidJid:
            phone_number = None
        if phone_number:
            break
    timestamp = _timestamp(payload.get("timestamp"), "timestamp")
    return SessionEvent(
        session_id=session_id,
        origin=origin,
        connected=event_type == SESSION_CONNECTED,
        phone_number=phone_number,
        timestamp=timestamp,
        reason=_first_str(data, "reason", "message")[:500],
    )


# --- small field readers --------------------------------------------------------------


def _origin(payload) -> str:
    """The session's own number as digits ('' when absent); bad values are rejected."""
    value = payload.get("origin")
    if value in (None, ""):
        return ""
    try:
        jid = parse_jid(value)
    except InvalidJid as exc:
        raise InvalidEvent("origin", str(exc)) from exc
    if not jid.user.isdigit() or jid.is_group or jid.is_lid:
        raise InvalidEvent("origin", "must be the session's phone number as digits")
    return jid.user


def _required_str(container: dict, name: str, label: str) -> str:
    value = container.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidEvent(label, "is required")
    if not isinstance(value, str):
        raise InvalidEvent(label, "must be a string")
    return value.strip()


def _jid_field(data: dict, name: str, label: str) -> Jid:
    value = data.get(name)
    if value in (None, ""):
        raise InvalidEvent(label, "is required")
    try:
        return parse_jid(value)
    except InvalidJid as exc:
        raise InvalidEvent(label, str(exc)) from exc


def _optional_jid(data: dict, name: str) -> Jid | None:
    if data.get(name) in (None, ""):
        return None
    return _jid_field(data, name, f"data.{name}")


def _timestamp(value, label: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidEvent(label, "must be epoch milliseconds")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError as exc:
            raise InvalidEvent(label, "must be epoch milliseconds") from exc
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidEvent(label, "must be epoch milliseconds")
    millis = value * 1000 if value < _EPOCH_SECONDS_LIMIT else value
    if millis > _LATEST_TIMESTAMP_MS:
        raise InvalidEvent(label, "is out of range")
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def _first_str(data: dict, *names: str) -> str:
    for name in names:
        value = data.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def _first_number(data: dict, *names: str):
    for name in names:
        number = _number(data.get(name))
        if number is not None:
            return number
    return None


def _number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value) if value.is_integer() else value
    if isinstance(value, str):
        try:
            return _number(float(value)) if value.strip() else None
        except ValueError:
            return None
    return None


def _str(value) -> str:
    return value if isinstance(value, str) else ""
