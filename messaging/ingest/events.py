"""What a bridge delivery turns into: typed events, and the outcomes of parsing one.

`parse.parse_event` gives each payload exactly one of these:

- `MessageEvent`, `StatusEvent`, `SessionEvent`: something to store;
- `Ignored`: a bridge event Zapa does not act on (stored, answered 2xx, marked
  ``ignored`` with the reason: nothing is retried forever);
- `Rejected`: not a bridge event at all (stored ``rejected``, answered 400).
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from messaging.jid import Jid

MESSAGE_RECEIVED = "message.received"
MESSAGE_SENT = "message.sent"
MESSAGE_DELIVERED = "message.delivered"
MESSAGE_READ = "message.read"
SESSION_CONNECTED = "session.connected"
SESSION_DISCONNECTED = "session.disconnected"
STATUS_EVENTS = (MESSAGE_SENT, MESSAGE_DELIVERED, MESSAGE_READ)
SESSION_EVENTS = (SESSION_CONNECTED, SESSION_DISCONNECTED)
EVENT_TYPES = (MESSAGE_RECEIVED, *STATUS_EVENTS, *SESSION_EVENTS)

MAX_ID_LENGTH = 128  # Message.wa_message_id
MAX_SESSION_ID_LENGTH = 100  # WhatsAppSession.bridge_session_id

Key = tuple[str, str]  # (bridge session id, WhatsApp message id)


@dataclass(frozen=True)
class MessageEvent:
    session_id: str
    origin_phone: str | None  # E.164 of the session's own number (the envelope's origin)
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
    # Why origin gave no phone number (named in the reason if the session is unknown).
    origin_problem: str = ""

    @property
    def key(self) -> Key:
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
    def key(self) -> Key:
        return (self.session_id, self.wa_message_id)


@dataclass(frozen=True)
class SessionEvent:
    session_id: str
    connected: bool
    phone_number: str | None
    timestamp: datetime | None
    reason: str = ""
    # Why no phone number could be read (named in the error if the session is unknown).
    phone_problem: str = ""


@dataclass(frozen=True)
class Ignored:
    reason: str


@dataclass(frozen=True)
class Rejected:
    problem: str


ParsedEvent = MessageEvent | StatusEvent | SessionEvent | Ignored | Rejected
