"""Every shape the real bridge (zapw, Baileys underneath) was seen sending, posted exactly
as it sends it: each one is taken (2xx) and stored as the docs say (docs/bridge.md)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.forms import MultiWidget
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import UserFactory
from core.models import AuditLog
from messaging.ingest.store import DEFERRED_STATUS_TTL
from messaging.models import Message, WebhookEvent, WhatsAppSession
from messaging.tests import bridge_payloads as bp
from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

pytestmark = pytest.mark.django_db

MOCK_NUMBER = "1234567890"  # the bridge mock's own number; libphonenumber calls it invalid


@pytest.fixture
def main_session():
    owner = UserFactory(phone_number="+" + bp.ASSISTANT)
    return WhatsAppSessionFactory(
        user=owner, bridge_session_id="main", session_type=WhatsAppSession.SessionType.MAIN
    )


def zapw_status(event_type: str, message_id: str, status=None) -> dict:
    """A Baileys status update as zapw relays it: data is messageId (+ status) only."""
    data = {"messageId": message_id}
    if status is not None:
        data["status"] = status
    return {
        "sessionId": "main",
        "origin": bp.ASSISTANT,
        "eventType": event_type,
        "timestamp": bp.BASE_MS,
        "data": data,
    }


def zapw_untyped(**data) -> dict:
    """A sticker, reaction or wrapped message: no type and no text."""
    fields = {
        "from": f"{bp.CONTACT}@s.whatsapp.net",
        "to": f"{bp.ASSISTANT}:7@s.whatsapp.net",
        "messageId": bp.new_message_id(),
        "timestamp": bp.BASE_MS,
        "isGroup": False,
        **data,
    }
    return bp.envelope("message.received", {k: v for k, v in fields.items() if v is not None})


# --- 1. status updates ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "status", "expected"),
    [
        ("message.sent", None, "sent"),  # a missing status on message.sent means sent
        ("message.sent", 2, "sent"),
        ("message.sent", 3, "delivered"),
        ("message.sent", 4, "read"),
        ("message.delivered", None, "delivered"),
        ("message.read", None, "read"),
    ],
)
def test_status_updates_with_only_a_message_id_are_taken(
    api_client, main_session, event_type, status, expected
):
    message = MessageFactory(
        session=main_session, direction="outgoing", status=Message.Status.PENDING
    )

    response = bp.post(api_client, zapw_status(event_type, message.wa_message_id, status))

    assert response.status_code == 200, response.content
    message.refresh_from_db()
    assert message.status == expected
    assert WebhookEvent.objects.get().state == WebhookEvent.State.PROCESSED
    assert Message.objects.count() == 1  # a status update is not a message


def test_status_update_before_its_message_waits_for_it(api_client, main_session):
    sent = bp.message_sent()
    message_id = sent["data"]["messageId"]

    early = bp.post(api_client, zapw_status("message.sent", message_id, 4))
    assert early.status_code == 202
    assert WebhookEvent.objects.get().state == WebhookEvent.State.DEFERRED

    assert bp.post(api_client, sent).status_code == 200

    assert Message.objects.get().status == Message.Status.READ
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {"processed"}


def test_message_sent_with_a_body_is_an_outgoing_message_from_the_phone(api_client, main_session):
    payload = bp.envelope(
        "message.sent",
        {
            "to": f"{bp.CONTACT}@s.whatsapp.net",
            "messageId": "3EB0PHONE",
            "timestamp": bp.BASE_MS,
            "type": "text",
            "text": "typed on the phone",
        },
    )

    response = bp.post(api_client, payload)

    assert response.status_code == 200, response.content
    message = Message.objects.get()
    assert message.direction == Message.Direction.OUTGOING
    assert message.content == "typed on the phone"
    assert message.sender_jid == f"{bp.ASSISTANT}@s.whatsapp.net"  # from origin
    assert message.chat_jid == f"{bp.CONTACT}@s.whatsapp.net"
    assert message.user.phone_number == "+" + bp.CONTACT


def test_status_of_a_message_zapa_never_stores_is_given_up_then_purged(api_client, main_session):
    """A login code's status: its text is never stored, so its message never comes."""
    bp.post(api_client, zapw_status("message.sent", "3EB0LOGINCODE", 3))
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.DEFERRED

    call_command("process_webhook_events", stdout=StringIO())
    event.refresh_from_db()
    assert event.state == WebhookEvent.State.DEFERRED  # not given up too early

    WebhookEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - DEFERRED_STATUS_TTL - timedelta(minutes=1)
    )
    out = StringIO()
    call_command("process_webhook_events", stdout=out)

    event.refresh_from_db()
    assert event.state == WebhookEvent.State.IGNORED
    assert "No message with this id arrived" in event.error
    assert event.processed_at is not None
    assert "1 deferred status waited too long" in out.getvalue()

    WebhookEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(days=31))
    call_command("purge", "--events-older-than", "30", stdout=StringIO())
    assert not WebhookEvent.objects.exists()


