"""WhatsApp sending backends, chosen by `WHATSAPP_BACKEND` like Django's email backends.

- ``console``: prints what would be sent, with the text hidden by default
  (login codes are secrets and must not reach logs); for development.
- ``locmem``: appends to `outbox`; for tests.
- ``zapw``: the real bridge over HTTP (`core.whatsapp.bridge.BridgeClient`).

A dotted path to any class with the same interface works too.
"""

import logging
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from core.whatsapp.bridge import BridgeClient, BridgeError

logger = logging.getLogger(__name__)

__all__ = ["BridgeError", "SentMessage", "get_backend", "outbox", "send_text"]


@dataclass(frozen=True)
class SentMessage:
    session_id: str
    to: str
    text: str
    message_id: str
    timestamp: datetime = field(default_factory=timezone.now)


# The locmem backend's outbox: a list of SentMessage, newest last.
outbox: list[SentMessage] = []


class BaseBackend:
    def send_text(self, *, session_id: str, to: str, text: str) -> SentMessage:
        raise NotImplementedError


class ConsoleBackend(BaseBackend):
    """Writes a line per message to stdout. Shows the text only when asked to,
    since it may carry a login code (set WHATSAPP_CONSOLE_SHOW_TEXT=True)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def send_text(self, *, session_id: str, to: str, text: str) -> SentMessage:
        shown = text if getattr(settings, "WHATSAPP_CONSOLE_SHOW_TEXT", False) else "[hidden]"
        self.stream.write(f"[whatsapp:{session_id}] to +{to.lstrip('+')}: {shown}\n")
        self.stream.flush()
        return SentMessage(session_id, to, text, message_id=f"console-{timezone.now().timestamp()}")


class LocmemBackend(BaseBackend):
    def send_text(self, *, session_id: str, to: str, text: str) -> SentMessage:
        sent = SentMessage(session_id, to, text, message_id=f"locmem-{len(outbox) + 1}")
        outbox.append(sent)
        return sent


class ZapwBackend(BaseBackend):
    def __init__(self, client: BridgeClient | None = None):
        self.client = client or BridgeClient.from_settings()

    def send_text(self, *, session_id: str, to: str, text: str) -> SentMessage:
        data = self.client.send_text(session_id=session_id, to=to, text=text)
        sent_at = data.get("timestamp")
        return SentMessage(
            session_id,
            to,
            text,
            message_id=str(data.get("messageId", "")),
            timestamp=(
                datetime.fromtimestamp(sent_at / 1000, tz=UTC)
                if isinstance(sent_at, int | float)
                else timezone.now()
            ),
        )


BACKENDS = {"console": ConsoleBackend, "locmem": LocmemBackend, "zapw": ZapwBackend}


def get_backend() -> BaseBackend:
    name = settings.WHATSAPP_BACKEND
    backend_class = BACKENDS.get(name) or import_string(name)
    return backend_class()


def send_text(*, to: str, text: str, session_id: str | None = None) -> SentMessage:
    """Send `text` to the phone number `to` (E.164 or bare digits). Raises BridgeError."""
    return get_backend().send_text(
        session_id=session_id or settings.WHATSAPP_MAIN_SESSION_ID, to=to.lstrip("+"), text=text
    )
