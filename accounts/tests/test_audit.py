import pytest

from accounts.tests.factories import UserFactory
from core.audit import audit_log_record
from core.models import AuditLog


@pytest.mark.django_db
def test_audit_record_redacts_secret_names_but_keeps_ordinary_settings():
    actor = UserFactory()
    entry = audit_log_record(
        action="llm_key_changed",
        actor=actor,
        resource=actor,
        changes={
            "api_key": "sk-live-abcdef",
            "code": "123456",
            "auth-token": "tok",
            "nested": {"password": "hunter2", "model": "gpt-4o"},
            "max_tokens": 512,
            "api_key_last4": "cdef",
            "provider": "openai",
        },
    )
    stored = AuditLog.objects.get(pk=entry.pk).changes
    assert stored["api_key"] == "[redacted]"
    assert stored["code"] == "[redacted]"
    assert stored["auth-token"] == "[redacted]"
    assert stored["nested"] == {"password": "[redacted]", "model": "gpt-4o"}
    assert stored["max_tokens"] == 512
    assert stored["api_key_last4"] == "cdef"
    assert stored["provider"] == "openai"
    assert entry.resource_type == "user"
    assert entry.resource_id == str(actor.pk)
