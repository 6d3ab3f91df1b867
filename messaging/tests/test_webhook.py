"""The bridge webhook over HTTP: every event type, JID form, credential and bad input."""

import json
import logging
from datetime import UTC, datetime

import pytest

from accounts.models import User
from accounts.tests.factories import UserFactory
from core.models import AuditLog
from messaging.models import Message, WebhookEvent, WhatsAppSession
from messaging.tests import bridge_payloads as bp
from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

pytestmark = pytest.mark.django_db


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@pytest.fixture
def main_session():
    owner = UserFactory(phone_number="+" + bp.ASSISTANT)
    return WhatsAppSessionFactory(
        user=owner, bridge_session_id="main", session_type=WhatsAppSession.SessionType.MAIN
    )


# --- message.received / message.sent ----------------------------------------------


def test_message_received_creates_session_contact_and_message(api_client):
    payload = bp.message_received(pushName="Ada Lovelace")

    response = bp.post(api_client, payload)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["received"] == 1 and body["processed"] == 1
    session = WhatsAppSession.objects.get()
    assert session.bridge_session_id == "main"
    assert session.session_type == WhatsAppSession.SessionType.MAIN
    assert session.user.phone_number == "+14155550100"
    assert session.phone_number == "+14155550100"
    assert session.status == WhatsAppSession.Status.CONNECTED
    message = Message.objects.get()
    contact = User.objects.get(phone_number="+14155550123")
    assert contact.display_name == "Ada Lovelace"
    assert not contact.has_usable_password()
    assert message.user == contact
    assert message.session == session
    assert message.wa_message_id == payload["data"]["messageId"]
    assert message.direction == Message.Direction.INCOMING
    assert message.chat_jid == "14155550123@s.whatsapp.net"
    assert message.sender_jid == "14155550123@s.whatsapp.net"
    assert message.recipient_jid == "14155550100@s.whatsapp.net"
    assert message.message_type == "text"
    assert message.content == "Hello, assistant!"
    assert message.caption is None
    assert message.timestamp == ms_to_datetime(bp.BASE_MS - 1000)
    assert message.status == Message.Status.DELIVERED

    event = WebhookEvent.objects.get()
    assert body["events"] == [{"id": event.pk, "state": "processed"}]
    assert event.event_type == "message.received"
    assert event.session_key == "main"
    assert event.wa_message_id == payload["data"]["messageId"]
    assert event.payload == payload
    assert event.state == WebhookEvent.State.PROCESSED
    assert event.processed_at is not None and event.attempts == 1


def test_message_sent_on_main_number_belongs_to_recipient(api_client, main_session):
    payload = bp.message_sent(to=f"{bp.OTHER_CONTACT}:3@s.whatsapp.net", text="Your code")

    assert bp.post(api_client, payload).status_code == 200

    message = Message.objects.get()
    assert message.direction == Message.Direction.OUTGOING
    assert message.status == Message.Status.SENT
    assert message.user.phone_number == "+14155550124"
    assert message.chat_jid == message.recipient_jid == "14155550124@s.whatsapp.net"
    assert message.sender_jid == "14155550100@s.whatsapp.net"
    assert message.timestamp == ms_to_datetime(bp.BASE_MS - 500)


def test_message_sent_moves_a_pending_message_stored_by_zapa_to_sent(api_client, main_session):
    stored = MessageFactory(
        session=main_session,
        direction=Message.Direction.OUTGOING,
        status=Message.Status.PENDING,
    )

    bp.post(api_client, bp.message_sent(messageId=stored.wa_message_id))

    stored.refresh_from_db()
    assert stored.status == Message.Status.SENT
    assert Message.objects.count() == 1


def test_on_a_users_own_number_every_message_belongs_to_the_owner(api_client):
    owner_digits = "14155550177"
    received = bp.message_received(session_id="user-77", origin=owner_digits)
    sent = bp.message_sent(session_id="user-77", origin=owner_digits)

    assert bp.post(api_client, [received, sent]).status_code == 200

    session = WhatsAppSession.objects.get(bridge_session_id="user-77")
    assert session.session_type == WhatsAppSession.SessionType.USER
    assert session.user.phone_number == "+14155550177"
    assert set(Message.objects.values_list("user_id", flat=True)) == {session.user_id}
    assert not User.objects.filter(phone_number="+14155550123").exists()
    assert set(Message.objects.values_list("chat_jid", flat=True)) == {"14155550123@s.whatsapp.net"}


