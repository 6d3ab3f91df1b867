from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.models import TimestampedModel, choices_constraint


class SessionType(models.TextChoices):
    MAIN = "main", "Assistant's number"
    USER = "user", "User's own number"


class SessionStatus(models.TextChoices):
    QR_PENDING = "qr_pending", "Waiting for QR scan"
    CONNECTED = "connected", "Connected"
    DISCONNECTED = "disconnected", "Disconnected"
    ERROR = "error", "Error"


class Direction(models.TextChoices):
    INCOMING = "incoming", "Incoming"
    OUTGOING = "outgoing", "Outgoing"


class MessageType(models.TextChoices):
    TEXT = "text", "Text"
    IMAGE = "image", "Image"
    AUDIO = "audio", "Audio"
    VIDEO = "video", "Video"
    DOCUMENT = "document", "Document"
    LOCATION = "location", "Location"
    CONTACT = "contact", "Contact"
    # Stickers, reactions, polls, wrapped (view-once, disappearing, edited) messages:
    # kept at their place in the chat; the bridge's type name, if any, is in metadata.
    UNSUPPORTED = "unsupported", "A message Zapa cannot display"


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"


class WebhookState(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    DEFERRED = "deferred", "Waiting for its message"
    IGNORED = "ignored", "Ignored (nothing to act on)"
    REJECTED = "rejected", "Rejected (not a bridge event)"
    FAILED = "failed", "Failed"


class WhatsAppSession(TimestampedModel):
    """One WhatsApp account connected through the bridge."""

    SessionType = SessionType
    Status = SessionStatus

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="whatsapp_sessions"
    )
    bridge_session_id = models.CharField(
        max_length=100, unique=True, help_text="The session's name at the bridge."
    )
    phone_number = models.CharField(max_length=16, blank=True)
    session_type = models.CharField(
        max_length=8, choices=SessionType.choices, default=SessionType.USER
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QR_PENDING)
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    qr_code = models.TextField(blank=True, help_text="Current pairing QR (image data URL or text).")
    qr_expires_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    bridge_checked_at = models.DateTimeField(
        null=True, blank=True, help_text="When Zapa last asked the bridge about this session."
    )
    agent = models.ForeignKey(
        "llm.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions"
    )

    class Meta:
        verbose_name = "WhatsApp session"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="session_user_idx"),
            models.Index(fields=["status"], name="session_status_idx"),
        ]
        constraints = [
            choices_constraint("session_type", SessionType, "session_type_valid"),
            choices_constraint("status", SessionStatus, "session_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.bridge_session_id} ({self.get_status_display()})"


class Message(TimestampedModel):
    """One WhatsApp message, kept on the row of the person it belongs to."""

    Direction = Direction
    MessageType = MessageType
    Status = MessageStatus

    # Delivery status only moves forward along this order.
    STATUS_RANK = {"pending": 0, "failed": 1, "sent": 2, "delivered": 3, "read": 4}

    id = models.BigAutoField(primary_key=True)
    session = models.ForeignKey(WhatsAppSession, on_delete=models.CASCADE, related_name="messages")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="messages",
        db_index=False,  # covered by the (user, timestamp, id) indexes
    )
    wa_message_id = models.CharField(max_length=128, help_text="The bridge's message id.")
    chat_jid = models.CharField(max_length=128)
    sender_jid = models.CharField(max_length=128)
    recipient_jid = models.CharField(max_length=128, blank=True)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    timestamp = models.DateTimeField(help_text="When WhatsApp says the message happened.")
    message_type = models.CharField(
        max_length=11, choices=MessageType.choices, default=MessageType.TEXT
    )
    content = models.TextField(null=True, blank=True)
    caption = models.TextField(null=True, blank=True)
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    media_metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["user", "-timestamp", "-id"], name="message_user_history_idx"),
            models.Index(
                fields=["user", "chat_jid", "-timestamp", "-id"], name="message_chat_history_idx"
            ),
            models.Index(
                fields=["session", "chat_jid", "-timestamp", "-id"],
                name="message_session_chat_idx",
            ),
            models.Index(fields=["timestamp"], name="message_timestamp_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "wa_message_id"], name="message_unique_per_session"
            ),
            models.CheckConstraint(
                condition=~Q(message_type="text") | (Q(content__isnull=False) & ~Q(content="")),
                name="message_text_has_content",
            ),
            choices_constraint("direction", Direction, "message_direction_valid"),
            choices_constraint("message_type", MessageType, "message_type_valid"),
            choices_constraint("status", MessageStatus, "message_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.message_type} {self.wa_message_id}"

    @property
    def preview(self) -> str:
        text = self.content or self.caption or ""
        return text if len(text) <= 80 else text[:79] + "…"


# Tables the database derives from messaging_message. dumpdata leaves them out and
# loaddata skips them (this app's commands): loading the messages rebuilds them.
DERIVED_MODELS = ("messaging.ChatSummary", "messaging.MessageCount")


class ChatSummary(models.Model):
    """One user's chat at a glance: how many messages, and when the newest one happened.

    Kept by the database itself (triggers on messaging_message, migration 0007), in the
    statement that inserts or deletes the messages, whoever runs it: the ingest,
    a COPY, the ORM, a cascade. So the conversation list reads a row per chat, never the
    messages. A message's user, chat, direction, type and time never change once stored.
    """

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # the unique constraint leads with user
    )
    chat_jid = models.CharField(max_length=128)
    message_count = models.BigIntegerField()
    last_message_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "chat_jid"], name="chat_summary_unique"),
        ]
        indexes = [
            models.Index(
                fields=["user", "-last_message_at", "chat_jid"], name="chat_summary_latest_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.chat_jid}: {self.message_count} messages"


class MessageCount(models.Model):
    """One user's messages of one direction and type: how many, the first's and the
    last's time. Kept like ChatSummary; the stats page adds up a user's few rows."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    direction = models.CharField(max_length=8, choices=Direction.choices)
    message_type = models.CharField(max_length=11, choices=MessageType.choices)
    message_count = models.BigIntegerField()
    first_message_at = models.DateTimeField()
    last_message_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "direction", "message_type"], name="message_count_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.message_type}: {self.message_count}"


class WebhookEvent(TimestampedModel):
    """Every bridge delivery as received, written before anything else."""

    State = WebhookState

    id = models.BigAutoField(primary_key=True)
    event_type = models.CharField(max_length=64, blank=True)
    session_key = models.CharField(max_length=100, blank=True)
    payload = models.JSONField(null=True, blank=True)
    raw_body = models.TextField(blank=True, help_text="Set only when the body was not valid JSON.")
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # For status events that arrive before their message.
    wa_message_id = models.CharField(max_length=128, blank=True)
    claimed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Queued ingest: when a worker took it (see ingest/queue.py).",
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["-received_at", "-id"], name="webhook_received_idx"),
            models.Index(fields=["state", "received_at"], name="webhook_state_idx"),
            models.Index(
                fields=["session_key", "wa_message_id"],
                condition=Q(state="deferred"),
                name="webhook_deferred_idx",
            ),
        ]
        constraints = [choices_constraint("state", WebhookState, "webhook_state_valid")]

    def __str__(self) -> str:
        return f"{self.event_type or 'unknown'} #{self.pk} ({self.state})"
