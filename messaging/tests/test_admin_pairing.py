"""Pairing a WhatsApp number: the services against a fake bridge over real HTTP, and
the admin pages (connect, QR refresh, connected, disconnect, bridge failures)."""

import base64
import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from core.audit import AuditAction
from core.models import AuditLog
from core.testing.ports import unused_port_url
from core.whatsapp.bridge import BridgeError
from messaging import pairing
from messaging.models import WhatsAppSession
from messaging.services import sessions
from messaging.tests.factories import WhatsAppSessionFactory
from messaging.tests.fake_bridge import FakeBridgeServer

pytestmark = pytest.mark.django_db

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def bridge(settings):
    with FakeBridgeServer() as server:
        settings.WHATSAPP_BRIDGE_URL = server.url
        settings.WHATSAPP_BRIDGE_API_KEY = "bridge-api-key-for-tests"
        settings.WHATSAPP_BRIDGE_TIMEOUT = 5.0
        yield server


@pytest.fixture
def bridge_down(settings):
    settings.WHATSAPP_BRIDGE_URL = unused_port_url()
    settings.WHATSAPP_BRIDGE_TIMEOUT = 2.0


def pending_session(**kwargs) -> WhatsAppSession:
    kwargs.setdefault("status", WhatsAppSession.Status.DISCONNECTED)
    kwargs.setdefault("connected_at", None)
    kwargs.setdefault("phone_number", "")
    return WhatsAppSessionFactory(**kwargs)


def png_bytes(data_url: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix)
    return base64.b64decode(data_url[len(prefix) :])


