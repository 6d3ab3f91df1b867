from rest_framework import serializers

from assistant.models import Reminder, Turn


class TurnSerializer(serializers.ModelSerializer):
    tools_used = serializers.SerializerMethodField(help_text="Names of the tools called.")
    reply_message_id = serializers.IntegerField(allow_null=True, read_only=True)
    trigger_message_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Turn
        fields = (
            "id",
            "state",
            "reason",
            "chat_jid",
            "trigger_message_id",
            "answered_message_ids",
            "reply_message_id",
            "provider",
            "model",
            "provider_calls",
            "input_tokens",
            "output_tokens",
            "tools_used",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields

    def get_tools_used(self, turn: Turn) -> list[str]:
        return [call.get("name", "") for call in turn.tool_calls or []]


class ReminderSerializer(serializers.ModelSerializer):
    class Meta:
        model = Reminder
        fields = ("id", "text", "due_at", "state", "sent_at", "created_at")
        read_only_fields = fields