def test_known_session_keeps_its_owner(api_client):
    session = WhatsAppSessionFactory(bridge_session_id="user-5")
    payload = bp.message_received(session_id="user-5", origin="14155550188")

    bp.post(api_client, payload)

    assert Message.objects.get().user == session.user
    assert not User.objects.filter(phone_number="+14155550188").exists()


# --- JID forms ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sender",
    [
        "14155550123",
        "+14155550123",
        "14155550123@s.whatsapp.net",
        "14155550123:17@s.whatsapp.net",
        "14155550123.0:2@s.whatsapp.net",
        "14155550123@c.us",
    ],
)
def test_phone_jid_forms_all_mean_the_same_person(api_client, main_session, sender):
    bp.post(api_client, bp.message_received(**{"from": sender}))

    message = Message.objects.get()
    assert message.sender_jid == message.chat_jid == "14155550123@s.whatsapp.net"
    assert message.user.phone_number == "+14155550123"


def test_lid_sender_is_not_turned_into_a_phone_user(api_client, main_session):
    users_before = User.objects.count()

    response = bp.post(api_client, bp.message_received(**{"from": "178394729388142:5@lid"}))

    assert response.status_code == 200
    message = Message.objects.get()
    assert message.sender_jid == message.chat_jid == "178394729388142@lid"
    assert message.user == main_session.user
    assert User.objects.count() == users_before


def test_group_message_from_participant(api_client, main_session):
    payload = bp.message_received(
        **{"from": "14155550123:4@s.whatsapp.net"},
        isGroup=True,
        groupId="120363025246125888@g.us",
        groupName="Book club",
    )

    bp.post(api_client, payload)

    message = Message.objects.get()
    assert message.chat_jid == "120363025246125888@g.us"
    assert message.sender_jid == "14155550123@s.whatsapp.net"
    assert message.user.phone_number == "+14155550123"
    assert message.media_metadata["group_name"] == "Book club"


def test_group_message_with_group_in_from_and_participant_field(api_client, main_session):
    payload = bp.message_received(
        **{"from": "120363025246125888@g.us"}, participant="14155550124@c.us", isGroup=True
    )

    bp.post(api_client, payload)

    message = Message.objects.get()
    assert message.chat_jid == "120363025246125888@g.us"
    assert message.sender_jid == "14155550124@s.whatsapp.net"
    assert message.user.phone_number == "+14155550124"


def test_group_with_bare_group_id(api_client, main_session):
    bp.post(api_client, bp.message_received(isGroup=True, groupId="120363025246125888"))

    assert Message.objects.get().chat_jid == "120363025246125888@g.us"


def test_outgoing_group_message_belongs_to_session_owner(api_client, main_session):
    bp.post(api_client, bp.message_sent(to="120363025246125888@g.us", isGroup=True))

    message = Message.objects.get()
    assert message.chat_jid == message.recipient_jid == "120363025246125888@g.us"
    assert message.user == main_session.user


def test_invalid_jid_is_rejected_naming_the_field(api_client, main_session):
    response = bp.post(api_client, bp.message_received(**{"from": "not a jid"}))

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("data.from ")
    assert not Message.objects.exists()


# --- message types ------------------------------------------------------------------------


