"""How the admin shows a message: a one-line preview, its media facts, a map link,
and the text standing in for a message Zapa cannot display. Plain text, for
templates to escape."""

from typing import Any

from messaging.models import Message

MEDIA_LABELS = {
    "image": "Image",
    "audio": "Audio",
    "video": "Video",
    "document": "Document",
    "location": "Location",
    "contact": "Contact card",
}
STATUS_MARKS = {"pending": "🕓", "sent": "✓", "delivered": "✓✓", "read": "✓✓", "failed": "⚠"}
UNSUPPORTED = Message.MessageType.UNSUPPORTED


def _file_size(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        return ""
    size = float(value)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def _duration(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        return ""
    seconds = round(value)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _text(value: Any, limit: int = 300) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unsupported_text(meta: Any) -> str:
    """What stands in for a message Zapa cannot display (a sticker, reaction, poll…).

    "A message Zapa cannot display", with the bridge's type name in parentheses when
    known: "A message Zapa cannot display (sticker)".
    """
    kind = meta.get("original_type") if isinstance(meta, dict) else None
    kind = _text(kind.strip(), 40) if isinstance(kind, str) else ""
    return f"{UNSUPPORTED.label} ({kind})" if kind else str(UNSUPPORTED.label)


def message_preview(message: Message, limit: int = 80) -> str:
    """A message in one line: its text or caption, else what it is."""
    if message.message_type == UNSUPPORTED:
        return unsupported_text(message.media_metadata)
    text = message.content or message.caption or ""
    if not text:
        text = MEDIA_LABELS.get(message.message_type, message.get_message_type_display())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def media_facts(message_type: str, meta: Any) -> list[tuple[str, str]]:
    """(label, value) pairs describing a message's media, for display."""
    if not isinstance(meta, dict):
        return []
    facts: list[tuple[str, str]] = []
    if meta.get("original_type"):
        facts.append(("Sent as", _text(meta["original_type"], 40)))
    if meta.get("file_name"):
        facts.append(("File", _text(meta["file_name"], 200)))
    if meta.get("mime_type"):
        facts.append(("Type", _text(meta["mime_type"], 100)))
    if _file_size(meta.get("size")):
        facts.append(("Size", _file_size(meta["size"])))
    width, height = meta.get("width"), meta.get("height")
    if isinstance(width, int | float) and isinstance(height, int | float):
        facts.append(("Dimensions", f"{width:g} by {height:g} px"))
    if _duration(meta.get("duration")):
        facts.append(("Duration", _duration(meta["duration"])))
    location = meta.get("location")
    if isinstance(location, dict):
        for key, label in (("name", "Place"), ("address", "Address")):
            if location.get(key):
                facts.append((label, _text(location[key])))
        lat, lon = location.get("latitude"), location.get("longitude")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            facts.append(("Coordinates", f"{lat:.5f}, {lon:.5f}"))
    contact = meta.get("contact")
    if isinstance(contact, dict):
        if contact.get("name"):
            facts.append(("Name", _text(contact["name"])))
        if contact.get("number"):
            facts.append(("Number", _text(contact["number"], 40)))
    if meta.get("url"):
        facts.append(("Media URL", _text(meta["url"], 200)))
    if meta.get("group_name"):
        facts.append(("Group", _text(meta["group_name"], 200)))
    return facts


def map_link(meta: Any) -> str:
    location = meta.get("location") if isinstance(meta, dict) else None
    if not isinstance(location, dict):
        return ""
    lat, lon = location.get("latitude"), location.get("longitude")
    if not (isinstance(lat, int | float) and isinstance(lon, int | float)):
        return ""
    if isinstance(lat, bool) or isinstance(lon, bool) or abs(lat) > 90 or abs(lon) > 180:
        return ""
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=16/{lat:.6f}/{lon:.6f}"
    )
