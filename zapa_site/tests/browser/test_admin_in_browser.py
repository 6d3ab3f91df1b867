"""The admin in a real browser: logging in, the dashboard, searching and reading
conversations, setting an LLM key that is never shown again, pairing a number."""

from datetime import timedelta

import factory
import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from zapa_site.tests.browser.conftest import artifact_path, log_in, no_horizontal_overflow

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

CHAT = "14155550123@s.whatsapp.net"


def conversation(user=None):
    """A chat with an incoming question, a reply to it and a located photo."""
    from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

    session = WhatsAppSessionFactory(**({"user": user} if user else {}))
    now = timezone.now()
    question = MessageFactory(
        session=session,
        chat_jid=CHAT,
        timestamp=now - timedelta(minutes=10),
        content="Is the rooftop terrace open tonight?",
    )
    answer = MessageFactory(
        session=session,
        chat_jid=CHAT,
        timestamp=now - timedelta(minutes=9),
        direction="outgoing",
        status="read",
        reply_to=question,
        content="Yes, until 11pm.",
    )
    photo = MessageFactory(
        session=session,
        chat_jid=CHAT,
        timestamp=now - timedelta(minutes=8),
        message_type="image",
        content=None,
        caption="View from the terrace",
        media_metadata={"mime_type": "image/jpeg", "size": 204800, "width": 1600, "height": 1200},
    )
    return session, question, answer, photo


def test_staff_log_in_and_see_the_dashboard_with_its_chart(page, staff):
    from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

    session = WhatsAppSessionFactory()
    now = timezone.now()
    MessageFactory.create_batch(
        6,
        session=session,
        timestamp=factory.Iterator(
            [now - timedelta(days=d, minutes=1) for d in (0, 0, 0, 1, 2, 9)]
        ),
    )

    log_in(page, staff)

    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    card = page.locator("#zapa-messages-today")
    expect(card.locator(".zapa-card-value")).to_have_text("3")
    chart = page.get_by_role("img", name="Messages per day, last 30 days")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 80
    bars = page.locator("rect.zapa-chart-bar")
    expect(bars).to_have_count(30)
    today = bars.nth(29).bounding_box()
    yesterday = bars.nth(28).bounding_box()
    assert today["height"] > yesterday["height"] > 0  # 3 against 1 message
    assert (
        page.locator("#zapa-sessions")
        .get_by_role("link", name="Connected", exact=True)
        .is_visible()
    )
    page.screenshot(path=artifact_path("dashboard-1280"), full_page=True)

    # A phone-sized screen: everything wraps, nothing scrolls sideways.
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    expect(chart).to_be_visible()
    assert no_horizontal_overflow(page)
    page.screenshot(path=artifact_path("dashboard-375"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.reload()
    assert no_horizontal_overflow(page)
    page.screenshot(path=artifact_path("dashboard-375-dark"), full_page=True)


def test_a_wrong_password_is_refused(page, staff):
    page.goto("/admin/login/")
    page.get_by_label("Phone number").fill(staff.phone_number)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".errornote")).to_be_visible()
    assert "/admin/login/" in page.url


def test_search_messages_and_open_the_conversation(staff_page):
    page = staff_page
    _, question, answer, photo = conversation()

    page.goto("/admin/messaging/message/")
    page.locator("#searchbar").fill("rooftop")
    page.locator("#searchbar").press("Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Is the rooftop terrace open tonight?")

    rows.first.get_by_role("link", name="Open").click()

    expect(page.get_by_role("heading", name=f"Conversation with {CHAT}")).to_be_visible()
    highlighted = page.locator(f"#m{question.pk}")
    expect(highlighted).to_have_class("zapa-bubble zapa-highlight")
    expect(page.locator(f"#m{answer.pk}")).to_have_class("zapa-bubble zapa-out")
    expect(page.locator(f"#m{answer.pk} .zapa-status-read")).to_contain_text("Read")
    expect(page.locator(f"#m{photo.pk} .zapa-media-label")).to_have_text("Image")
    expect(page.locator(f"#m{photo.pk}")).to_contain_text("1600 by 1200 px")
    # Outgoing bubbles sit on the right, incoming ones on the left.
    assert (
        page.locator(f"#m{answer.pk}").bounding_box()["x"]
        > page.locator(f"#m{question.pk}").bounding_box()["x"]
    )


def test_read_a_conversation_from_the_users_page(staff_page):
    page = staff_page
    session, question, answer, _photo = conversation()

    page.goto(f"/admin/accounts/user/{session.user.pk}/change/")
    page.get_by_role("link", name="Conversations").click()
    page.get_by_role("link", name=CHAT).click()

    bubbles = page.locator("li.zapa-bubble")
    expect(bubbles).to_have_count(3)
    page.locator(f"#m{answer.pk} .zapa-quote").click()  # the reply leads to its original
    assert page.url.endswith(f"#m{question.pk}")

    page.get_by_label("Search this conversation").fill("terrace")
    page.get_by_role("button", name="Search").click()
    expect(bubbles).to_have_count(2)  # the question and the photo's caption
    page.screenshot(path=artifact_path("conversation-1280"), full_page=True)

    page.set_viewport_size({"width": 375, "height": 800})
    page.get_by_role("link", name="Show the whole conversation").click()
    expect(bubbles).to_have_count(3)
    assert no_horizontal_overflow(page)
    page.screenshot(path=artifact_path("conversation-375"), full_page=True)