MEDIA_CASES = [
    (
        {
            "type": "image",
            "text": None,
            "caption": "Look!",
            "hasMedia": True,
            "mediaUrl": "https://bridge.example/media/1.jpg",
            "mimeType": "image/jpeg",
            "fileSize": 48213,
            "width": 1280,
            "height": 720,
        },
        "image",
        None,
        "Look!",
        {
            "has_media": True,
            "url": "https://bridge.example/media/1.jpg",
            "mime_type": "image/jpeg",
            "size": 48213,
            "width": 1280,
            "height": 720,
        },
    ),
    (
        {"type": "ptt", "text": None, "hasMedia": True, "duration": 12, "mimetype": "audio/ogg"},
        "audio",
        None,
        None,
        {"has_media": True, "duration": 12, "mime_type": "audio/ogg", "original_type": "ptt"},
    ),
    (
        {"type": "video", "text": None, "caption": "clip", "duration": 3.5, "hasMedia": True},
        "video",
        None,
        "clip",
        {"has_media": True, "duration": 3.5},
    ),
    (
        {
            "type": "document",
            "text": None,
            "fileName": "invoice.pdf",
            "mediaUrl": "https://bridge.example/media/2",
            "hasMedia": True,
        },
        "document",
        None,
        None,
        {"has_media": True, "file_name": "invoice.pdf", "url": "https://bridge.example/media/2"},
    ),
    (
        {
            "type": "location",
            "text": None,
            "location": {
                "latitude": -23.5505,
                "longitude": -46.6333,
                "name": "Sé",
                "address": "Praça da Sé, São Paulo",
            },
        },
        "location",
        None,
        None,
        {
            "has_media": False,
            "location": {
                "latitude": -23.5505,
                "longitude": -46.6333,
                "name": "Sé",
                "address": "Praça da Sé, São Paulo",
            },
        },
    ),
    (
        {"type": "contact", "text": None, "contact": {"name": "Bob", "number": "+14155550199"}},
        "contact",
        None,
        None,
        {"has_media": False, "contact": {"name": "Bob", "number": "+14155550199"}},
    ),
    (
        {"type": "chat", "text": "plain old text"},
        "text",
        "plain old text",
        None,
        {"has_media": False, "original_type": "chat"},
    ),
]


@pytest.mark.parametrize(
    ("data", "message_type", "content", "caption", "metadata"),
    MEDIA_CASES,
    ids=[case[1] + "-" + case[0]["type"] for case in MEDIA_CASES],
)
def test_every_message_type_is_mapped(
    api_client, main_session, data, message_type, content, caption, metadata
):
    response = bp.post(api_client, bp.message_received(**data))

    assert response.status_code == 200, response.content
    message = Message.objects.get()
    assert message.message_type == message_type
    assert message.content == content
    assert message.caption == caption
    assert message.media_metadata == metadata


def test_a_type_zapa_does_not_display_is_kept_as_unsupported(api_client, main_session):
    response = bp.post(api_client, bp.message_received(type="reaction", text="+1"))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().state == WebhookEvent.State.PROCESSED
    message = Message.objects.get()
    assert message.message_type == Message.MessageType.UNSUPPORTED
    assert (message.content, message.caption) == (None, None)
    assert message.media_metadata["original_type"] == "reaction"


@pytest.mark.parametrize(
    "reply_fields",
    [
        lambda quoted: {"quotedMessageId": quoted},
        lambda quoted: {"quotedMsgId": quoted},
        lambda quoted: {"quotedMessage": {"id": quoted, "text": "hi"}},
        lambda quoted: {"contextInfo": {"stanzaId": quoted}},
        lambda quoted: {"replyTo": quoted},
    ],
)
def test_reply_links_to_the_quoted_message_of_the_same_session(
    api_client, main_session, reply_fields
):
    original = bp.message_sent(text="How can I help?")
    bp.post(api_client, original)
    quoted = original["data"]["messageId"]

    bp.post(api_client, bp.message_received(text="With this", **reply_fields(quoted)))

    reply = Message.objects.get(direction=Message.Direction.INCOMING)
    assert reply.reply_to == Message.objects.get(wa_message_id=quoted)


def test_reply_to_a_message_of_another_session_is_not_linked(api_client, main_session):
    elsewhere = MessageFactory()  # another session

    bp.post(api_client, bp.message_received(quotedMessageId=elsewhere.wa_message_id))

    assert Message.objects.get(session=main_session).reply_to is None


def test_reply_and_original_in_one_list(api_client, main_session):
    original = bp.message_received(text="first")
    reply = bp.message_received(text="second", quotedMessageId=original["data"]["messageId"])

    bp.post(api_client, [reply, original])

    assert Message.objects.get(content="second").reply_to.content == "first"


