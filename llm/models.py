from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import TimestampedModel, choices_constraint
from llm import crypto
from llm.fields import EncryptedColumnQuerySet, EncryptedTextField
from llm.tool_catalogue import validate_tool_names


class Provider(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    GOOGLE = "google", "Google"


class LLMConfig(TimestampedModel):
    """A user's LLM provider, its (encrypted) API key and model settings."""

    Provider = Provider

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="llm_configs"
    )
    provider = models.CharField(max_length=16, choices=Provider.choices)
    api_key_encrypted = EncryptedTextField(editable=False)
    api_key_last4 = models.CharField(max_length=4, editable=False)
    model_settings = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=False)
    key_rejected_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the provider last refused this key (401/403); cleared by a new key.",
    )

    objects = EncryptedColumnQuerySet.as_manager()

    class Meta:
        verbose_name = "LLM config"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="llmconfig_user_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(is_active=True), name="llmconfig_one_active_per_user"
            ),
            choices_constraint("provider", Provider, "llmconfig_provider_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.masked_api_key}"

    def set_api_key(self, plaintext: str) -> None:
        self.api_key_encrypted = crypto.encrypt(plaintext)
        self.api_key_last4 = plaintext[-4:]
        self.key_rejected_at = None

    def get_api_key(self) -> str:
        """The plaintext key; raises crypto.DecryptionError if no key can open it."""
        return crypto.decrypt(self.api_key_encrypted)

    @property
    def masked_api_key(self) -> str:
        return f"…{self.api_key_last4}" if self.api_key_last4 else ""


class Agent(TimestampedModel):
    """A named assistant persona with its tools."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    model = models.CharField(max_length=100)
    system_prompt = models.TextField(blank=True)
    functions = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_tool_names],
        help_text="The tools this agent may use, by name, from Zapa's tool catalogue "
        '(e.g. ["search_messages", "create_reminder"]).',
    )
    is_active = models.BooleanField(default=True)
    house_config = models.ForeignKey(
        LLMConfig,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        limit_choices_to={"user__is_staff": True},
        help_text="Optional: a staff member's LLM config the assistant uses for contacts "
        "without their own. Off when empty.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ActionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    TIMEOUT = "timeout", "Timeout"


class ActionLog(TimestampedModel):
    """One call Zapa made to an LLM provider. Summaries never hold a secret."""

    Status = ActionStatus

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="llm_actions"
    )
    config = models.ForeignKey(
        LLMConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="actions"
    )
    action = models.CharField(max_length=64)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    request_summary = models.JSONField(default=dict, blank=True)
    response_summary = models.JSONField(default=dict, blank=True)
    error_message = models.TextField(blank=True)
    execution_time_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="actionlog_user_idx"),
            models.Index(fields=["-created_at", "-id"], name="actionlog_created_idx"),
        ]
        constraints = [
            choices_constraint("provider", Provider, "actionlog_provider_valid"),
            choices_constraint("status", ActionStatus, "actionlog_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.provider} {self.status}"