def test_an_llm_key_is_nowhere_on_any_page_after_saving(staff_page, settings):
    from accounts.tests.factories import UserFactory
    from llm.models import LLMConfig
    from llm.tests.fake_provider import FakeProviderServer, fake_key

    page = staff_page
    owner = UserFactory()
    key = fake_key("openai")

    page.goto("/admin/llm/llmconfig/add/")
    page.locator("#id_user").fill(str(owner.pk))
    page.get_by_label("Provider").select_option("openai")
    page.get_by_label("API key").fill(key)
    page.get_by_label("Model settings").fill('{"model": "gpt-4o-mini"}')
    page.get_by_label("Is active").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    config = LLMConfig.objects.get(user=owner)
    assert config.get_api_key() == key

    for path in (
        "/admin/llm/llmconfig/",
        f"/admin/llm/llmconfig/{config.pk}/change/",
        f"/admin/llm/llmconfig/{config.pk}/history/",
        f"/admin/llm/llmconfig/{config.pk}/delete/",
        "/admin/",
        "/admin/core/auditlog/",
        f"/admin/accounts/user/{owner.pk}/change/",
    ):
        page.goto(path)
        html = page.content()
        assert key not in html, path
        assert key[:-4] not in html, path

    page.goto(f"/admin/llm/llmconfig/{config.pk}/change/")
    expect(page.get_by_text(f"…{key[-4:]}").first).to_be_visible()
    assert page.get_by_label("API key").input_value() == ""

    # Checking the key reports the outcome, still without the key.
    with FakeProviderServer() as provider:
        provider.valid_keys.add(key)
        settings.LLM_PROVIDER_BASE_URLS = provider.base_urls()
        page.goto("/admin/llm/llmconfig/")
        page.locator(f'input[name="_selected_action"][value="{config.pk}"]').check()
        page.locator('select[name="action"]').select_option("check_keys")
        page.get_by_role("button", name="Go").click()
        expect(page.locator(".messagelist .success")).to_contain_text(f"…{key[-4:]}")
        assert key[:-4] not in page.content()


def test_pair_a_session_against_the_fake_bridge(staff_page, settings, live_server):
    from messaging.models import WhatsAppSession
    from messaging.tests.factories import WhatsAppSessionFactory
    from messaging.tests.fake_bridge import FakeBridgeServer

    page = staff_page
    session = WhatsAppSessionFactory(
        bridge_session_id="front-desk", status="disconnected", connected_at=None, phone_number=""
    )
    with FakeBridgeServer() as bridge:
        settings.WHATSAPP_BRIDGE_URL = bridge.url

        page.goto(f"/admin/messaging/whatsappsession/{session.pk}/change/")
        page.get_by_role("link", name="Connect (QR code)").click()
        page.get_by_role("button", name="Connect").click()

        qr = page.get_by_role("img", name="QR code to link a phone's WhatsApp")
        expect(qr).to_be_visible()
        assert page.evaluate(
            "img => img.complete && img.naturalWidth > 100", qr.element_handle()
        ), "the QR image did not decode"
        expect(page.locator("#zapa-session-status")).to_have_attribute("data-status", "qr_pending")
        expect(page.get_by_text("Expires in")).to_be_visible()
        page.screenshot(path=artifact_path("pairing-qr-1280"), full_page=True)

        # The phone scans the code: the bridge reports it by webhook.
        bridge.connect("front-desk", phone_number="14155550142")
        response = httpx.post(
            f"{live_server.url}/api/v1/webhooks/whatsapp/{settings.WEBHOOK_TOKEN}/",
            json={
                "sessionId": "front-desk",
                "origin": "14155550142",
                "eventType": "session.connected",
                "timestamp": int(timezone.now().timestamp() * 1000),
                "data": {"phoneNumber": "14155550142", "name": "Front desk"},
            },
            timeout=10,
        )
        assert response.status_code < 300, response.text

        # The page reloads itself and shows the session connected.
        expect(page.locator("#zapa-session-status")).to_have_attribute(
            "data-status", "connected", timeout=20_000
        )
        expect(page.get_by_text("+14155550142")).to_be_visible()
        expect(qr).to_have_count(0)
        assert WhatsAppSession.objects.get(pk=session.pk).status == "connected"
        page.set_viewport_size({"width": 375, "height": 800})
        assert no_horizontal_overflow(page)
        page.screenshot(path=artifact_path("pairing-connected-375"), full_page=True)


def test_pairing_with_the_bridge_down_shows_an_error(staff_page, settings):
    from core.testing.ports import unused_port_url
    from messaging.tests.factories import WhatsAppSessionFactory

    page = staff_page
    settings.WHATSAPP_BRIDGE_URL = unused_port_url()
    session = WhatsAppSessionFactory(status="disconnected", connected_at=None)

    page.goto(f"/admin/messaging/whatsappsession/{session.pk}/pairing/")
    page.get_by_role("button", name="Connect").click()

    expect(page.locator(".messagelist .error")).to_contain_text(
        "Could not start pairing: Cannot reach the WhatsApp bridge"
    )
    page.set_viewport_size({"width": 375, "height": 800})
    assert no_horizontal_overflow(page)
    page.screenshot(path=artifact_path("pairing-bridge-down-375"), full_page=True)
