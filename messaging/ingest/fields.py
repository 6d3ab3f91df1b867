"""Readers for the fields of a message's ``data``: its kind, text, media facts, reply.

Lenient by design: the bridge's variants name things differently, and a field that
cannot be read is left out rather than failing the message.
"""

import json
import math
from typing import Any

from messaging.models import MessageType

UNSUPPORTED = MessageType.UNSUPPORTED.value
DISPLAYABLE_TYPES = frozenset(MessageType.values) - {UNSUPPORTED}
# Other names bridges use for the kinds Zapa displays.
TYPE_ALIASES = {
    "chat": "text",
    "conversation": "text",
    "extendedtext": "text",
    "ptt": "audio",
    "voice": "audio",
    "gif": "video",
    "vcard": "contact",
    "contacts": "contact",
    "multi_vcard": "contact",
    "livelocation": "location",
    "live_location": "location",
}


def message_body(data: dict, *, in_group: bool) -> tuple[str, str | None, str | None, dict]:
    """(message_type, content, caption, media_metadata) of a message's ``data``.

    No ``type`` (stickers, reactions, wrapped messages: the bridge cannot name them),
    a type Zapa does not display (``sticker``, ``poll``…) or a text without text is
    ``unsupported``; the bridge's type name, if any, is kept as ``original_type``.
    """
    raw_type = data["type"].strip() if isinstance(data.get("type"), str) else ""
    wanted = TYPE_ALIASES.get(raw_type.lower(), raw_type.lower())
    text = first_str(data, "text", "body")
    caption = first_str(data, "caption")
    meta = _media_metadata(data, in_group)
    if raw_type and raw_type.lower() != wanted:
        meta["original_type"] = raw_type[:40]
    if wanted == "text" and text.strip():
        return "text", text, None, meta
    if wanted in DISPLAYABLE_TYPES and wanted != "text":
        # Some bridges put a media caption in `text`/`body`.
        return wanted, None, (caption or text) or None, meta
    if raw_type:
        meta["original_type"] = raw_type[:40]
    return UNSUPPORTED, None, None, meta


def _media_metadata(data: dict, in_group: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, names in (
        ("mime_type", ("mimeType", "mimetype", "mime_type")),
        ("file_name", ("fileName", "filename", "file_name")),
        ("url", ("mediaUrl", "url")),
    ):
        value = first_str(data, *names)
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
    group_name = first_str(data, "groupName")
    if in_group and group_name:
        meta["group_name"] = group_name[:256]
    return meta


def quoted_message_id(data: dict, max_length: int) -> str | None:
    """The quoted message's id, from whichever field this bridge uses; first found wins."""
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
        if isinstance(value, str) and value.strip() and len(value) <= max_length:
            return value.strip()
    return None


def reason_text(data: dict) -> str:
    """A disconnect reason: text, or an object (zapw sends ``{"reason": {...}}``)."""
    value = data.get("reason", data.get("message"))
    for _ in range(3):  # {"reason": {"reason": "Manual disconnect"}}
        if isinstance(value, dict) and ("reason" in value or "message" in value):
            value = value.get("reason", value.get("message"))
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return value[:500]


def storable(value: Any) -> Any:
    """Decoded JSON made storable: PostgreSQL refuses NUL characters and lone surrogates."""
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, dict):
        return {_clean_text(str(key)): storable(item) for key, item in value.items()}
    return value


def storable_text(raw: bytes, limit: int) -> str:
    """The start of a body that is not JSON, as storable text."""
    return _clean_text(raw[:limit].decode("utf-8", "replace"))


def _clean_text(text: str) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def first_str(data: dict, *names: str) -> str:
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