def test_purge_gives_up_stale_deferred_statuses_too(api_client, main_session):
    bp.post(api_client, zapw_status("message.sent", "3EB0GONE"))
    WebhookEvent.objects.update(
        received_at=timezone.now() - DEFERRED_STATUS_TTL - timedelta(hours=1)
    )

    call_command("purge", "--events-older-than", "30", stdout=StringIO())

    event = WebhookEvent.objects.get()  # younger than 30 days: kept, but no longer waiting
    assert event.state == WebhookEvent.State.IGNORED


# --- 2. kinds the bridge cannot name ----------------------------------------------------


def test_a_typeless_message_is_stored_as_unsupported_at_its_place(api_client, main_session):
    before = bp.message_received(timestamp=bp.BASE_MS - 60_000, text="before")
    sticker = zapw_untyped()
    after = bp.message_received(timestamp=bp.BASE_MS + 60_000, text="after")

    response = bp.post(api_client, [before, sticker, after])

    assert response.status_code == 200, response.content
    stored = list(Message.objects.order_by("timestamp"))
    assert [m.message_type for m in stored] == ["text", "unsupported", "text"]
    unsupported = stored[1]
    assert unsupported.wa_message_id == sticker["data"]["messageId"]
    assert (unsupported.content, unsupported.caption) == (None, None)
    assert unsupported.chat_jid == f"{bp.CONTACT}@s.whatsapp.net"
    assert unsupported.recipient_jid == f"{bp.ASSISTANT}@s.whatsapp.net"  # device suffix gone
    assert unsupported.user.phone_number == "+" + bp.CONTACT
    assert "original_type" not in unsupported.media_metadata


def test_a_typeless_group_message_is_stored_in_its_group(api_client, main_session):
    payload = zapw_untyped(
        **{"from": f"{bp.CONTACT}@s.whatsapp.net", "isGroup": True, "groupId": "120363@g.us"}
    )

    assert bp.post(api_client, payload).status_code == 200

    message = Message.objects.get()
    assert message.message_type == Message.MessageType.UNSUPPORTED
    assert message.chat_jid == "120363@g.us"


@pytest.mark.parametrize("bridge_type", ["sticker", "reaction", "poll", "viewOnce"])
def test_a_type_zapa_does_not_know_keeps_its_name(api_client, main_session, bridge_type):
    response = bp.post(api_client, zapw_untyped(type=bridge_type))

    assert response.status_code == 200
    message = Message.objects.get()
    assert message.message_type == Message.MessageType.UNSUPPORTED
    assert message.media_metadata["original_type"] == bridge_type


def test_a_text_without_text_is_unsupported_not_refused(api_client, main_session):
    response = bp.post(api_client, bp.message_received(type="text", text=None))

    assert response.status_code == 200
    message = Message.objects.get()
    assert message.message_type == Message.MessageType.UNSUPPORTED
    assert message.media_metadata["original_type"] == "text"


# --- timestamps, device suffixes ----------------------------------------------------------


def test_a_null_timestamp_falls_back_to_the_envelope(api_client, main_session):
    payload = bp.message_received(timestamp=None)
    payload["data"]["timestamp"] = None  # sent as JSON null

    assert bp.post(api_client, payload).status_code == 200

    assert Message.objects.get().timestamp.timestamp() * 1000 == bp.BASE_MS


def test_null_timestamps_everywhere_use_the_time_received(api_client, main_session):
    payload = bp.message_received()
    payload["data"]["timestamp"] = None
    payload["timestamp"] = None
    start = timezone.now()

    assert bp.post(api_client, payload).status_code == 200

    assert start <= Message.objects.get().timestamp <= timezone.now()


def test_a_device_suffixed_to_is_the_person(api_client, main_session):
    payload = bp.message_received(to=f"{bp.ASSISTANT}:7@s.whatsapp.net")

    assert bp.post(api_client, payload).status_code == 200

    assert Message.objects.get().recipient_jid == f"{bp.ASSISTANT}@s.whatsapp.net"


# --- 3. numbers libphonenumber calls invalid ------------------------------------------------


def test_session_connected_with_the_mocks_number_creates_the_session(api_client):
    payload = bp.envelope(
        "session.connected",
        {"phoneNumber": MOCK_NUMBER, "name": "Mock"},
        session_id="mock",
        origin=MOCK_NUMBER,
    )

    response = bp.post(api_client, payload)

    assert response.status_code == 200, response.content
    session = WhatsAppSession.objects.get(bridge_session_id="mock")
    assert session.status == WhatsAppSession.Status.CONNECTED
    assert session.phone_number == "+" + MOCK_NUMBER
    assert session.user.phone_number == "+" + MOCK_NUMBER
    assert not session.user.has_usable_password()


