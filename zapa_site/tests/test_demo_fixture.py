"""`manage.py loaddata demo` loads a small, valid, realistic data set in one call."""

import io
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from accounts.models import User
from accounts.tests.factories import UserFactory
from core.models import AuditLog
from core.phone import normalize_phone_number
from llm import crypto
from llm.models import ActionLog, Agent, LLMConfig
from llm.tool_catalogue import TOOLS
from messaging.models import Message, WebhookEvent, WhatsAppSession
from messaging.tests.factories import MessageFactory

pytestmark = pytest.mark.django_db

FIXTURE_FILES = [
    Path(django_settings.BASE_DIR) / app / "fixtures" / "demo.json"
    for app in ("accounts", "messaging", "llm")
]
DEMO_MODELS = [User, AuditLog, WhatsAppSession, Message, WebhookEvent, Agent, LLMConfig, ActionLog]


@pytest.fixture
def demo():
    out = io.StringIO()
    call_command("loaddata", "demo", stdout=out)
    return out.getvalue()


def test_loads_all_three_app_fixtures_in_one_call(demo):
    assert "from 3 fixture(s)" in demo
    for model in DEMO_MODELS:
        assert model.objects.exists(), model.__name__


def test_every_row_passes_full_clean(demo):
    checked = 0
    for model in DEMO_MODELS:
        for row in model.objects.all():
            row.full_clean(exclude=["password"] if model is User else None)
            checked += 1
    assert checked >= 40


def test_users(demo):
    whatsapp_users = User.objects.filter(is_staff=False)
    assert whatsapp_users.count() >= 2
    for user in User.objects.all():
        assert normalize_phone_number(user.phone_number) == user.phone_number
        assert user.display_name
        assert not user.has_usable_password()
    staff = User.objects.get(is_staff=True)
    assert staff.is_superuser
    assert staff.password == "!"
    countries = {user.phone_number[:3] for user in whatsapp_users}
    assert len(countries) >= 2


def test_sessions(demo):
    main = WhatsAppSession.objects.get(bridge_session_id="main")
    assert main.session_type == WhatsAppSession.SessionType.MAIN
    assert main.status == WhatsAppSession.Status.CONNECTED
    assert main.connected_at is not None
    assert main.agent is not None and main.agent.functions

    pending = WhatsAppSession.objects.get(status=WhatsAppSession.Status.QR_PENDING)
    assert pending.session_type == WhatsAppSession.SessionType.USER
    assert pending.qr_code.startswith("data:image/png;base64,")
    assert pending.qr_expires_at > pending.created_at


def test_messages(demo):
    texts = Message.objects.filter(message_type=Message.MessageType.TEXT)
    assert texts.count() >= 25
    assert texts.filter(direction=Message.Direction.INCOMING).count() >= 10
    assert texts.filter(direction=Message.Direction.OUTGOING).count() >= 10
    assert all(message.content for message in texts)
    days = {message.timestamp.date() for message in Message.objects.all()}
    assert len(days) >= 4
    assert len(set(Message.objects.values_list("status", flat=True))) >= 4
    assert len(set(Message.objects.values_list("user", flat=True))) >= 3

    reply = Message.objects.filter(reply_to__isnull=False).select_related("reply_to").first()
    assert reply is not None
    assert reply.reply_to.chat_jid == reply.chat_jid
    assert reply.reply_to.timestamp < reply.timestamp

    assert Message.objects.filter(chat_jid__endswith="@g.us").exists()

    for message in Message.objects.filter(direction=Message.Direction.INCOMING):
        assert message.sender_jid.split("@")[0].isdigit()
        if message.session.session_type == WhatsAppSession.SessionType.MAIN:
            assert message.user.phone_number.lstrip("+") == message.chat_jid.split("@")[0]


