"""Taking messages out of Zapa: every export is on the audit log before it streams."""

from accounts.models import User
from core.audit import AuditAction, audit_log_record


def messages_export_record(
    *, actor: User | None, export_format: str, all_matching: bool, request=None
) -> None:
    """Audit an export of messages: who, in which format, and whether it was every
    message matching the page's filters rather than a selection."""
    audit_log_record(
        action=AuditAction.MESSAGES_EXPORTED,
        actor=actor,
        resource_type="message",
        changes={"format": export_format, "all_matching": all_matching},
        request=request,
    )
