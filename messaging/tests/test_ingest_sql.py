"""The ingest's set-based statements (messaging.ingest.sql): what they store, and how few
of them a delivery takes on PostgreSQL."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from messaging.models import Message, WebhookEvent, WhatsAppSession
from messaging.tests import bridge_payloads as bp
from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def main_session():
    owner = UserFactory(phone_number="+" + bp.ASSISTANT)
    return WhatsAppSessionFactory(
        user=owner, bridge_session_id="main", session_type=WhatsAppSession.SessionType.MAIN
    )


def contact(n: int) -> str:
    return f"1415{6000000 + n:07d}"


def test_every_answered_id_is_the_row_of_that_event(api_client, main_session):
    sent = bp.message_sent()
    payloads = []
    for n in range(12):
        payloads += [
            bp.message_received(**{"from": contact(n)}, text=f"hello {n}"),
            bp.message_read(f"UNKNOWN-{n}"),  # deferred
            {"eventType": f"custom.{n}", "sessionId": "main", "data": {}},  # ignored
        ]
    payloads += [sent, bp.message_received(timestamp=-5), bp.session_connected()]

    response = bp.post(api_client, payloads)

    answered = response.json()["error"]["details"]["events"]  # one invalid event: 400
    assert [problem["index"] for problem in answered] == [len(payloads) - 2]
    events = WebhookEvent.objects.in_bulk()
    assert len(events) == len(payloads)
    # The rows, in id order, are the payloads in the order they were posted.
    assert [events[pk].payload for pk in sorted(events)] == payloads
    assert events[answered[0]["id"]].state == "rejected"
    states = [events[pk].state for pk in sorted(events)]
    assert states[:3] == ["processed", "deferred", "ignored"]
    assert states[-3:] == ["processed", "rejected", "processed"]


def test_messages_keep_every_column_and_owner(api_client, main_session):
    known = UserFactory(phone_number="+" + contact(1))
    own_number = WhatsAppSessionFactory(bridge_session_id="own", session_type="user")
    image = bp.message_received(
        **{"from": contact(1)},
        type="image",
        text=None,
        caption="a photo",
        mimeType="image/jpeg",
        mediaUrl="https://example.test/p.enc",
        fileLength=2048,
    )
    on_own_number = bp.message_received(session_id="own", text="über ✓ 😀")

    response = bp.post(api_client, [image, on_own_number])

    assert response.status_code == 200, response.content
    stored = Message.objects.get(wa_message_id=image["data"]["messageId"])
    assert stored.user == known
    assert stored.session == main_session
    assert (stored.message_type, stored.content, stored.caption) == ("image", None, "a photo")
    assert stored.media_metadata == {
        "mime_type": "image/jpeg",
        "url": "https://example.test/p.enc",
        "size": 2048,
        "has_media": False,
    }
    assert stored.timestamp.timestamp() * 1000 == image["data"]["timestamp"]
    assert stored.status == "delivered"
    assert stored.chat_jid == stored.sender_jid == f"{contact(1)}@s.whatsapp.net"
    own = Message.objects.get(wa_message_id=on_own_number["data"]["messageId"])
    assert own.user == own_number.user
    assert own.content == "über ✓ 😀"


def test_a_pending_outgoing_message_moves_to_sent_and_a_read_one_stays(api_client, main_session):
    pending = MessageFactory(session=main_session, direction="outgoing", status="pending")
    read = MessageFactory(session=main_session, direction="outgoing", status="read")
    incoming = MessageFactory(session=main_session, direction="incoming", status="pending")

    bp.post(
        api_client,
        [
            bp.message_sent(messageId=pending.wa_message_id),
            bp.message_sent(messageId=read.wa_message_id),
            bp.message_received(messageId=incoming.wa_message_id),
        ],
    )

    for message, status in ((pending, "sent"), (read, "read"), (incoming, "pending")):
        message.refresh_from_db()
        assert message.status == status


@pytest.mark.postgres
def test_a_500_event_delivery_from_known_contacts_is_three_statements(api_client, main_session):
    for n in range(50):
        UserFactory(phone_number="+" + contact(n))
    events = [bp.message_received(**{"from": contact(n % 50)}) for n in range(500)]

    with CaptureQueriesContext(connection) as queries:
        response = bp.post(api_client, events)

    assert response.status_code == 200, response.content
    # INSERT the events; INSERT the messages (and mark the events); look for deferred
    # statuses (in one transaction: the test's own turns it into a savepoint).
    assert len(_statements(queries)) == 3, _statements(queries)
    assert Message.objects.count() == 500
    assert WebhookEvent.objects.filter(state="processed").count() == 500


@pytest.mark.postgres
def test_one_message_event_is_three_statements(api_client, main_session):
    UserFactory(phone_number="+" + contact(0))

    with CaptureQueriesContext(connection) as queries:
        response = bp.post(api_client, bp.message_received(**{"from": contact(0)}))

    assert response.status_code == 200
    assert len(_statements(queries)) == 3, _statements(queries)


def _statements(queries) -> list[str]:
    return [q["sql"][:60] for q in queries if "SAVEPOINT" not in q["sql"][:20]]


def test_events_stored_without_processing_are_processed_later(main_session):
    from io import StringIO

    from django.core.management import call_command

    from messaging.ingest.receive import delivery_receive

    payloads = [bp.message_received(**{"from": contact(n)}) for n in range(3)]

    events = delivery_receive(body=json.dumps(payloads).encode(), process=False).events

    assert [event.state for event in events] == ["received"] * 3
    assert not Message.objects.exists()
    call_command(
        "process_webhook_events", "--state", "received", "--min-age", "0", stdout=StringIO()
    )
    assert Message.objects.count() == 3
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {"processed"}


@pytest.mark.postgres
def test_the_message_insert_finds_sessions_and_owners_by_index(main_session):
    """Not by hashing the whole user and session tables, even for one event."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.models import User
    from messaging.ingest import sql as ingest_sql

    unusable = make_password(None)
    users = User.objects.bulk_create(
        [User(phone_number="+" + contact(n), password=unusable) for n in range(3000)]
    )
    WhatsAppSession.objects.bulk_create(
        [WhatsAppSession(user=user, bridge_session_id=f"s{user.pk}") for user in users]
    )
    now = timezone.now()
    row = {
        "event_ids": [],
        "session_key": "main",
        "contact_phone": "+" + contact(7),
        "wa_message_id": "PLAN-1",
        "chat_jid": f"{contact(7)}@s.whatsapp.net",
        "sender_jid": f"{contact(7)}@s.whatsapp.net",
        "recipient_jid": "",
        "direction": "incoming",
        "timestamp": now,
        "message_type": "text",
        "content": "hi",
        "caption": None,
        "media_metadata": {},
        "status": "delivered",
    }
    with ingest_sql._cursor() as cursor:
        cursor.execute("ANALYZE accounts_user, messaging_whatsappsession")
        cursor.execute(
            "EXPLAIN (FORMAT JSON) " + ingest_sql._MESSAGES_INSERT,
            ingest_sql._messages_insert_params([row], ["pending", "failed"], now),
        )
        plan = cursor.fetchone()[0]

    scans = []

    def walk(node):
        if "Relation Name" in node:
            scans.append((node["Node Type"], node["Relation Name"]))
        for child in node.get("Plans", []):
            walk(child)

    walk((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"])
    looked_up = {name: kind for kind, name in scans if name != "messaging_message"}
    assert looked_up["accounts_user"] in ("Index Scan", "Index Only Scan"), scans
    assert looked_up["messaging_whatsappsession"] in ("Index Scan", "Index Only Scan"), scans
