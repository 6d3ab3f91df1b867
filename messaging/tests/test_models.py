"""messaging models: relations, JSON round trips, lowercase enums and database constraints."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction

from core.testing.raw_sql import raw_row
from llm.tests.factories import AgentFactory
from messaging.models import Message, WebhookEvent, WhatsAppSession
from messaging.tests.factories import MessageFactory, WebhookEventFactory, WhatsAppSessionFactory

pytestmark = pytest.mark.django_db


def test_factories_create_every_model():
    session = WhatsAppSessionFactory()
    message = MessageFactory(session=session)
    event = WebhookEventFactory()

    assert WhatsAppSession.objects.get(pk=session.pk).user == session.user
    stored = Message.objects.get(pk=message.pk)
    assert stored.session == session
    assert stored.user == session.user
    assert WebhookEvent.objects.get(pk=event.pk).payload["eventType"] == "message.received"
    for row in (session, message, event):
        assert row.created_at is not None
        assert str(row)


def test_message_id_is_64_bit():
    message = MessageFactory(id=2**40 + 7)
    assert Message.objects.get(pk=2**40 + 7) == message
    assert Message._meta.pk.get_internal_type() == "BigAutoField"
    assert WebhookEvent._meta.pk.get_internal_type() == "BigAutoField"


def test_reply_relation():
    original = MessageFactory(content="Is the dentist open on Friday?")
    reply = MessageFactory(
        session=original.session,
        chat_jid=original.chat_jid,
        direction=Message.Direction.OUTGOING,
        content="Yes, until 18:00.",
        reply_to=original,
    )
    reply = Message.objects.select_related("reply_to").get(pk=reply.pk)
    assert reply.reply_to == original
    assert list(original.replies.all()) == [reply]

    original.delete()
    reply.refresh_from_db()
    assert reply.reply_to is None


def test_media_message_needs_no_content_and_keeps_its_metadata():
    metadata = {
        "mime_type": "image/jpeg",
        "size": 284512,
        "width": 1280,
        "height": 960,
        "url": "https://mmg.whatsapp.net/v/t62.7118-24/29438121_n.enc?ccb=11-4",
    }
    message = MessageFactory(
        message_type=Message.MessageType.IMAGE,
        content=None,
        caption="Which plant is this?",
        media_metadata=metadata,
    )
    stored = Message.objects.get(pk=message.pk)
    assert stored.content is None
    assert stored.media_metadata == metadata
    assert stored.preview == "Which plant is this?"


def test_json_fields_round_trip():
    media = {
        "location": {
            "latitude": -23.561414,
            "longitude": -46.655881,
            "name": "Clínica Sorriso Paulista",
            "address": "Av. Paulista, 1578 - Bela Vista, São Paulo - SP",
        },
        "contact": {"name": "Mike Rivera", "number": "+14155550142"},
        "duration": 12,
        "voice_note": True,
        "thumbnail": None,
        "tags": ["a", 1, 2.5, False],
    }
    metadata = {"name": "Zapa Assistant", "platform": "smba", "nested": {"list": [1, {"x": "y"}]}}
    payload = {
        "sessionId": "main",
        "origin": "14155550199",
        "eventType": "message.received",
        "timestamp": 1763870400000,
        "data": {"from": "5511987654321@s.whatsapp.net", "text": "Oi! 👋", "hasMedia": False},
    }
    session = WhatsAppSessionFactory(metadata=metadata)
    message = MessageFactory(
        session=session, message_type="location", content=None, media_metadata=media
    )
    event = WebhookEventFactory(payload=payload)
    list_event = WebhookEventFactory(payload=[1, "two", None])
    empty_event = WebhookEventFactory(payload=None, raw_body="not json")

    assert WhatsAppSession.objects.get(pk=session.pk).metadata == metadata
    assert Message.objects.get(pk=message.pk).media_metadata == media
    assert WebhookEvent.objects.get(pk=event.pk).payload == payload
    assert WebhookEvent.objects.get(pk=list_event.pk).payload == [1, "two", None]
    assert WebhookEvent.objects.get(pk=empty_event.pk).payload is None


def test_enum_values_are_stored_lowercase():
    session = WhatsAppSessionFactory(
        session_type=WhatsAppSession.SessionType.MAIN, status=WhatsAppSession.Status.QR_PENDING
    )
    message = MessageFactory(
        session=session,
        direction=Message.Direction.OUTGOING,
        message_type=Message.MessageType.DOCUMENT,
        content=None,
        status=Message.Status.DELIVERED,
    )
    event = WebhookEventFactory(state=WebhookEvent.State.DEFERRED)

    assert raw_row(WhatsAppSession, session.pk, "session_type", "status") == (
        "main",
        "qr_pending",
    )
    assert raw_row(Message, message.pk, "direction", "message_type", "status") == (
        "outgoing",
        "document",
        "delivered",
    )
    assert raw_row(WebhookEvent, event.pk, "state") == ("deferred",)
    for choices in (
        WhatsAppSession.SessionType,
        WhatsAppSession.Status,
        Message.Direction,
        Message.MessageType,
        Message.Status,
        WebhookEvent.State,
    ):
        assert all(value == value.lower() for value in choices.values)


def test_deleting_an_agent_or_session():
    agent = AgentFactory()
    session = WhatsAppSessionFactory(agent=agent)
    MessageFactory.create_batch(2, session=session)
    agent.delete()
    session.refresh_from_db()
    assert session.agent is None

    session.delete()
    assert not Message.objects.filter(session_id=session.pk).exists()


def test_timestamps_are_aware_utc():
    when = datetime(2026, 11, 20, 16, 32, 30, tzinfo=UTC)
    message = MessageFactory(timestamp=when)
    stored = Message.objects.get(pk=message.pk)
    assert stored.timestamp == when
    assert stored.timestamp.utcoffset().total_seconds() == 0


# Database constraints: each refuses a bad row even when model validation is bypassed.


def test_db_refuses_the_same_whatsapp_message_twice_in_a_session():
    message = MessageFactory()
    duplicate = Message(
        session=message.session,
        user=message.user,
        wa_message_id=message.wa_message_id,
        chat_jid=message.chat_jid,
        sender_jid=message.sender_jid,
        direction="incoming",
        timestamp=message.timestamp,
        message_type="text",
        content="again",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.bulk_create([duplicate])
    other = MessageFactory(session=message.session)
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.filter(pk=other.pk).update(wa_message_id=message.wa_message_id)

    # The same id in another session is a different message.
    MessageFactory(wa_message_id=message.wa_message_id)
    assert Message.objects.filter(wa_message_id=message.wa_message_id).count() == 2


def test_db_refuses_duplicate_bridge_session_id():
    first, second = WhatsAppSessionFactory(), WhatsAppSessionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        WhatsAppSession.objects.filter(pk=second.pk).update(
            bridge_session_id=first.bridge_session_id
        )


@pytest.mark.parametrize("content", [None, ""])
def test_db_refuses_text_message_without_content(content):
    message = MessageFactory(content="hello")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.filter(pk=message.pk).update(content=content)
    fresh = MessageFactory.build(session=message.session, content=content)
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.bulk_create([fresh])
    assert raw_row(Message, message.pk, "content") == ("hello",)


@pytest.mark.parametrize("content", [None, ""])
def test_db_accepts_media_message_without_content(content):
    message = MessageFactory(message_type="audio", content=content)
    assert raw_row(Message, message.pk, "content") == (content,)


@pytest.mark.parametrize(
    "model, factory, field, bad_value",
    [
        (WhatsAppSession, WhatsAppSessionFactory, "session_type", "group"),
        (WhatsAppSession, WhatsAppSessionFactory, "session_type", "MAIN"),
        (WhatsAppSession, WhatsAppSessionFactory, "status", "pairing"),
        (WhatsAppSession, WhatsAppSessionFactory, "status", ""),
        (Message, MessageFactory, "direction", "inbound"),
        (Message, MessageFactory, "direction", "INCOMING"),
        (Message, MessageFactory, "message_type", "sticker"),
        (Message, MessageFactory, "message_type", "TEXT"),
        (Message, MessageFactory, "status", "seen"),
        (Message, MessageFactory, "status", ""),
        (WebhookEvent, WebhookEventFactory, "state", "done"),
        (WebhookEvent, WebhookEventFactory, "state", "Processed"),
    ],
)
def test_db_refuses_enum_value_outside_its_choices(model, factory, field, bad_value):
    row = factory()
    good_value = getattr(row, field)
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.filter(pk=row.pk).update(**{field: bad_value})
    assert raw_row(model, row.pk, field) == (good_value,)


def test_db_refuses_negative_webhook_attempts():
    event = WebhookEventFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        WebhookEvent.objects.filter(pk=event.pk).update(attempts=-1)
    WebhookEvent.objects.filter(pk=event.pk).update(attempts=3)
    assert raw_row(WebhookEvent, event.pk, "attempts") == (3,)
