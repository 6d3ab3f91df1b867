"""The admin's pages for pairing a WhatsApp number and disconnecting it.

Connect asks the bridge for a session and shows its QR code (rendered here, never
by an outside service); the page reloads itself while waiting and fetches the
bridge's current QR each time, until the `session.connected` webhook marks the
session connected. Bridge failures are admin messages.
"""

from django.contrib import messages
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from core.whatsapp.bridge import BridgeError
from messaging import pairing
from messaging.admin_page_helpers import admin_context, admin_url, require_permission
from messaging.models import WhatsAppSession
from messaging.services import sessions

# While waiting for a scan the pairing page reloads itself this often (seconds).
PAIRING_REFRESH_SECONDS = 5
PAIRING_RETRY_SECONDS = 15


def _session_for_change(request, object_id) -> WhatsAppSession:
    require_permission(request, WhatsAppSession, "change")
    if not str(object_id).isdigit():
        raise Http404
    return get_object_or_404(WhatsAppSession.objects.select_related("user"), pk=object_id)


def pairing_view(request, model_admin, object_id):
    """The pairing page: the QR code while waiting for a scan, reloading until connected."""
    session = _session_for_change(request, object_id)
    if request.method == "POST":
        return _connect(request, session)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    # Just connected, the bridge may still be preparing the QR code (?started=1).
    started = request.GET.get("started") == "1"
    bridge_failed = bridge_lost = False
    if session.status == WhatsAppSession.Status.QR_PENDING and (session.qr_code or started):
        try:
            session = sessions.whatsapp_session_refresh_qr(
                session=session, actor=request.user, request=request
            )
        except BridgeError as exc:
            bridge_failed, bridge_lost = True, exc.status_code == 404
            messages.error(request, f"Could not refresh the QR code: {exc}")
            session.refresh_from_db()
    qr_image = pairing.qr_image_data_url(session.qr_code)
    waiting = (
        session.status == WhatsAppSession.Status.QR_PENDING
        and (bool(qr_image) or started)
        and not bridge_lost
    )
    now = timezone.now()
    expires_in = None
    if session.qr_expires_at and waiting:
        expires_in = max(int((session.qr_expires_at - now).total_seconds()), 0)
    context = admin_context(
        request,
        model_admin,
        title=f"Pair {session.bridge_session_id}",
        original=session,
        session=session,
        qr_image=qr_image,
        waiting=waiting,
        expires_in=expires_in,
        refresh_seconds=(PAIRING_RETRY_SECONDS if bridge_failed else PAIRING_REFRESH_SECONDS)
        if waiting
        else None,
        connected=session.status == WhatsAppSession.Status.CONNECTED,
        change_url=reverse("admin:messaging_whatsappsession_change", args=[session.pk]),
        disconnect_url=reverse("admin:messaging_whatsappsession_disconnect", args=[session.pk]),
        chats_url=admin_url("messaging_message_chats", query={"session": session.pk}),
    )
    return TemplateResponse(request, "admin/messaging/whatsappsession/pairing.html", context)


def _connect(request, session: WhatsAppSession):
    pairing_url = reverse("admin:messaging_whatsappsession_pairing", args=[session.pk])
    try:
        session = sessions.whatsapp_session_connect(
            session=session, actor=request.user, request=request
        )
    except BridgeError as exc:
        messages.error(request, f"Could not start pairing: {exc}")
        return HttpResponseRedirect(pairing_url)
    if session.status == WhatsAppSession.Status.CONNECTED:
        messages.success(request, f"Session {session.bridge_session_id} is already connected.")
    elif session.qr_code:
        messages.info(request, "Scan the QR code with WhatsApp on the phone to pair it.")
    elif session.status == WhatsAppSession.Status.QR_PENDING:
        messages.info(request, "The bridge is starting the session: its QR code appears here soon.")
        return HttpResponseRedirect(f"{pairing_url}?started=1")
    else:
        messages.warning(request, f"The bridge reports the session {session.get_status_display()}.")
    return HttpResponseRedirect(pairing_url)


def disconnect_view(request, model_admin, object_id):
    """Confirm, then end the session at the bridge."""
    session = _session_for_change(request, object_id)
    change_url = reverse("admin:messaging_whatsappsession_change", args=[session.pk])
    if request.method == "POST":
        try:
            sessions.whatsapp_session_disconnect(
                session=session, actor=request.user, request=request
            )
        except BridgeError as exc:
            messages.error(request, f"Could not disconnect: {exc}")
        else:
            messages.success(request, f"Session {session.bridge_session_id} is disconnected.")
        return HttpResponseRedirect(change_url)
    context = admin_context(
        request,
        model_admin,
        title=f"Disconnect {session.bridge_session_id}?",
        original=session,
        object=session,
        question=(
            f"This logs the phone {session.phone_number or ''} out of "
            f"“{session.bridge_session_id}” at the WhatsApp bridge. No messages are "
            "deleted; to use the number again, pair it again with a new QR code."
        ),
        confirm_label="Yes, disconnect",
        cancel_url=change_url,
        danger=True,
    )
    return TemplateResponse(request, "admin/zapa/confirm.html", context)
