"""Sending a WhatsApp text from Zapa and keeping it in the history."""

import httpx
from django.utils import timezone

from core.whatsapp.backends import get_backend
from core.whatsapp.bridge import BridgeError
from messaging.ingest.store import outgoing_message_record
from messaging.jid import parse_jid
from messaging.models import Message


class OutgoingFailed(Exception):
    """The bridge did not take the message. `maybe_sent`: it may have gone out anyway
    (a timeout), so it must not be sent again blindly."""

    def __init__(self, message: str, *, maybe_sent: bool):
        super().__init__(message)
        self.maybe_sent = maybe_sent


def message_send(*, session, chat_jid: str, text: str, sent_by: str) -> Message:
    """Send `text` into the chat `chat_jid` through `session`, then store it as an
    outgoing message marked ``sent_by`` (so Zapa knows it was not a person)."""
    jid = parse_jid(chat_jid)
    try:
        sent = get_backend().send_text(session_id=session.bridge_session_id, to=jid.user, text=text)
    except BridgeError as exc:
        timed_out = isinstance(exc.__cause__, httpx.TimeoutException)
        raise OutgoingFailed(str(exc), maybe_sent=timed_out) from exc
    own = f"{(session.phone_number or '').lstrip('+')}@s.whatsapp.net"
    return outgoing_message_record(
        session_key=session.bridge_session_id,
        sender_jid=own if session.phone_number else "",
        chat_jid=str(jid),
        contact=jid if jid.phone_number else None,
        wa_message_id=sent.message_id or f"zapa-{timezone.now().timestamp()}",
        timestamp=sent.timestamp or timezone.now(),
        text=text,
        metadata={"sent_by": sent_by},
    )
