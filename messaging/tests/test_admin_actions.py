"""Message and session admin actions: streamed CSV export, disconnecting at the bridge."""

import csv
import io
from datetime import UTC, datetime, timedelta

import factory
import pytest
from django.urls import reverse

from core.models import AuditLog
from messaging.export import EXPORT_FIELDS
from messaging.models import WhatsAppSession
from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory
from messaging.tests.fake_bridge import FakeBridgeServer

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
MESSAGES = reverse("admin:messaging_message_changelist")
SESSIONS = reverse("admin:messaging_whatsappsession_changelist")


def csv_rows(response) -> list[dict]:
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_export_selected_messages_as_streamed_csv(admin_client_logged_in, staff_user):
    messages = MessageFactory.create_batch(
        4,
        timestamp=factory.Iterator([T0 + timedelta(minutes=n) for n in (3, 1, 2, 0)]),
        content=factory.Iterator(["=SUM(A1)", "hello", "bye", "not me"]),
    )
    selected = messages[:3]

    response = admin_client_logged_in.post(
        MESSAGES,
        {"action": "export_csv", "index": 0, "_selected_action": [m.pk for m in selected]},
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="zapa-messages-')
    rows = csv_rows(response)
    assert list(rows[0]) == list(EXPORT_FIELDS)
    assert [int(row["id"]) for row in rows] == [messages[1].pk, messages[2].pk, messages[0].pk]
    assert rows[2]["content"] == "'=SUM(A1)"  # not a formula in a spreadsheet
    audit = AuditLog.objects.get(action="messages_exported")
    assert audit.actor == staff_user


def test_export_all_messages_matching_a_search(admin_client_logged_in):
    hits = MessageFactory.create_batch(3, content="invoice attached")
    MessageFactory.create_batch(2, content="something else")

    response = admin_client_logged_in.post(
        f"{MESSAGES}?q=invoice",
        {
            "action": "export_csv",
            "index": 0,
            "select_across": 1,
            "_selected_action": [hits[0].pk],
        },
    )

    assert sorted(int(row["id"]) for row in csv_rows(response)) == sorted(m.pk for m in hits)


@pytest.fixture
def bridge(settings):
    with FakeBridgeServer() as server:
        settings.WHATSAPP_BRIDGE_URL = server.url
        yield server


def test_disconnect_sessions_action(admin_client_logged_in, bridge):
    known = WhatsAppSessionFactory(bridge_session_id="known")
    bridge.sessions["known"] = {"id": "known", "status": "connected"}
    unknown = WhatsAppSessionFactory(bridge_session_id="unknown")
    other = WhatsAppSessionFactory()

    response = admin_client_logged_in.post(
        SESSIONS,
        {"action": "disconnect_sessions", "index": 0, "_selected_action": [known.pk, unknown.pk]},
        follow=True,
    )

    assert "Disconnected 2 session(s)." in response.text
    assert bridge.sessions == {}
    statuses = dict(WhatsAppSession.objects.values_list("pk", "status"))
    assert statuses == {known.pk: "disconnected", unknown.pk: "disconnected", other.pk: "connected"}


def test_disconnect_sessions_action_reports_bridge_failures(admin_client_logged_in, bridge):
    session = WhatsAppSessionFactory(bridge_session_id="flaky")
    bridge.mode = "error"
    response = admin_client_logged_in.post(
        SESSIONS,
        {"action": "disconnect_sessions", "index": 0, "_selected_action": [session.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Session flaky: The WhatsApp bridge answered 500" in response.text
    assert WhatsAppSession.objects.get(pk=session.pk).status == "connected"
