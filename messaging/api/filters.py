"""Query-string filters of the history API, validated into selector arguments."""

import re
from datetime import UTC

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from messaging.jid import InvalidJid, jid_for_phone_digits, normalize_jid
from messaging.models import Direction, MessageType

# What people put between the digits of a phone number.
_PHONE_PUNCTUATION_RE = re.compile(r"[\s().\-]")
CHAT_HELP = (
    "A phone number (+14155550123, 14155550123 or +1 415-555-0123) or a WhatsApp JID "
    "(14155550123@s.whatsapp.net, a group's …@g.us, or …@lid)."
)
DATETIME_HELP = (
    "an ISO 8601 date and time, e.g. 2024-01-31T18:30:00Z (no offset means UTC; "
    "a date alone means its midnight)"
)


def normalise_chat_jid(value: str) -> str:
    """The stored chat_jid for a number or JID as people type it; InvalidJid if neither.

    JIDs are normalised as the webhook stores them (`messaging.jid`). A typed phone
    number may carry spaces, dashes or parentheses; its `+` may arrive as a space
    (an unencoded `+` in a query string).
    """
    text = value.strip()
    looks_like_typed_number = "@" not in text and (
        text.startswith("+") or re.search(r"[\s()]", text) is not None
    )
    if looks_like_typed_number:
        digits = _PHONE_PUNCTUATION_RE.sub("", text).removeprefix("+")
        if not (digits.isascii() and digits.isdigit()):
            raise InvalidJid("is not a phone number")
        return jid_for_phone_digits(digits)
    return normalize_jid(text)


class ChatJidField(serializers.CharField):
    default_error_messages = {"invalid_chat": "not a phone number or WhatsApp JID. " + CHAT_HELP}

    def to_internal_value(self, data):
        try:
            return normalise_chat_jid(super().to_internal_value(data))
        except InvalidJid:
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
        help_text=f"Message type, one of: {_choices_help(MessageType)}. `unsupported` covers "
        "stickers, reactions, polls and other messages Zapa cannot display.",
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