def test_timestamp_in_seconds_is_accepted(api_client, main_session):
    bp.post(api_client, bp.message_received(timestamp=(bp.BASE_MS // 1000)))

    assert Message.objects.get().timestamp == ms_to_datetime(bp.BASE_MS)


def test_message_timestamp_falls_back_to_the_envelope(api_client, main_session):
    bp.post(api_client, bp.message_received(timestamp=None))

    assert Message.objects.get().timestamp == ms_to_datetime(bp.BASE_MS)


# --- statuses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "status", "expected"),
    [
        ("message.delivered", 3, "delivered"),
        ("message.delivered", None, "delivered"),
        ("message.read", 4, "read"),
        ("message.read", None, "read"),
        ("message.read", "5", "read"),
        ("message.delivered", "read", "read"),
    ],
)
def test_status_events_move_the_status(api_client, main_session, event_type, status, expected):
    sent = bp.message_sent()
    bp.post(api_client, sent)

    response = bp.post(
        api_client, bp.message_status(event_type, sent["data"]["messageId"], status=status)
    )

    assert response.status_code == 200
    assert Message.objects.get().status == expected
    assert WebhookEvent.objects.filter(state="processed").count() == 2


def test_status_never_goes_backwards(api_client, main_session):
    sent = bp.message_sent()
    message_id = sent["data"]["messageId"]
    bp.post(api_client, sent)

    bp.post(api_client, bp.message_read(message_id))
    bp.post(api_client, bp.message_delivered(message_id))
    bp.post(api_client, bp.message_status("message.delivered", message_id, status=2))
    bp.post(api_client, bp.message_sent(messageId=message_id))

    assert Message.objects.get().status == Message.Status.READ


def test_status_before_its_message_is_deferred_then_applied(api_client, main_session):
    received = bp.message_received()
    message_id = received["data"]["messageId"]

    early = bp.post(api_client, bp.message_read(message_id))

    assert early.status_code == 202
    assert early.json()["deferred"] == 1
    deferred = WebhookEvent.objects.get()
    assert deferred.state == WebhookEvent.State.DEFERRED
    assert deferred.wa_message_id == message_id
    assert deferred.session_key == "main"

    assert bp.post(api_client, received).status_code == 200

    assert Message.objects.get().status == Message.Status.READ
    deferred.refresh_from_db()
    assert deferred.state == WebhookEvent.State.PROCESSED
    assert deferred.processed_at is not None


def test_deferred_status_of_another_session_is_not_applied(api_client, main_session):
    received = bp.message_received()
    bp.post(api_client, bp.message_read(received["data"]["messageId"], session_id="user-9"))

    bp.post(api_client, received)

    assert Message.objects.get().status == Message.Status.DELIVERED
    assert WebhookEvent.objects.filter(state="deferred").count() == 1


def test_invalid_ack_is_rejected(api_client, main_session):
    response = bp.post(api_client, bp.message_status("message.read", "ABC", status=9))

    assert response.status_code == 400
    assert "data.status" in response.json()["error"]["message"]


# --- session events -------------------------------------------------------------------


def test_session_connected_updates_session_and_audits(api_client, main_session):
    main_session.status = WhatsAppSession.Status.QR_PENDING
    main_session.qr_code = "data:image/png;base64,AAAA"
    main_session.phone_number = ""
    main_session.connected_at = None
    main_session.save()

    response = bp.post(api_client, bp.session_connected(timestamp=bp.BASE_MS + 5000))

    assert response.status_code == 200
    main_session.refresh_from_db()
    assert main_session.status == WhatsAppSession.Status.CONNECTED
    assert main_session.qr_code == ""
    assert main_session.qr_expires_at is None
    assert main_session.phone_number == "+14155550100"
    assert main_session.connected_at == ms_to_datetime(bp.BASE_MS + 5000)
    audit = AuditLog.objects.get(action="session_connected")
    assert audit.resource_type == "whatsappsession"
    assert audit.resource_id == str(main_session.pk)
    assert audit.changes["status"] == "connected"
    assert audit.ip_address == "127.0.0.1"


def test_session_disconnected_updates_session_and_audits(api_client, main_session):
    response = bp.post(api_client, bp.session_disconnected(timestamp=bp.BASE_MS + 9000))

    assert response.status_code == 200
    main_session.refresh_from_db()
    assert main_session.status == WhatsAppSession.Status.DISCONNECTED
    assert main_session.disconnected_at == ms_to_datetime(bp.BASE_MS + 9000)
    assert main_session.metadata["disconnect_reason"] == "logged out"
    assert AuditLog.objects.filter(action="session_disconnected").count() == 1


def test_unknown_session_is_created_by_session_connected(api_client):
    bp.post(api_client, bp.session_connected(session_id="user-3", origin="14155550166"))

    session = WhatsAppSession.objects.get(bridge_session_id="user-3")
    assert session.status == WhatsAppSession.Status.CONNECTED
    assert session.user.phone_number == "+14155550166"
    assert session.session_type == WhatsAppSession.SessionType.USER


def test_late_session_event_changes_nothing(api_client, main_session):
    bp.post(api_client, bp.session_disconnected(timestamp=bp.BASE_MS + 9000))

    bp.post(api_client, bp.session_connected(timestamp=bp.BASE_MS + 1000))  # older: a retry

    main_session.refresh_from_db()
    assert main_session.status == WhatsAppSession.Status.DISCONNECTED
    assert AuditLog.objects.filter(action="session_connected").count() == 0


def test_unknown_session_without_origin_is_ignored_with_the_reason(api_client):
    response = bp.post(api_client, bp.message_received(session_id="ghost", origin=None))

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.IGNORED
    assert event.error == (
        "The session 'ghost' is not known and cannot be created without its phone "
        "number: origin is missing."
    )
    assert response.json()["events"][0]["error"] == event.error
    assert not WhatsAppSession.objects.exists()


# --- idempotence, lists ------------------------------------------------------------------


def test_redelivered_event_stores_one_message(api_client, main_session):
    payload = bp.message_received()

    first = bp.post(api_client, payload)
    second = bp.post(api_client, payload)

    assert first.status_code == second.status_code == 200
    assert Message.objects.count() == 1
    assert WebhookEvent.objects.filter(state="processed").count() == 2


def test_list_of_events(api_client):
    received = bp.message_received()
    sent = bp.message_sent()
    events = [
        bp.session_connected(),
        received,
        sent,
        bp.message_read(sent["data"]["messageId"]),
        received,  # a duplicate within the list
        {"eventType": "presence.update", "sessionId": "main", "data": {}},
    ]

    response = bp.post(api_client, events)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["received"] == 6
    assert (body["processed"], body["ignored"]) == (5, 1)
    assert [event["state"] for event in body["events"]] == ["processed"] * 5 + ["ignored"]
    assert Message.objects.count() == 2
    assert Message.objects.get(wa_message_id=sent["data"]["messageId"]).status == "read"
    assert WebhookEvent.objects.count() == 6


def test_list_with_an_invalid_event_stores_all_and_processes_the_valid_ones(api_client):
    good = bp.message_received()
    bad = bp.message_received(timestamp=-5)

    response = bp.post(api_client, [good, bad])

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_event"
    assert "events[1]: data.timestamp must be epoch milliseconds." in error["message"]
    assert error["details"]["events"][0]["index"] == 1
    assert Message.objects.count() == 1
    assert sorted(WebhookEvent.objects.values_list("state", flat=True)) == [
        "processed",
        "rejected",
    ]


def test_empty_list_is_rejected(api_client):
    response = bp.post(api_client, [])

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_too_many_events_in_one_list(api_client, settings):
    from messaging.ingest.receive import MAX_EVENTS_PER_DELIVERY

    events = [bp.message_received() for _ in range(MAX_EVENTS_PER_DELIVERY + 1)]

    response = bp.post(api_client, events)

    assert response.status_code == 413
    assert not Message.objects.exists()
    assert WebhookEvent.objects.get().state == WebhookEvent.State.REJECTED


# --- bad input ---------------------------------------------------------------------------


def test_malformed_json_is_stored_and_rejected(api_client):
    response = bp.post(api_client, b'{"sessionId": "main", "eventType": ')

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert error["message"].startswith("The body is not valid JSON")
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.REJECTED
    assert event.payload is None
    assert event.raw_body == '{"sessionId": "main", "eventType": '
    assert "not valid JSON" in event.error


def test_malformed_body_is_truncated_when_stored(api_client):
    body = b"[" + b'"x",' * 40000  # 160 kB, unterminated

    response = bp.post(api_client, body)

    assert response.status_code == 400
    assert len(WebhookEvent.objects.get().raw_body) == 64 * 1024


def test_json_that_is_not_an_event(api_client):
    response = bp.post(api_client, b"42")

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "event must be a JSON object."
    assert WebhookEvent.objects.get().payload == 42


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p.pop("sessionId"), "sessionId"),
        (lambda p: p.pop("eventType"), "eventType"),
        (lambda p: p.update(data="hello"), "data"),
        (lambda p: p["data"].update(messageId=12), "data.messageId"),
        (lambda p: p["data"].update(**{"from": "not a jid"}), "data.from"),
        (lambda p: p["data"].update(timestamp="yesterday"), "data.timestamp"),
        (lambda p: p["data"].update(timestamp=-1), "data.timestamp"),
        (lambda p: p.update(timestamp=-1), "timestamp"),
    ],
)
def test_what_is_not_a_bridge_event_is_rejected_naming_the_field(api_client, change, field):
    payload = bp.message_received()
    change(payload)

    response = bp.post(api_client, payload)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_event"
    assert error["message"].startswith(field + " ")
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.REJECTED
    assert event.error == error["message"]
    assert event.payload == payload
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p: p.pop("data"), "No data.messageId"),
        (lambda p: p["data"].pop("messageId"), "No data.messageId"),
        (lambda p: p["data"].pop("from"), "without data.from"),
    ],
)
def test_a_bridge_event_zapa_cannot_act_on_is_ignored_with_the_reason(
    api_client, main_session, change, reason
):
    payload = bp.message_received()
    change(payload)

    response = bp.post(api_client, payload)

    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.IGNORED
    assert reason in event.error
    assert event.processed_at is not None
    assert not Message.objects.exists()


