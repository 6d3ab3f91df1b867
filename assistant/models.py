from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import TimestampedModel, choices_constraint


class TurnState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    REPLIED = "replied", "Replied"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class Turn(TimestampedModel):
    """One answer the assistant owes: created for an incoming message on the assistant's
    number (its trigger), run by a worker under a lease, finished as replied, failed or
    skipped with the reason. One turn per trigger message, by construction."""

    State = TurnState
    FINISHED = (TurnState.REPLIED, TurnState.FAILED, TurnState.SKIPPED)

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assistant_turns"
    )
    session = models.ForeignKey(
        "messaging.WhatsAppSession", on_delete=models.CASCADE, related_name="assistant_turns"
    )
    chat_jid = models.CharField(max_length=128)
    trigger_message = models.OneToOneField(
        "messaging.Message", on_delete=models.CASCADE, related_name="assistant_turn"
    )
    answered_message_ids = models.JSONField(
        default=list, blank=True, help_text="The incoming messages this turn answered."
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    reason = models.TextField(blank=True, help_text="Why it was skipped or failed.")
    due_at = models.DateTimeField(help_text="Not before: the trigger's time plus the debounce.")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    llm_config = models.ForeignKey(
        "llm.LLMConfig", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider = models.CharField(max_length=16, blank=True)
    model = models.CharField(max_length=100, blank=True)
    provider_calls = models.PositiveSmallIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    provider_ms = models.PositiveIntegerField(default=0, help_text="Time spent in provider calls.")
    tool_calls = models.JSONField(
        default=list, blank=True, help_text="Tools called: name, arguments, result size."
    )
    reply_text = models.TextField(blank=True)
    send_started_at = models.DateTimeField(null=True, blank=True)
    reply_message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notice_sent = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="turn_user_idx"),
            models.Index(
                fields=["due_at"],
                condition=Q(state__in=["pending", "running"]),
                name="turn_open_idx",
            ),
            models.Index(fields=["session", "chat_jid", "-created_at"], name="turn_chat_idx"),
            models.Index(fields=["state", "-finished_at"], name="turn_state_finished_idx"),
        ]
        constraints = [choices_constraint("state", TurnState, "turn_state_valid")]

    def __str__(self) -> str:
        return f"Turn {self.pk} ({self.state})"


class ReminderState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class Reminder(TimestampedModel):
    """A WhatsApp message the assistant promised to send at `due_at`."""

    State = ReminderState

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminders"
    )
    session = models.ForeignKey(
        "messaging.WhatsAppSession", on_delete=models.CASCADE, related_name="reminders"
    )
    chat_jid = models.CharField(max_length=128)
    text = models.CharField(max_length=1000)
    due_at = models.DateTimeField()
    state = models.CharField(max_length=9, choices=State.choices, default=State.SCHEDULED)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True)
    turn = models.ForeignKey(
        Turn, null=True, blank=True, on_delete=models.SET_NULL, related_name="reminders"
    )

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(state="scheduled"), name="reminder_due_idx"
            ),
            models.Index(fields=["user", "due_at", "id"], name="reminder_user_idx"),
        ]
        constraints = [choices_constraint("state", ReminderState, "reminder_state_valid")]

    def __str__(self) -> str:
        return f"Reminder {self.pk} at {self.due_at:%Y-%m-%d %H:%M} ({self.state})"
