"""The per-chat and per-user summaries the database keeps (migration 0007's triggers)
always equal what the messages themselves say, whoever writes or deletes them."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count, Max, Min

from accounts.tests.factories import UserFactory
from messaging.models import ChatSummary, Message, MessageCount
from messaging.tests import bridge_payloads as bp
from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
CHATS = ["14155550001@s.whatsapp.net", "14155550002@s.whatsapp.net"]


def truth(user):
    """The summaries computed from the messages, as the selectors used to."""
    chats = {
        row["chat_jid"]: (row["n"], row["last"])
        for row in Message.objects.filter(user=user)
        .values("chat_jid")
        .annotate(n=Count("id"), last=Max("timestamp"))
    }
    counts = {
        (row["direction"], row["message_type"]): (row["n"], row["first"], row["last"])
        for row in Message.objects.filter(user=user)
        .values("direction", "message_type")
        .annotate(n=Count("id"), first=Min("timestamp"), last=Max("timestamp"))
    }
    return chats, counts


def kept(user):
    chats = {
        c.chat_jid: (c.message_count, c.last_message_at)
        for c in ChatSummary.objects.filter(user=user)
    }
    counts = {
        (c.direction, c.message_type): (c.message_count, c.first_message_at, c.last_message_at)
        for c in MessageCount.objects.filter(user=user)
    }
    return chats, counts


@pytest.fixture
def session():
    return WhatsAppSessionFactory()


def test_inserts_one_by_one_and_in_bulk_are_counted(session):
    user = session.user
    MessageFactory(session=session, chat_jid=CHATS[0], timestamp=T0)
    outgoing = MessageFactory.build_batch(
        5,
        session=session,
        chat_jid=CHATS[1],
        timestamp=T0 + timedelta(hours=1),
        direction="outgoing",
    )
    older = MessageFactory.build(session=session, chat_jid=CHATS[0], timestamp=T0 - timedelta(1))
    Message.objects.bulk_create([*outgoing, older])
    MessageFactory(session=session, chat_jid=CHATS[0], unsupported=True, timestamp=T0)

    assert kept(user) == truth(user)
    assert kept(user)[0][CHATS[0]] == (3, T0)
    assert kept(user)[1][("outgoing", "text")] == (
        5,
        T0 + timedelta(hours=1),
        T0 + timedelta(hours=1),
    )


def test_deleting_the_newest_and_the_oldest_moves_the_bounds(session):
    user = session.user
    messages = [
        MessageFactory(session=session, chat_jid=CHATS[0], timestamp=T0 + timedelta(minutes=n))
        for n in range(4)
    ]
    messages[-1].delete()
    Message.objects.filter(pk=messages[0].pk).delete()

    assert kept(user) == truth(user)
    assert kept(user)[0][CHATS[0]] == (2, T0 + timedelta(minutes=2))
    assert kept(user)[1][("incoming", "text")][1] == T0 + timedelta(minutes=1)


def test_a_chat_or_a_type_with_no_message_left_has_no_row(session):
    user = session.user
    MessageFactory(session=session, chat_jid=CHATS[0], timestamp=T0)
    image = MessageFactory(
        session=session, chat_jid=CHATS[1], message_type="image", content=None, caption="x"
    )
    image.delete()

    assert kept(user) == truth(user)
    assert set(kept(user)[0]) == {CHATS[0]}
    assert set(kept(user)[1]) == {("incoming", "text")}


def test_the_webhook_ingest_and_a_user_deletion_keep_them_right(api_client):
    owner = UserFactory(phone_number="+" + bp.ASSISTANT)
    WhatsAppSessionFactory(user=owner, bridge_session_id="main", session_type="main")
    events = [bp.message_received(**{"from": f"1415{6000000 + n % 3:07d}"}) for n in range(9)]
    response = bp.post(api_client, events + events)  # a redelivery inside the same list
    assert response.status_code == 200, response.content

    contacts = {m.user for m in Message.objects.select_related("user")}
    assert len(contacts) == 3
    for contact in contacts:
        assert kept(contact) == truth(contact)
        assert sum(n for n, _ in kept(contact)[0].values()) == 3
    gone = contacts.pop()
    gone.delete()
    assert not ChatSummary.objects.filter(user_id=gone.pk).exists()
    assert not MessageCount.objects.filter(user_id=gone.pk).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_truncate_clears_them(session):
    MessageFactory(session=session)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE messaging_message CASCADE")
    assert not ChatSummary.objects.exists() and not MessageCount.objects.exists()
