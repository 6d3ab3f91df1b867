"""accounts models: phone numbers, the user manager, cascades and database constraints."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AuthCode, User
from accounts.tests.factories import AuditLogFactory, AuthCodeFactory, UserFactory
from core.models import AuditLog
from core.phone import normalize_phone_number
from core.testing.raw_sql import raw_row
from llm.models import ActionLog, LLMConfig
from llm.tests.factories import ActionLogFactory, LLMConfigFactory
from messaging.models import Message, WhatsAppSession
from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

pytestmark = pytest.mark.django_db


def test_factories_create_every_model():
    user = UserFactory()
    code = AuthCodeFactory(user=user)
    entry = AuditLogFactory(actor=user)

    assert User.objects.get(pk=user.pk).phone_number == user.phone_number
    assert AuthCode.objects.get(pk=code.pk).user == user
    assert AuditLog.objects.get(pk=entry.pk).actor == user
    for row in (user, code, entry):
        assert row.created_at is not None
        assert row.updated_at is not None
        assert str(row)


def test_timestamps_are_set_and_updated_at_moves():
    user = UserFactory()
    created, updated = user.created_at, user.updated_at
    user.display_name = "Renamed"
    user.save()
    user.refresh_from_db()
    assert user.created_at == created
    assert user.updated_at > updated


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("+14155550100", "+14155550100"),
        ("+1 415 555 0100", "+14155550100"),
        ("+1 (415) 555-0100", "+14155550100"),
        (" +44 7911 123456 ", "+447911123456"),
        ("+55 11 98765-4321", "+5511987654321"),
    ],
)
def test_create_user_normalises_phone_number(raw, expected):
    user = User.objects.create_user(raw)
    assert user.phone_number == expected
    assert User.objects.get(pk=user.pk).phone_number == expected


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ("", "A phone number is required"),
        ("   ", "A phone number is required"),
        ("14155550100", "must start with '+'"),
        ("+1415555O100", "only digits after '+'"),
        ("+١٤١٥٥٥٥٠١٠٠", "only digits after '+'"),
        ("+0415550100", "country code never starts with 0"),
        ("+1234567890123456", "too long"),
        ("+12345", "too short"),
        ("+19995550100", "not a valid phone number"),
        ("+1415555010", "not a valid phone number"),
    ],
)
def test_create_user_refuses_invalid_number_with_clear_message(raw, fragment):
    with pytest.raises(ValidationError) as excinfo:
        User.objects.create_user(raw)
    message = " ".join(excinfo.value.messages)
    assert fragment in message
    assert User.objects.count() == 0


def test_invalid_number_message_shows_the_expected_format():
    with pytest.raises(ValidationError) as excinfo:
        normalize_phone_number("0044 7911 123456")
    assert "+14155550123" in excinfo.value.messages[0]
    assert excinfo.value.code == "no_plus"


def test_full_clean_normalises_and_reports_invalid_number_on_the_field():
    user = User(phone_number="+1 415 555 0100")
    user.full_clean(exclude=["password"])
    assert user.phone_number == "+14155550100"

    bad = User(phone_number="+1415")
    with pytest.raises(ValidationError) as excinfo:
        bad.full_clean(exclude=["password"])
    assert "phone_number" in excinfo.value.message_dict
    assert "too short" in excinfo.value.message_dict["phone_number"][0]


def test_unique_phone_number_is_reported_clearly():
    User.objects.create_user("+14155550100")
    with pytest.raises(ValidationError) as excinfo:
        User.objects.create_user("+1 415 555 0100")
    assert excinfo.value.message_dict["phone_number"] == [
        "A user with this phone number already exists."
    ]
    assert User.objects.count() == 1


def test_create_user_without_password_has_unusable_password():
    user = User.objects.create_user("+447911123456", display_name="James Carter")
    assert not user.has_usable_password()
    assert not user.is_staff
    assert not user.is_superuser
    assert user.is_active
    assert user.preferences == {}
    assert user.get_full_name() == "James Carter"
    assert str(user) == "James Carter (+447911123456)"


def test_create_superuser():
    admin = User.objects.create_superuser("+1 415 555 0100", "correct-horse-battery-staple")
    admin.refresh_from_db()
    assert admin.phone_number == "+14155550100"
    assert admin.is_staff
    assert admin.is_superuser
    assert admin.has_usable_password()
    assert admin.check_password("correct-horse-battery-staple")
    assert "correct-horse-battery-staple" not in admin.password
    assert User.objects.get_by_natural_key("+14155550100") == admin


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser"])
def test_create_superuser_refuses_to_drop_its_flags(flag):
    with pytest.raises(ValueError, match="superuser must have"):
        User.objects.create_superuser("+14155550100", "pw-123456789", **{flag: False})
    assert User.objects.count() == 0


def test_preferences_round_trip():
    preferences = {
        "language": "pt-BR",
        "timezone": "America/Sao_Paulo",
        "notifications": {"reminders": True, "digest": None},
        "topics": ["weather", "reminders"],
        "emoji": "🌱",
        "ratio": 0.25,
    }
    user = UserFactory(preferences=preferences)
    assert User.objects.get(pk=user.pk).preferences == preferences


def test_audit_log_changes_round_trip():
    changes = {"provider": "openai", "before": {"is_active": False}, "after": {"is_active": True}}
    entry = AuditLogFactory(changes=changes, ip_address="2001:db8::1")
    entry = AuditLog.objects.get(pk=entry.pk)
    assert entry.changes == changes
    assert entry.ip_address == "2001:db8::1"


def test_deleting_a_user_cascades_and_keeps_their_audit_trail():
    user = UserFactory()
    other = UserFactory()
    session = WhatsAppSessionFactory(user=user)
    MessageFactory.create_batch(3, session=session)
    main = WhatsAppSessionFactory(user=other, session_type="main")
    MessageFactory(session=main, user=user)  # user's message on someone else's session
    AuthCodeFactory(user=user)
    config = LLMConfigFactory(user=user)
    ActionLogFactory(user=user, config=config)
    entry = AuditLogFactory(actor=user)
    kept_message = MessageFactory(session=main)
    user_pk = user.pk
    assert Message.objects.filter(user_id=user_pk).count() == 4
    assert LLMConfig.objects.filter(user_id=user_pk).count() == 1

    user.delete()

    assert not WhatsAppSession.objects.filter(user_id=user_pk).exists()
    assert not Message.objects.filter(user_id=user_pk).exists()
    assert not AuthCode.objects.filter(user_id=user_pk).exists()
    assert not LLMConfig.objects.filter(user_id=user_pk).exists()
    assert not ActionLog.objects.filter(user_id=user_pk).exists()
    entry.refresh_from_db()
    assert entry.actor is None
    assert entry.resource_id == str(user_pk)
    assert Message.objects.filter(pk=kept_message.pk).exists()
    assert WhatsAppSession.objects.filter(pk=main.pk).exists()


def test_auth_code_expiry():
    code = AuthCodeFactory(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assert code.is_expired
    assert not AuthCodeFactory().is_expired


# Database constraints: each refuses a bad row even when model validation is bypassed.


def test_db_refuses_duplicate_phone_number():
    first, second = UserFactory(), UserFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=second.pk).update(phone_number=first.phone_number)
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.bulk_create([User(phone_number=first.phone_number, password="!")])


def test_db_refuses_negative_failed_login_attempts():
    user = UserFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=user.pk).update(failed_login_attempts=-1)
    assert raw_row(User, user.pk, "failed_login_attempts") == (0,)


def test_db_refuses_negative_auth_code_attempts():
    code = AuthCodeFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        AuthCode.objects.filter(pk=code.pk).update(attempts=-1)
    AuthCode.objects.filter(pk=code.pk).update(attempts=5)
    assert raw_row(AuthCode, code.pk, "attempts") == (5,)