def test_outgoing_message_without_recipient_is_ignored(api_client, main_session):
    response = bp.post(api_client, bp.message_sent(to=None))

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.IGNORED
    assert "without data.to" in event.error


def test_unknown_event_type_is_stored_and_ignored(api_client):
    payload = {"sessionId": "main", "eventType": "chat.archived", "data": {"chatId": "x"}}

    response = bp.post(api_client, payload)

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.IGNORED
    assert event.event_type == "chat.archived"
    assert event.processed_at is not None


def test_nul_characters_and_lone_surrogates_are_cleaned_not_refused(api_client, main_session):
    # PostgreSQL refuses NUL and lone surrogates; the bridge's traffic is never refused.
    payload = bp.message_received(text="a\u0000b\ud800c", pushName="\u0000x")

    response = bp.post(api_client, payload)

    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.get().state == WebhookEvent.State.PROCESSED
    assert Message.objects.get().content == "ab?c"


def test_get_is_not_allowed(api_client):
    response = api_client.get(bp.webhook_path())

    assert response.status_code == 405
    assert "error" in response.json()


# --- credentials -------------------------------------------------------------------------


def test_wrong_token_is_rejected_and_nothing_is_stored(api_client):
    response = bp.post(api_client, bp.message_received(), token="wrong-token")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert not WebhookEvent.objects.exists()
    assert not Message.objects.exists()