def audit_actions(session) -> list[str]:
    return list(
        AuditLog.objects.filter(resource_type="whatsappsession", resource_id=str(session.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


# --- services -------------------------------------------------------------------


def test_connect_starts_the_session_at_the_bridge_and_keeps_its_qr(bridge, staff_user):
    session = pending_session(bridge_session_id="support")

    session = sessions.whatsapp_session_connect(session=session, actor=staff_user)

    [create] = bridge.requests_to("POST", "/sessions")
    assert create.body["sessionId"] == "support"
    assert create.headers["x-api-key"] == "bridge-api-key-for-tests"
    session.refresh_from_db()
    assert session.status == WhatsAppSession.Status.QR_PENDING
    assert png_bytes(session.qr_code).startswith(PNG_SIGNATURE)
    assert session.qr_expires_at > timezone.now()
    assert audit_actions(session) == [AuditAction.SESSION_CONNECT_REQUESTED]
    log = AuditLog.objects.get(action=AuditAction.SESSION_CONNECT_REQUESTED)
    assert log.actor == staff_user
    assert log.changes["status"] == ["disconnected", "qr_pending"]


def test_connect_reads_back_a_session_the_bridge_already_has(bridge):
    session = pending_session(bridge_session_id="support")
    sessions.whatsapp_session_connect(session=session)
    first_qr = WhatsAppSession.objects.get(pk=session.pk).qr_code

    sessions.whatsapp_session_connect(session=session)

    assert len(bridge.requests_to("POST", "/sessions")) == 2  # the second got 409
    assert len(bridge.requests_to("GET", "/sessions/support")) == 1
    assert WhatsAppSession.objects.get(pk=session.pk).qr_code == first_qr


def test_connect_restarts_a_session_the_bridge_holds_as_disconnected(bridge):
    session = pending_session(bridge_session_id="support")
    sessions.whatsapp_session_connect(session=session)
    bridge.sessions["support"]["status"] = "disconnected"

    sessions.whatsapp_session_connect(session=session)

    assert len(bridge.requests_to("DELETE", "/sessions/support")) == 1
    assert bridge.sessions["support"]["status"] == "qr_waiting"
    assert WhatsAppSession.objects.get(pk=session.pk).status == "qr_pending"


def test_connect_when_the_bridge_is_down_raises_and_changes_nothing(bridge_down):
    session = pending_session()
    with pytest.raises(BridgeError, match="Cannot reach the WhatsApp bridge"):
        sessions.whatsapp_session_connect(session=session)
    session.refresh_from_db()
    assert (session.status, session.qr_code) == ("disconnected", "")
    assert audit_actions(session) == []


def test_connect_on_an_answer_that_is_not_json(bridge):
    bridge.mode = "garbage"
    with pytest.raises(BridgeError, match="not JSON"):
        sessions.whatsapp_session_connect(session=pending_session())


def test_refresh_fetches_a_new_qr_once_the_old_one_expired(bridge):
    session = sessions.whatsapp_session_connect(session=pending_session(bridge_session_id="s1"))
    old_qr = session.qr_code
    bridge.expire_qr("s1")

    session = sessions.whatsapp_session_refresh_qr(session=session)

    assert session.qr_code != old_qr
    assert png_bytes(session.qr_code).startswith(PNG_SIGNATURE)
    assert session.qr_expires_at > timezone.now()
    # Reloading the page refreshes often: only a change of status is audited.
    assert audit_actions(session) == [AuditAction.SESSION_CONNECT_REQUESTED]


def test_refresh_sees_the_bridge_connected(bridge):
    session = sessions.whatsapp_session_connect(session=pending_session(bridge_session_id="s1"))
    bridge.connect("s1", phone_number="14155550199")

    session = sessions.whatsapp_session_refresh_qr(session=session)

    assert session.status == WhatsAppSession.Status.CONNECTED
    assert session.phone_number == "+14155550199"
    assert session.connected_at is not None
    assert (session.qr_code, session.qr_expires_at) == ("", None)
    assert audit_actions(session)[-1] == AuditAction.SESSION_QR_REFRESHED


def test_refresh_never_undoes_the_connected_webhook(bridge):
    """The webhook may flip the session while the bridge's answer is on its way."""
    session = sessions.whatsapp_session_connect(session=pending_session(bridge_session_id="s1"))
    WhatsAppSession.objects.filter(pk=session.pk).update(status="connected", qr_code="")

    session = sessions.whatsapp_session_refresh_qr(session=session)  # bridge: still qr_waiting

    assert session.status == WhatsAppSession.Status.CONNECTED
    assert session.qr_code == ""


def test_refresh_of_a_session_the_bridge_lost(bridge):
    session = sessions.whatsapp_session_connect(session=pending_session(bridge_session_id="s1"))
    del bridge.sessions["s1"]

    with pytest.raises(BridgeError, match="Press Connect"):
        sessions.whatsapp_session_refresh_qr(session=session)

    session.refresh_from_db()
    assert session.qr_code == ""  # the stale code is not shown any more


def test_disconnect_ends_the_session_at_the_bridge(bridge, staff_user):
    session = sessions.whatsapp_session_connect(session=pending_session(bridge_session_id="s1"))
    bridge.connect("s1")
    WhatsAppSession.objects.filter(pk=session.pk).update(status="connected")

    session = sessions.whatsapp_session_disconnect(session=session, actor=staff_user)

    assert "s1" not in bridge.sessions
    assert session.status == WhatsAppSession.Status.DISCONNECTED
    assert session.disconnected_at is not None
    assert audit_actions(session)[-1] == AuditAction.SESSION_DISCONNECT_REQUESTED
    assert (
        AuditLog.objects.filter(action=AuditAction.SESSION_DISCONNECT_REQUESTED)
        .get()
        .changes["known_to_bridge"]
    )


def test_disconnect_of_a_session_unknown_to_the_bridge_still_disconnects(bridge):
    session = WhatsAppSessionFactory(bridge_session_id="never-at-bridge")
    session = sessions.whatsapp_session_disconnect(session=session)
    assert session.status == WhatsAppSession.Status.DISCONNECTED


def test_disconnect_when_the_bridge_fails_keeps_the_session(bridge):
    session = WhatsAppSessionFactory()
    bridge.mode = "error"
    with pytest.raises(BridgeError, match="500"):
        sessions.whatsapp_session_disconnect(session=session)
    session.refresh_from_db()
    assert session.status == WhatsAppSession.Status.CONNECTED


def test_qr_image_renders_raw_qr_text_on_the_server():
    data_url = pairing.qr_image_data_url("2@abcDEF123,xyz==,more")
    assert png_bytes(data_url).startswith(PNG_SIGNATURE)


def test_qr_image_keeps_the_bridges_png_and_refuses_other_data_urls():
    png = "data:image/png;base64,iVBORw0KGgo="
    assert pairing.qr_image_data_url(png) == png
    assert pairing.qr_image_data_url("data:image/svg+xml;base64,PHN2Zz4=") == ""
    assert pairing.qr_image_data_url('data:image/png;base64,AAA" onerror="x') == ""
    assert pairing.qr_image_data_url("") == ""


# --- admin pages -----------------------------------------------------------------


def pairing_url(session) -> str:
    return reverse("admin:messaging_whatsappsession_pairing", args=[session.pk])


def test_connect_in_the_admin_shows_the_qr_code(bridge, admin_client_logged_in):
    session = pending_session(bridge_session_id="support")
    client = admin_client_logged_in

    page = client.get(pairing_url(session))
    assert page.status_code == 200
    assert 'value="Connect"' in page.text
    assert '<meta http-equiv="refresh"' not in page.text

    response = client.post(pairing_url(session), follow=True)

    assert response.redirect_chain == [(pairing_url(session), 302)]
    html = response.text
    [src] = re.findall(r'<img src="(data:image/png;base64,[^"]+)" id="zapa-qr-image"', html)
    assert png_bytes(src).startswith(PNG_SIGNATURE)
    assert 'alt="QR code to link a phone' in html
    assert "Expires in" in html
    assert '<meta http-equiv="refresh" content="5">' in html
    assert "Scan the QR code with WhatsApp" in html


def test_pairing_page_waits_for_a_slow_bridges_qr(bridge, admin_client_logged_in):
    bridge.qr_after_polls = 2
    session = pending_session(bridge_session_id="slow")

    response = admin_client_logged_in.post(pairing_url(session), follow=True)

    assert response.redirect_chain == [(f"{pairing_url(session)}?started=1", 302)]
    html = response.text
    assert "The bridge is preparing the QR code" in html  # first poll: still initializing
    assert '<meta http-equiv="refresh" content="5">' in html
    html = admin_client_logged_in.get(f"{pairing_url(session)}?started=1").text
    assert 'id="zapa-qr-image"' in html


def test_pairing_page_stops_waiting_when_the_bridge_lost_the_session(
    bridge, admin_client_logged_in
):
    session = pending_session(bridge_session_id="lost", status="qr_pending")
    html = admin_client_logged_in.get(f"{pairing_url(session)}?started=1").text
    assert "Press Connect to start pairing again" in html
    assert '<meta http-equiv="refresh"' not in html
    assert 'value="Connect"' in html


def test_adding_a_session_leads_to_its_pairing_page(admin_client_logged_in, user):
    response = admin_client_logged_in.post(
        reverse("admin:messaging_whatsappsession_add"),
        {
            "bridge_session_id": "new-number",
            "user": str(user.pk),
            "session_type": "user",
            "status": "disconnected",
            "metadata": "{}",
        },
        follow=True,
    )
    session = WhatsAppSession.objects.get(bridge_session_id="new-number")
    assert response.redirect_chain == [(pairing_url(session), 302)]
    assert "Press Connect to pair a phone with it." in response.text
    assert 'value="Connect"' in response.text


def test_pairing_page_shows_raw_qr_text_as_an_image(bridge, admin_client_logged_in):
    bridge.raw_qr = True
    session = pending_session(bridge_session_id="old-bridge")
    response = admin_client_logged_in.post(pairing_url(session), follow=True)
    [src] = re.findall(
        r'<img src="(data:image/png;base64,[^"]+)" id="zapa-qr-image"', response.text
    )
    assert png_bytes(src).startswith(PNG_SIGNATURE)
    assert "2@fake-bridge-qr" not in response.text  # the raw text is not printed


def test_pairing_page_reloads_until_the_webhook_connects(bridge, admin_client_logged_in, client):
    from django.conf import settings

    session = pending_session(bridge_session_id="support")
    admin_client_logged_in.post(pairing_url(session))
    page = admin_client_logged_in.get(pairing_url(session))
    assert 'data-status="qr_pending"' in page.text
    assert len(bridge.requests_to("GET", "/sessions/support")) == 1  # each reload asks

    webhook = client.post(
        f"/api/v1/webhooks/whatsapp/{settings.WEBHOOK_TOKEN}/",
        {
            "sessionId": "support",
            "origin": "14155550199",
            "eventType": "session.connected",
            "timestamp": int(timezone.now().timestamp() * 1000),
            "data": {"phoneNumber": "14155550199", "name": "Support phone"},
        },
        content_type="application/json",
    )
    assert webhook.status_code in (200, 202), webhook.content

    page = admin_client_logged_in.get(pairing_url(session))
    assert 'data-status="connected"' in page.text
    assert "+14155550199" in page.text
    assert '<meta http-equiv="refresh"' not in page.text
    assert 'id="zapa-qr-image"' not in page.text


def test_bridge_down_is_an_admin_message_not_a_500(bridge_down, admin_client_logged_in):
    session = pending_session()
    response = admin_client_logged_in.post(pairing_url(session), follow=True)
    assert response.status_code == 200
    assert "Could not start pairing: Cannot reach the WhatsApp bridge" in response.text
    assert 'class="error"' in response.text  # Django's admin message style


def test_bridge_down_while_waiting_keeps_the_page_and_slows_the_reload(
    bridge, admin_client_logged_in
):
    session = pending_session(bridge_session_id="support")
    admin_client_logged_in.post(pairing_url(session))
    bridge.mode = "error"

    page = admin_client_logged_in.get(pairing_url(session))

    assert page.status_code == 200
    assert "Could not refresh the QR code: The WhatsApp bridge answered 500" in page.text
    assert 'id="zapa-qr-image"' in page.text  # the last code is still shown
    assert '<meta http-equiv="refresh" content="15">' in page.text


def test_disconnect_in_the_admin_asks_then_ends_the_session(bridge, admin_client_logged_in):
    session = sessions.whatsapp_session_connect(session=pending_session(bridge_session_id="s1"))
    url = reverse("admin:messaging_whatsappsession_disconnect", args=[session.pk])

    confirm = admin_client_logged_in.get(url)
    assert confirm.status_code == 200
    assert 'value="Yes, disconnect"' in confirm.text
    assert "s1" in bridge.sessions  # asking changed nothing

    response = admin_client_logged_in.post(url, follow=True)

    change_url = reverse("admin:messaging_whatsappsession_change", args=[session.pk])
    assert response.redirect_chain == [(change_url, 302)]
    assert "Session s1 is disconnected." in response.text
    assert "s1" not in bridge.sessions
    assert WhatsAppSession.objects.get(pk=session.pk).status == "disconnected"


def test_disconnect_with_the_bridge_failing_is_an_admin_message(bridge, admin_client_logged_in):
    session = WhatsAppSessionFactory()
    bridge.mode = "error"
    url = reverse("admin:messaging_whatsappsession_disconnect", args=[session.pk])
    response = admin_client_logged_in.post(url, follow=True)
    assert response.status_code == 200
    assert "Could not disconnect: The WhatsApp bridge answered 500" in response.text
    assert WhatsAppSession.objects.get(pk=session.pk).status == "connected"


def test_session_page_links_to_pairing_conversations_and_disconnect(admin_client_logged_in):
    session = WhatsAppSessionFactory()
    page = admin_client_logged_in.get(
        reverse("admin:messaging_whatsappsession_change", args=[session.pk])
    )
    assert pairing_url(session) in page.text
    assert f"/admin/messaging/message/chats/?session={session.pk}" in page.text
    assert reverse("admin:messaging_whatsappsession_disconnect", args=[session.pk]) in page.text


def test_pairing_needs_the_change_permission(bridge, client):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_whatsappsession"))
    client.force_login(viewer)
    session = pending_session()
    assert client.get(pairing_url(session)).status_code == 403
    assert client.post(pairing_url(session)).status_code == 403
    disconnect = reverse("admin:messaging_whatsappsession_disconnect", args=[session.pk])
    assert client.post(disconnect).status_code == 403
    assert bridge.requests == []


def test_pairing_page_of_a_missing_session_is_404(admin_client_logged_in):
    response = admin_client_logged_in.get("/admin/messaging/whatsappsession/999999/pairing/")
    assert response.status_code == 404
