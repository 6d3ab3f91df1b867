"""Output shapes of the history API.

The declared fields document the API (OpenAPI); on the hot path the list
serializers build plain dicts directly instead of running a DRF field per value,
which is several times faster for a page of 200 messages.
"""

from rest_framework import serializers

from messaging.export import iso
from messaging.models import Message, WhatsAppSession
from messaging.selectors import SESSION_FIELDS

UNSUPPORTED_HELP = (
    "`unsupported` is a message Zapa cannot display (a sticker, reaction, poll, or a "
    "view-once, disappearing or edited message): listed at its place in its chat, with "
    "content and caption null and, when the bridge named it, its type in "
    "media_metadata.original_type."
)


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    wa_message_id = serializers.CharField(help_text="The bridge's (WhatsApp's) message id.")
    session = serializers.IntegerField(help_text="The WhatsApp session's id.")
    chat_jid = serializers.CharField(help_text="The conversation: the contact's or group's JID.")
    sender_jid = serializers.CharField()
    recipient_jid = serializers.CharField()
    direction = serializers.ChoiceField(choices=Message.Direction.choices)
    message_type = serializers.ChoiceField(
        choices=Message.MessageType.choices, help_text=UNSUPPORTED_HELP
    )
    content = serializers.CharField(
        allow_null=True, help_text="The text; null for media and unsupported messages."
    )
    caption = serializers.CharField(allow_null=True)
    media_metadata = serializers.DictField(
        help_text="Media details: mime type, size, dimensions, duration, file name, URL, "
        "location, contact card; `original_type`: the bridge's name for the message's type "
        "when Zapa files it under another (e.g. ptt as audio) or cannot display it (e.g. "
        "sticker, reaction, poll)."
    )
    reply_to = serializers.IntegerField(
        allow_null=True, help_text="Id of the message this one answers."
    )
    status = serializers.ChoiceField(choices=Message.Status.choices)
    timestamp = serializers.DateTimeField(help_text="When WhatsApp says it happened (UTC).")

    def to_representation(self, message: Message) -> dict:
        return {
            "id": message.id,
            "wa_message_id": message.wa_message_id,
            "session": message.session_id,
            "chat_jid": message.chat_jid,
            "sender_jid": message.sender_jid,
            "recipient_jid": message.recipient_jid,
            "direction": message.direction,
            "message_type": message.message_type,
            "content": message.content,
            "caption": message.caption,
            "media_metadata": message.media_metadata,
            "reply_to": message.reply_to_id,
            "status": message.status,
            "timestamp": iso(message.timestamp),
        }


# One count per message type, kept in step with Message.MessageType.
MessageTypeCountsSerializer = type(
    "MessageTypeCountsSerializer",
    (serializers.Serializer,),
    {value: serializers.IntegerField() for value in Message.MessageType.values},
)


class MessageStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    incoming = serializers.IntegerField()
    outgoing = serializers.IntegerField()
    by_type = MessageTypeCountsSerializer(help_text="Messages per type; every type, 0 if none.")
    first_message_at = serializers.DateTimeField(allow_null=True)
    last_message_at = serializers.DateTimeField(allow_null=True)
    daily_average = serializers.FloatField(
        help_text="total ÷ calendar days (UTC) from the first to the last message, both "
        "included; 0 without messages. Rounded to 2 decimals."
    )

    def to_representation(self, stats: dict) -> dict:
        return {
            **stats,
            "first_message_at": iso(stats["first_message_at"]),
            "last_message_at": iso(stats["last_message_at"]),
        }


class LastMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sender_jid = serializers.CharField()
    direction = serializers.ChoiceField(choices=Message.Direction.choices)
    message_type = serializers.ChoiceField(
        choices=Message.MessageType.choices,
        help_text="`unsupported`: a message Zapa cannot display (sticker, reaction, poll…).",
    )
    preview = serializers.CharField(
        help_text="Text or caption, cut at 80 characters; empty when there is neither "
        "(media without a caption, unsupported messages): see message_type."
    )
    status = serializers.ChoiceField(choices=Message.Status.choices)
    timestamp = serializers.DateTimeField()

    def to_representation(self, message: Message) -> dict:
        return {
            "id": message.id,
            "sender_jid": message.sender_jid,
            "direction": message.direction,
            "message_type": message.message_type,
            "preview": message.preview,
            "status": message.status,
            "timestamp": iso(message.timestamp),
        }


class ConversationSerializer(serializers.Serializer):
    chat_jid = serializers.CharField()
    message_count = serializers.IntegerField()
    last_message_at = serializers.DateTimeField()
    last_message = LastMessageSerializer(allow_null=True)

    def to_representation(self, conversation: dict) -> dict:
        last_message = conversation.get("last_message")
        return {
            "chat_jid": conversation["chat_jid"],
            "message_count": conversation["message_count"],
            "last_message_at": iso(conversation["last_message_at"]),
            "last_message": (
                LastMessageSerializer().to_representation(last_message) if last_message else None
            ),
        }


class SessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = WhatsAppSession
        fields = SESSION_FIELDS  # exactly the columns session_list() loads
        read_only_fields = fields