def test_wrong_token_with_garbage_body_is_still_401(api_client):
    response = bp.post(api_client, b"{oops", token="nope")

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_token_never_reaches_the_logs(api_client, caplog, settings):
    caplog.set_level(logging.DEBUG)

    bp.post(api_client, bp.message_received(messageId=None))  # 400
    bp.post(api_client, b"not json")  # 400
    bp.post(api_client, bp.message_received())  # 200

    assert caplog.records, "the rejections are logged"
    assert all(settings.WEBHOOK_TOKEN not in record.getMessage() for record in caplog.records)


SECRET_RAW = "a-raw-shared-secret-for-tests"
SECRET_WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def now_seconds():
    import time

    return int(time.time())


@pytest.mark.parametrize("secret", [SECRET_RAW, SECRET_WHSEC])
def test_valid_signature_is_accepted(api_client, settings, now_seconds, secret):
    settings.WEBHOOK_SECRET = secret
    body = json.dumps(bp.message_received()).encode()

    response = bp.post(
        api_client, body, headers=bp.signed_headers(body, secret=secret, timestamp=now_seconds)
    )

    assert response.status_code == 200, response.content
    assert Message.objects.count() == 1


def test_whsec_secret_is_base64_decoded(settings, now_seconds):
    """Cross-check against the Standard Webhooks reference computation."""
    import base64
    import hashlib
    import hmac

    from messaging import webhook_auth

    key = base64.b64decode(SECRET_WHSEC.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(
            key, f"msg_p5jXN8AQM9LWM0D4loKWxJek.{now_seconds}.{{}}".encode(), hashlib.sha256
        ).digest()
    ).decode()

    signature = webhook_auth.sign(
        secret=SECRET_WHSEC,
        message_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=now_seconds,
        body=b"{}",
    )

    assert signature == "v1," + expected


