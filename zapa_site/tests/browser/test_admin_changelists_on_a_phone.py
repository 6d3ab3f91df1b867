"""The big admin changelists on a phone-sized screen: rows with long unbroken values
make the table wider than the screen, and it scrolls inside its own box, as in
Django's own changelists, instead of widening the page."""

import pytest
from playwright.sync_api import expect

from zapa_site.tests.browser.conftest import artifact_path

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

PHONE = {"width": 390, "height": 844}
LONG_JID = "120363" + "4" * 40 + "@g.us"
LONG_WORD = "https://example.com/" + "a" * 180


def rows_with_long_values():
    from accounts.tests.factories import AuditLogFactory, UserFactory
    from messaging.tests.factories import (
        MessageFactory,
        WebhookEventFactory,
        WhatsAppSessionFactory,
    )

    user = UserFactory(display_name="Maximiliana" * 13)
    session = WhatsAppSessionFactory(user=user, bridge_session_id="wa-" + "7" * 95)
    MessageFactory(
        session=session,
        chat_jid=LONG_JID,
        sender_jid=LONG_JID,
        wa_message_id="3EB0" + "F" * 120,
        content=LONG_WORD,
    )
    MessageFactory(session=session, content="A short one.")
    WebhookEventFactory(session_key="wa-" + "7" * 95, error=LONG_WORD)
    AuditLogFactory(
        actor=user,
        action="session_connected",
        resource_type="whatsapp_session",
        resource_id="wa-" + "7" * 61,
    )


@pytest.mark.parametrize(
    "url",
    [
        "/admin/messaging/message/",
        "/admin/accounts/user/",
        "/admin/messaging/webhookevent/",
        "/admin/messaging/whatsappsession/",
        "/admin/core/auditlog/",
    ],
)
def test_a_wide_changelist_scrolls_inside_its_box_not_the_page(staff_page, url):
    page = staff_page
    rows_with_long_values()
    page.set_viewport_size(PHONE)

    page.goto(url)

    expect(page.locator("#result_list tbody tr").first).to_be_visible()
    results = page.locator("#changelist-form .results")
    assert results.evaluate("box => box.scrollWidth > box.clientWidth"), "the table fits"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    )
    page.screenshot(
        path=artifact_path(f"changelist-390-{url.strip('/').replace('/', '-')}"), full_page=True
    )
