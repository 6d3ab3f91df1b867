"""API tokens (knox): logging out one token, or every token of a user."""

from django.db import transaction
from knox.models import AuthToken

from accounts.models import User
from core.audit import AuditAction, audit_log_record


def auth_token_revoke(*, auth_token: AuthToken, request=None) -> None:
    """Log out one token (the caller's own)."""
    with transaction.atomic():
        user = auth_token.user
        auth_token.delete()
        audit_log_record(action=AuditAction.LOGOUT, actor=user, resource=user, request=request)


def user_tokens_revoke_all(*, user: User, actor: User | None = None, request=None) -> int:
    """Revoke every API token of `user`; returns how many there were."""
    with transaction.atomic():
        revoked, _ = AuthToken.objects.filter(user=user).delete()
        audit_log_record(
            action=AuditAction.LOGOUT_ALL,
            actor=actor,
            resource=user,
            changes={"revoked": revoked},
            request=request,
        )
    return revoked
