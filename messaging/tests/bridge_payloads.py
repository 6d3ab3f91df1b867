"""Webhook payloads exactly as the WhatsApp bridge (zapw) sends them, for tests.

Each helper returns one event envelope; keyword arguments override fields of
``data`` (pass ``None`` to drop a field). Numbers are valid US numbers that
`phonenumbers` accepts.
"""

import itertools
import json

from django.conf import settings

from messaging import webhook_auth

ASSISTANT = "14155550100"  # the main session's own number (origin)
CONTACT = "14155550123"
OTHER_CONTACT = "14155550124"
BASE_MS = 1763870400000  # 2025-11-23T04:00:00Z

_ids = itertools.count(1)


def new_message_id() -> str:
    return f"3EB0{next(_ids):016X}"


def webhook_path(token: str | None = None) -> str:
    return f"/api/v1/webhooks/whatsapp/{token or settings.WEBHOOK_TOKEN}/"


def envelope(event_type, data, *, session_id="main", origin=ASSISTANT, timestamp=BASE_MS):
    payload = {
        "sessionId": session_id,
        "origin": origin,
        "eventType": event_type,
        "timestamp": timestamp,
        "data": data,
    }
    return {key: value for key, value in payload.items() if value is not None}


def _data(defaults: dict, overrides: dict) -> dict:
    data = {**defaults, **overrides}
    return {key: value for key, value in data.items() if value is not None}


def message_received(*, session_id="main", origin=ASSISTANT, **data):
    defaults = {
        "from": f"{CONTACT}@s.whatsapp.net",
        "to": f"{origin}@s.whatsapp.net" if origin else None,
        "messageId": new_message_id(),
        "timestamp": BASE_MS - 1000,
        "type": "text",
        "text": "Hello, assistant!",
        "hasMedia": False,
        "isGroup": False,
    }
    return envelope("message.received", _data(defaults, data), session_id=session_id, origin=origin)


def message_sent(*, session_id="main", origin=ASSISTANT, **data):
    defaults = {
        "from": f"{origin}@s.whatsapp.net" if origin else None,
        "to": f"{CONTACT}@s.whatsapp.net",
        "messageId": new_message_id(),
        "timestamp": BASE_MS - 500,
        "type": "text",
        "text": "Hello, human!",
        "hasMedia": False,
        "isGroup": False,
    }
    return envelope("message.sent", _data(defaults, data), session_id=session_id, origin=origin)


def message_status(event_type, message_id, *, status=None, session_id="main", origin=ASSISTANT):
    data = {"messageId": message_id}
    if status is not None:
        data["status"] = status
    return envelope(event_type, data, session_id=session_id, origin=origin)


def message_delivered(message_id, **kwargs):
    return message_status("message.delivered", message_id, status=kwargs.pop("status", 3), **kwargs)


def message_read(message_id, **kwargs):
    return message_status("message.read", message_id, status=kwargs.pop("status", 4), **kwargs)


def session_connected(*, session_id="main", origin=ASSISTANT, timestamp=BASE_MS, **data):
    defaults = {"status": "connected", "phoneNumber": origin}
    return envelope(
        "session.connected",
        _data(defaults, data),
        session_id=session_id,
        origin=origin,
        timestamp=timestamp,
    )


def session_disconnected(*, session_id="main", origin=ASSISTANT, timestamp=BASE_MS, **data):
    defaults = {"status": "disconnected", "reason": "logged out"}
    return envelope(
        "session.disconnected",
        _data(defaults, data),
        session_id=session_id,
        origin=origin,
        timestamp=timestamp,
    )


def post(client, payload, *, token=None, headers=None):
    """POST like the bridge: a JSON body with Content-Type and X-Webhook-Event only."""
    body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
    event_header = payload.get("eventType", "") if isinstance(payload, dict) else "batch"
    return client.post(
        webhook_path(token),
        data=body,
        content_type="application/json",
        headers={"X-Webhook-Event": event_header, **(headers or {})},
    )


def signed_headers(body: bytes, *, secret: str, timestamp: int, message_id="msg_1") -> dict:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_auth.sign(
            secret=secret, message_id=message_id, timestamp=timestamp, body=body
        ),
    }
