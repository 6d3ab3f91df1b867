"""The newcomer's commands: a message arrives as the bridge would post it, and the
scheduler's jobs run without Celery beat."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.tests.factories import UserFactory
from assistant.models import Reminder, Turn
from assistant.tests.fake_llm import Text
from llm.tests.factories import LLMConfigFactory
from messaging.models import Message, WebhookEvent, WhatsAppSession
from messaging.tests.factories import WhatsAppSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def main_session():
    owner = UserFactory(phone_number="+14155550199")
    return WhatsAppSessionFactory(
        user=owner, bridge_session_id="main", session_type=WhatsAppSession.SessionType.MAIN
    )


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_whatsapp_incoming_goes_through_the_ingest_and_gets_the_notice(
    main_session, outbox, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        output = run("whatsapp_incoming", "+5511987654321", "What about the dentist?")

    assert "processed" in output
    event = WebhookEvent.objects.get()
    assert event.payload["eventType"] == "message.received"
    message = Message.objects.get(direction="incoming")
    assert message.content == "What about the dentist?"
    assert message.user.phone_number == "+5511987654321"
    assert [m.text for m in outbox] == [settings.ASSISTANT_NO_CONFIG_NOTICE]
    assert Turn.objects.get().state == Turn.State.SKIPPED


def test_whatsapp_incoming_with_a_key_prints_the_reply(
    main_session, outbox, settings, fake_llm, django_capture_on_commit_callbacks
):
    settings.LLM_PROVIDER_BASE_URLS = fake_llm.base_urls()
    contact = UserFactory(phone_number="+5511987654321")
    LLMConfigFactory(user=contact, api_key=fake_llm.issue_key("openai"), is_active=True)
    fake_llm.script("openai", Text("You see Dr. Silva on Friday."))

    with django_capture_on_commit_callbacks(execute=True):
        run("whatsapp_incoming", "+5511987654321", "When is the dentist?")

    assert [m.text for m in outbox] == ["You see Dr. Silva on Friday."]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("12345", "hi"), r"must start with '\+'"),
        (("+5511987654321", "hi"), "no main session"),
    ],
)
def test_whatsapp_incoming_says_what_is_wrong(args, message):
    with pytest.raises(CommandError, match=message):
        run("whatsapp_incoming", *args)


def test_run_scheduler_once_sends_due_reminders_and_sweeps(main_session, outbox, settings):
    settings.WHATSAPP_BRIDGE_URL = "http://127.0.0.1:9"  # nothing listens: the sync says so
    user = UserFactory(phone_number="+5511987654321")
    Reminder.objects.create(
        user=user,
        session=main_session,
        chat_jid="5511987654321@s.whatsapp.net",
        text="Call mum",
        due_at=timezone.now() - timedelta(seconds=5),
    )

    output = run("run_scheduler", "--once")

    assert "reminders sent: 1" in output
    assert "bridge:" in output
    assert [m.text for m in outbox] == ["⏰ Call mum"]
    assert Reminder.objects.get().state == Reminder.State.SENT