def test_one_matching_signature_among_several_is_enough(api_client, settings, now_seconds):
    settings.WEBHOOK_SECRET = SECRET_RAW
    body = json.dumps(bp.message_received()).encode()
    headers = bp.signed_headers(body, secret=SECRET_RAW, timestamp=now_seconds)
    headers["webhook-signature"] = "v1,bm90LXRoZS1zaWduYXR1cmU= " + headers["webhook-signature"]

    assert bp.post(api_client, body, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("tamper", "status", "code"),
    [
        (lambda h, body: {}, 401, "signature_required"),
        (lambda h, body: {**h, "webhook-signature": ""}, 401, "signature_required"),
        (
            lambda h, body: {k: v for k, v in h.items() if k != "webhook-id"},
            401,
            "signature_required",
        ),
        (lambda h, body: {**h, "webhook-signature": "v1,AAAA"}, 403, "invalid_signature"),
        (lambda h, body: {**h, "webhook-id": "another-id"}, 403, "invalid_signature"),
        (lambda h, body: {**h, "webhook-timestamp": "yesterday"}, 403, "invalid_signature"),
        (
            lambda h, body: bp.signed_headers(
                body, secret="some-other-secret", timestamp=int(h["webhook-timestamp"])
            ),
            403,
            "invalid_signature",
        ),
        (
            lambda h, body: bp.signed_headers(
                body, secret=SECRET_RAW, timestamp=int(h["webhook-timestamp"]) - 301
            ),
            403,
            "stale_signature",
        ),
        (
            lambda h, body: bp.signed_headers(
                body, secret=SECRET_RAW, timestamp=int(h["webhook-timestamp"]) + 600
            ),
            403,
            "stale_signature",
        ),
    ],
    ids=[
        "no-headers",
        "empty-signature",
        "no-id",
        "wrong-signature",
        "id-changed",
        "bad-timestamp",
        "other-secret",
        "stale",
        "future",
    ],
)
def test_bad_signatures_are_rejected_and_nothing_stored(
    api_client, settings, now_seconds, tamper, status, code
):
    settings.WEBHOOK_SECRET = SECRET_RAW
    body = json.dumps(bp.message_received()).encode()
    headers = tamper(bp.signed_headers(body, secret=SECRET_RAW, timestamp=now_seconds), body)

    response = bp.post(api_client, body, headers=headers)

    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert not WebhookEvent.objects.exists()
    assert not Message.objects.exists()


def test_signed_body_cannot_be_swapped(api_client, settings, now_seconds):
    settings.WEBHOOK_SECRET = SECRET_RAW
    signed = json.dumps(bp.message_received()).encode()
    headers = bp.signed_headers(signed, secret=SECRET_RAW, timestamp=now_seconds)

    response = bp.post(api_client, json.dumps(bp.message_received()).encode(), headers=headers)

    assert response.status_code == 403


def test_webhook_needs_no_session_or_csrf(main_session):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)

    assert bp.post(client, bp.message_received()).status_code == 200


# --- OpenAPI -------------------------------------------------------------------------------


def test_openapi_documents_the_webhook(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    operation = schema["paths"]["/api/v1/webhooks/whatsapp/{token}/"]["post"]
    assert {"200", "202", "400", "401", "403", "503"} <= set(operation["responses"])
    assert operation["requestBody"]["content"]["application/json"]["schema"]
