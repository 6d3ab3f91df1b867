import factory
from django.utils import timezone

from accounts.tests.factories import UserFactory
from messaging.models import Message, WebhookEvent, WhatsAppSession


class WhatsAppSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WhatsAppSession

    user = factory.SubFactory(UserFactory)
    bridge_session_id = factory.Sequence(lambda n: f"session-{n}")
    phone_number = factory.LazyAttribute(lambda o: o.user.phone_number)
    session_type = WhatsAppSession.SessionType.USER
    status = WhatsAppSession.Status.CONNECTED
    connected_at = factory.LazyFunction(timezone.now)


def _jid(phone_number: str) -> str:
    return f"{phone_number.lstrip('+')}@s.whatsapp.net"


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    session = factory.SubFactory(WhatsAppSessionFactory)
    user = factory.LazyAttribute(lambda o: o.session.user)
    wa_message_id = factory.Sequence(lambda n: f"3EB0{n:016X}")
    chat_jid = factory.Sequence(lambda n: f"1415{3000000 + n % 5:07d}@s.whatsapp.net")
    sender_jid = factory.LazyAttribute(lambda o: o.chat_jid)
    recipient_jid = factory.LazyAttribute(lambda o: _jid(o.session.phone_number or "+0"))
    direction = Message.Direction.INCOMING
    timestamp = factory.LazyFunction(timezone.now)
    message_type = Message.MessageType.TEXT
    content = factory.Faker("sentence")
    status = Message.Status.DELIVERED

    class Params:
        # A message Zapa cannot display, stored as the webhook stores one: no text,
        # no caption, the bridge's type name (if any) in the metadata. Override
        # media_metadata for another type, or {} for none.
        unsupported = factory.Trait(
            message_type=Message.MessageType.UNSUPPORTED,
            content=None,
            caption=None,
            media_metadata=factory.LazyFunction(lambda: {"original_type": "sticker"}),
        )


class WebhookEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEvent

    event_type = "message.received"
    session_key = "main"
    payload = factory.LazyFunction(
        lambda: {
            "sessionId": "main",
            "origin": "14155550100",
            "eventType": "message.received",
            "timestamp": 1763870400000,
            "data": {},
        }
    )
