from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class TimestampedModel(models.Model):
    """Abstract base: every table records when a row was created and last changed."""

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def choices_constraint(field: str, choices: type[models.TextChoices], name: str):
    """A CHECK constraint that keeps an enum column inside its TextChoices."""
    return models.CheckConstraint(condition=Q(**{f"{field}__in": choices.values}), name=name)


class AuditLog(TimestampedModel):
    """Who did what to which object. `changes` never holds a secret.

    Written by services through `core.audit.audit_log_record`, with an action from
    `core.audit.AuditAction`. (Its table keeps the name it had in `accounts`.)
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
    )
    action = models.CharField(max_length=64)
    resource_type = models.CharField(max_length=64, blank=True)
    resource_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True)

    class Meta:
        db_table = "accounts_auditlog"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="audit_created_idx"),
            models.Index(fields=["actor", "-created_at"], name="audit_actor_idx"),
            models.Index(fields=["action", "-created_at"], name="audit_action_idx"),
            models.Index(fields=["resource_type", "resource_id"], name="audit_resource_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.resource_type}:{self.resource_id}"