@pytest.mark.parametrize(
    "message_type, keys",
    [
        ("image", {"mime_type", "size", "width", "height", "url"}),
        ("audio", {"mime_type", "size", "duration", "url"}),
        ("video", {"mime_type", "size", "width", "height", "duration", "url"}),
        ("document", {"mime_type", "size", "file_name", "url"}),
        ("location", {"location"}),
        ("contact", {"contact"}),
    ],
)
def test_one_message_of_each_media_type(demo, message_type, keys):
    message = Message.objects.get(message_type=message_type)
    assert keys <= set(message.media_metadata)
    assert message.content is None
    metadata = message.media_metadata
    if "url" in keys:
        assert metadata["url"].startswith("https://")
        assert metadata["size"] > 0
        assert metadata["mime_type"].split("/")[0] in {message_type, "application"}
    if message_type == "location":
        assert {"latitude", "longitude", "name", "address"} <= set(metadata["location"])
        assert -90 <= metadata["location"]["latitude"] <= 90
    if message_type == "contact":
        card = metadata["contact"]
        assert card["name"]
        assert normalize_phone_number(card["number"]) == card["number"]


def test_llm_configs_hold_ciphertext_under_the_published_development_key(demo, settings):
    configs = list(LLMConfig.objects.order_by("pk"))
    assert {config.provider for config in configs} >= {"openai", "anthropic"}
    assert LLMConfig.objects.filter(is_active=True).count() == 1
    development_id = crypto.key_id(django_settings.INSECURE_FIELD_ENCRYPTION_KEY)
    for config in configs:
        assert crypto.writer_key_id(config.api_key_encrypted) == development_id

    settings.FIELD_ENCRYPTION_KEYS = [django_settings.INSECURE_FIELD_ENCRYPTION_KEY]
    for config in configs:
        plaintext = config.get_api_key()
        assert "not-a-real-key" in plaintext
        assert plaintext[-4:] == config.api_key_last4
        assert plaintext not in "".join(path.read_text() for path in FIXTURE_FILES)


def test_demo_keys_cannot_be_read_under_another_key_ring(demo, settings):
    settings.FIELD_ENCRYPTION_KEYS = ["Zm9yLXRlc3RzLW9ubHktZmllbGQta2V5LTAwMDAwMDA="]
    config = LLMConfig.objects.get(is_active=True)
    with pytest.raises(crypto.DecryptionError, match="not in FIELD_ENCRYPTION_KEYS"):
        config.get_api_key()


def test_other_rows(demo):
    agent = Agent.objects.get()
    assert agent.functions and set(agent.functions) <= set(TOOLS)  # names from the catalogue
    assert WebhookEvent.objects.count() >= 2
    for event in WebhookEvent.objects.all():
        assert event.payload["eventType"] == event.event_type
        assert event.payload["sessionId"] == event.session_key
    assert AuditLog.objects.filter(actor__isnull=False).exists()
    assert ActionLog.objects.filter(config__isnull=False).exists()


def test_fixture_files_hold_no_secret():
    text = "".join(path.read_text(encoding="utf-8") for path in FIXTURE_FILES)
    assert not re.search(r"sk-[A-Za-z0-9_-]{8,}", text)
    assert not re.search(r"AIza[0-9A-Za-z_-]{10,}", text)
    assert not re.search(r"(pbkdf2_sha256|argon2|bcrypt|scrypt)\$", text)
    assert '"password": "!"' in text
    assert '"code_hash"' not in text


def test_new_rows_after_loading_get_fresh_ids(demo):
    highest_user = User.objects.order_by("-pk").first().pk
    highest_message = Message.objects.order_by("-pk").first().pk
    assert UserFactory().pk > highest_user
    assert MessageFactory().pk > highest_message


def test_loading_twice_changes_nothing(demo):
    counts = {model: model.objects.count() for model in DEMO_MODELS}
    call_command("loaddata", "demo", stdout=io.StringIO())
    assert {model: model.objects.count() for model in DEMO_MODELS} == counts
