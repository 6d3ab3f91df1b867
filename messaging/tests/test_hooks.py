"""`messages_stored`: sent once the messages are committed; from the webhook, only
after its answer has gone out (the WSGI server closes the response after sending it)."""

import json

import pytest
from django.conf import settings
from django.test import RequestFactory

from messaging.api.webhook_views import WhatsAppWebhookView
from messaging.ingest import hooks
from messaging.ingest.receive import delivery_receive
from messaging.tests import bridge_payloads as bp
from messaging.tests.factories import WhatsAppSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    calls = []

    def receiver(sender, messages, **kwargs):
        calls.append(messages)

    hooks.messages_stored.connect(receiver)
    yield calls
    hooks.messages_stored.disconnect(receiver)


@pytest.fixture
def main_session():
    return WhatsAppSessionFactory(bridge_session_id="main", session_type="main")


def test_the_webhook_announces_after_its_answer_is_sent(heard, main_session):
    event = bp.message_received(text="Hello")
    request = RequestFactory().post(
        bp.webhook_path(), data=json.dumps(event), content_type="application/json"
    )

    response = WhatsAppWebhookView.as_view()(request, token=settings.WEBHOOK_TOKEN)

    assert response.status_code == 200
    assert heard == []  # answered, not yet sent: nothing heard
    response.close()  # what the WSGI server does once the answer is out
    assert heard == [[("main", event["data"]["messageId"], "incoming")]]


def test_a_rejected_delivery_still_announces_the_valid_events(heard, main_session):
    good = bp.message_received(text="Hello")
    bad = bp.message_received(text="Hello", timestamp=-5)
    request = RequestFactory().post(
        bp.webhook_path(), data=json.dumps([good, bad]), content_type="application/json"
    )

    response = WhatsAppWebhookView.as_view()(request, token=settings.WEBHOOK_TOKEN)
    response.close()

    assert response.status_code == 400
    assert heard == [[("main", good["data"]["messageId"], "incoming")]]


def test_outside_the_webhook_announcements_are_sent_at_once(heard, main_session):
    event = bp.message_received(text="Hello")

    delivery_receive(body=json.dumps(event).encode())

    assert heard == [[("main", event["data"]["messageId"], "incoming")]]


def test_a_failing_receiver_never_fails_the_delivery(api_client, main_session, caplog):
    def broken(sender, messages, **kwargs):
        raise RuntimeError("receiver down")

    hooks.messages_stored.connect(broken)
    try:
        response = bp.post(api_client, bp.message_received(text="Hello"))
    finally:
        hooks.messages_stored.disconnect(broken)

    assert response.status_code == 200
    assert "receiver failed" in caplog.text
