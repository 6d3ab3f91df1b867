"""Query-string filters of the history API, validated into selector arguments."""

import re
from datetime import UTC

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from messaging.models import Direction, MessageType

# user part, optional ":device" suffix, server. Groups look like 120363025246125486@g.us
# (older ones 14155550123-1596112345@g.us); linked-device ids end in @lid.
_JID_RE = re.compile(
    r"^(?P<user>\d+(?:-\d+)?)(?::\d+)?@(?P<server>s\.whatsapp\.net|c\.us|g\.us|lid)$"
)
_PHONE_PUNCTUATION_RE = re.compile(r"[\s().\-]")
CHAT_HELP = (
    "A phone number (+14155550123 or 14155550123) or a WhatsApp JID "
    "(14155550123@s.whatsapp.net, a group's …@g.us, or …@lid)."
)
DATETIME_HELP = (
    "an ISO 8601 date and time, e.g. 2024-01-31T18:30:00Z (no offset means UTC; "
    "a date alone means its midnight)"
)


def normalise_chat_jid(value: str) -> str:
    """The stored chat_jid for a number or JID as people type it; ValueError if neither.

    `+` may arrive as a space (an unencoded `+` in a query string), a device suffix
    (`:12`) is dropped, and the legacy `@c.us` server becomes `@s.whatsapp.net`.
    """
    text = value.strip().lower()
    if "@" in text:
        match = _JID_RE.match(text)
        if match is None:
            raise ValueError(value)
        server = match["server"]
        if server == "c.us":
            server = "s.whatsapp.net"
        return f"{match['user']}@{server}"
    digits = _PHONE_PUNCTUATION_RE.sub("", text).removeprefix("+")
    if not (digits.isascii() and digits.isdigit() and 5 <= len(digits) <= 20):
        raise ValueError(value)
    return f"{digits}@s.whatsapp.net"


class ChatJidField(serializers.CharField):
    default_error_messages = {"invalid_chat": "not a phone number or WhatsApp JID. " + CHAT_HELP}

    def to_internal_value(self, data):
        try:
            return normalise_chat_jid(super().to_internal_value(data))
        except ValueError:
            self.fail("invalid_chat")


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with or without an offset (naive means UTC), always returned in UTC."""

    default_error_messages = {"invalid": f"must be {DATETIME_HELP}."}

    def to_internal_value(self, value):
        text = str(value).strip()
        date_part, separator, time_part = text.partition("T")
        # An unencoded "+01:00" offset reaches us as " 01:00".
        text = date_part + separator + time_part.replace(" ", "+")
        try:
            parsed = parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("invalid")
        if timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)


def _choices_help(choices) -> str:
    return ", ".join(choices.values)


def _choice_errors(choices) -> dict:
    return {"invalid_choice": '"{input}" is not one of: ' + _choices_help(choices) + "."}


class MessageFilterSerializer(serializers.Serializer):
    """The filters of GET /messages/ (and of the export)."""

    chat = ChatJidField(required=False, help_text="Only this chat. " + CHAT_HELP)
    session = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="Only messages of this WhatsApp session: its numeric `id` from "
        "GET /api/v1/sessions/ (not the bridge's session name).",
    )
    direction = serializers.ChoiceField(
        choices=Direction.choices,
        required=False,
        error_messages=_choice_errors(Direction),
        help_text=f"One of: {_choices_help(Direction)}.",
    )
    type = serializers.ChoiceField(
        choices=MessageType.choices,
        required=False,
        error_messages=_choice_errors(MessageType),
        help_text=f"Message type, one of: {_choices_help(MessageType)}.",
    )
    since = AwareDateTimeField(
        required=False, help_text=f"Messages at or after this time: {DATETIME_HELP}."
    )
    until = AwareDateTimeField(
        required=False, help_text=f"Messages strictly before this time: {DATETIME_HELP}."
    )
    q = serializers.CharField(
        required=False,
        max_length=200,
        trim_whitespace=True,
        help_text='Full-text search in text and captions: words, "a phrase", -excluded. '
        "PostgreSQL matches whole words; SQLite matches a substring.",
    )

    def validate(self, attrs):
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and since >= until:
            raise serializers.ValidationError({"until": ["must be later than since."]})
        return attrs

    def selector_kwargs(self) -> dict:
        """The validated filters as keyword arguments of `message_history`."""
        data = self.validated_data
        return {
            "chat_jid": data.get("chat"),
            "session_id": data.get("session"),
            "direction": data.get("direction"),
            "message_type": data.get("type"),
            "since": data.get("since"),
            "until": data.get("until"),
            "query": data.get("q") or None,
        }