def test_messages_from_and_to_such_numbers_are_stored(api_client, settings):
    settings.WHATSAPP_MAIN_SESSION_ID = "mock"
    payload = bp.message_received(
        session_id="mock", origin=MOCK_NUMBER, **{"from": "49123456789@s.whatsapp.net"}
    )

    response = bp.post(api_client, payload)

    assert response.status_code == 200, response.content
    message = Message.objects.get()
    assert message.session.phone_number == "+" + MOCK_NUMBER
    assert message.session.session_type == WhatsAppSession.SessionType.MAIN
    assert message.user.phone_number == "+49123456789"
    assert User.objects.count() == 2


def test_an_origin_that_is_the_session_id_is_no_number_not_an_error(api_client, main_session):
    # zapw sends `session.phoneNumber || sessionId` as origin.
    to = f"{bp.ASSISTANT}:7@s.whatsapp.net"
    response = bp.post(api_client, bp.message_received(origin="main", to=to))

    assert response.status_code == 200, response.content
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    ("origin", "problem"),
    [
        ("123", "origin '123' has 3 digits; a phone number has 8-15"),
        ("0123456789", "origin '0123456789' must start with the country code, not 0"),
        ("ghost-session", "origin 'ghost-session' is not a phone number"),
    ],
)
def test_an_unknown_session_with_no_usable_number_is_ignored_naming_the_problem(
    api_client, origin, problem
):
    to = f"{bp.ASSISTANT}@s.whatsapp.net"
    response = bp.post(api_client, bp.message_received(session_id="ghost", origin=origin, to=to))

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.IGNORED
    assert event.error.endswith(problem + ".")
    assert not WhatsAppSession.objects.exists()


def test_numbers_typed_into_the_api_are_still_checked_strictly(api_client):
    response = api_client.post(
        "/api/v1/auth/request-code/", {"phone_number": "+" + MOCK_NUMBER}, format="json"
    )

    assert response.status_code == 400
    assert "not a valid phone number" in response.json()["error"]["message"]


def test_a_user_created_from_whatsapp_can_still_be_edited_in_the_admin(admin_client_logged_in):
    User.objects.create_whatsapp_users({"+" + MOCK_NUMBER: "Mock"})
    user = User.objects.get(phone_number="+" + MOCK_NUMBER)
    url = f"/admin/accounts/user/{user.pk}/change/"
    form = admin_client_logged_in.get(url).context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field.widget, MultiWidget):
            parts = zip(field.widget.widgets_names, field.widget.decompress(value), strict=True)
            data.update({name + suffix: part or "" for suffix, part in parts})
        elif value is not None and value is not False:
            data[name] = [str(v) for v in value] if isinstance(value, list) else str(value)
    data["display_name"] = "Renamed"

    response = admin_client_logged_in.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.display_name == "Renamed"
    assert user.phone_number == "+" + MOCK_NUMBER


# --- session.disconnected ------------------------------------------------------------------


def test_session_disconnected_with_a_reason_object(api_client, main_session):
    main_session.status = WhatsAppSession.Status.CONNECTED
    main_session.save()
    payload = bp.envelope(
        "session.disconnected",
        {"reason": {"reason": "Manual disconnect", "shouldReconnect": False}},
    )

    response = bp.post(api_client, payload)

    assert response.status_code == 200, response.content
    main_session.refresh_from_db()
    assert main_session.status == WhatsAppSession.Status.DISCONNECTED
    assert main_session.metadata["disconnect_reason"] == "Manual disconnect"
    audit = AuditLog.objects.get(action="session_disconnected")
    assert audit.changes["reason"] == "Manual disconnect"


# --- 5. WhatsApp Status posts ------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        {"from": "status@broadcast", "participant": f"{bp.CONTACT}@s.whatsapp.net"},
        {"to": "status@broadcast"},
        {"chat": "status@broadcast"},
        {"groupId": "status@broadcast"},
    ],
)
def test_status_posts_are_ignored_never_stored_in_a_private_chat(api_client, main_session, where):
    response = bp.post(api_client, bp.message_received(**where))

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.IGNORED
    assert "status@broadcast" in event.error
    assert not Message.objects.exists()


def test_an_event_without_data_is_ignored_not_refused(api_client, main_session):
    response = bp.post(api_client, {"sessionId": "main", "eventType": "message.sent", "data": {}})

    assert response.status_code == 200
    assert WebhookEvent.objects.get().state == WebhookEvent.State.IGNORED
