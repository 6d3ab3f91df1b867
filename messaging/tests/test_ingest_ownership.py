"""Who owns a message is written twice on purpose: as SQL in the PostgreSQL INSERT
(messaging.ingest.sql) and in Python for SQLite (messaging.ingest.orm). Both are held
here to `owned_by_contact`: this file runs on both databases."""

import pytest

from accounts.tests.factories import UserFactory
from messaging.ingest.orm import owned_by_contact
from messaging.models import Message, WhatsAppSession
from messaging.tests import bridge_payloads as bp
from messaging.tests.factories import WhatsAppSessionFactory

pytestmark = pytest.mark.django_db

CASES = [
    # session type, sender JID, outgoing?
    ("main", f"{bp.CONTACT}@s.whatsapp.net", False),
    ("main", f"{bp.CONTACT}:3@s.whatsapp.net", False),
    ("main", "123456789012345@lid", False),
    ("user", f"{bp.CONTACT}@s.whatsapp.net", False),
    ("user", "123456789012345@lid", False),
    ("main", None, True),  # outgoing from the phone to the contact
    ("user", None, True),
]


@pytest.mark.parametrize(("session_type", "sender", "outgoing"), CASES)
@pytest.mark.parametrize("contact_exists", [True, False])
def test_both_ingest_paths_follow_the_ownership_rule(
    api_client, session_type, sender, outgoing, contact_exists
):
    owner = UserFactory(phone_number="+" + bp.ASSISTANT)
    WhatsAppSessionFactory(user=owner, bridge_session_id="main", session_type=session_type)
    if contact_exists:
        UserFactory(phone_number="+" + bp.CONTACT)
    if outgoing:
        payload = bp.message_sent()
        contact_phone = "+" + bp.CONTACT
    else:
        payload = bp.message_received(**{"from": sender})
        contact_phone = "+" + bp.CONTACT if "@s.whatsapp.net" in sender else None

    response = bp.post(api_client, payload)

    assert response.status_code == 200, response.content
    message = Message.objects.select_related("user").get()
    if owned_by_contact(session_type, contact_phone):
        assert message.user.phone_number == contact_phone
    else:
        assert message.user == owner
    assert WhatsAppSession.objects.count() == 1
