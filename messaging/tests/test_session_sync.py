"""Reconciling WhatsApp sessions with the bridge: the service, `manage.py
sync_bridge_sessions` and the admin action, against the fake bridge over real HTTP."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from core.audit import AuditAction
from core.models import AuditLog
from core.testing.ports import unused_port_url
from core.whatsapp.bridge import BridgeClient
from messaging import session_sync
from messaging.admin import MAX_SESSIONS_PER_ACTION
from messaging.models import WhatsAppSession
from messaging.services.sessions import whatsapp_sessions_sync
from messaging.tests.factories import WhatsAppSessionFactory
from messaging.tests.fake_bridge import FakeBridgeServer

pytestmark = pytest.mark.django_db

API_KEY = "sync-test-bridge-key-3f9a7c"
SESSIONS = reverse("admin:messaging_whatsappsession_changelist")
Status = WhatsAppSession.Status
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def bridge(settings):
    with FakeBridgeServer() as server:
        settings.WHATSAPP_BRIDGE_URL = server.url
        settings.WHATSAPP_BRIDGE_API_KEY = API_KEY
        settings.WHATSAPP_BRIDGE_TIMEOUT = 5.0
        yield server


@pytest.fixture
def bridge_down(settings):
    settings.WHATSAPP_BRIDGE_URL = unused_port_url()
    settings.WHATSAPP_BRIDGE_API_KEY = API_KEY
    settings.WHATSAPP_BRIDGE_TIMEOUT = 2.0
    return settings.WHATSAPP_BRIDGE_URL


def session(bridge_session_id: str, status: str = Status.CONNECTED, **kwargs) -> WhatsAppSession:
    kwargs.setdefault("phone_number", "+14155550199")
    if status != Status.CONNECTED:
        kwargs.setdefault("connected_at", None)
    return WhatsAppSessionFactory(bridge_session_id=bridge_session_id, status=status, **kwargs)


def fresh(obj: WhatsAppSession) -> WhatsAppSession:
    return WhatsAppSession.objects.get(pk=obj.pk)


def audits(obj: WhatsAppSession) -> list[AuditLog]:
    return list(
        AuditLog.objects.filter(resource_type="whatsappsession", resource_id=str(obj.pk)).order_by(
            "id"
        )
    )


def asked(bridge: FakeBridgeServer) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in bridge.requests if r.method == "GET"]


# --- the service ------------------------------------------------------------------


def test_a_session_deleted_at_the_bridge_becomes_disconnected(bridge):
    gone = session("deleted-there")
    before = timezone.now()

    report = whatsapp_sessions_sync()

    gone = fresh(gone)
    assert gone.status == Status.DISCONNECTED
    assert gone.disconnected_at >= before
    assert gone.bridge_checked_at >= before
    assert gone.metadata["disconnect_reason"] == "The bridge no longer has this session."
    [log] = audits(gone)
    assert log.action == AuditAction.SESSION_SYNCED == "session_synced"
    assert log.actor is None
    assert log.changes["status"] == ["connected", "disconnected"]
    assert log.changes["bridge_session_id"] == "deleted-there"
    assert (report.checked, report.gone) == (1, ["deleted-there"])
    assert report.changed == [("deleted-there", "connected", "disconnected")]
    assert not report.unreachable
    [request] = bridge.requests_to("GET", "/sessions/deleted-there")
    assert request.headers["x-api-key"] == API_KEY


def test_a_session_the_bridge_forgot_after_a_restart(bridge):
    kept = session("kept")
    lost = session("lost", status=Status.QR_PENDING, qr_code="2@old-qr")
    bridge.put("kept")
    bridge.put("lost", status="qr_waiting")
    bridge.forget("lost")  # the bridge restarted without it

    whatsapp_sessions_sync()

    assert fresh(kept).status == Status.CONNECTED
    lost = fresh(lost)
    assert lost.status == Status.DISCONNECTED
    assert lost.qr_code == ""  # no stale code to scan


def test_a_connected_session_stays_connected_without_an_audit_row(bridge):
    connected = session("fine")
    WhatsAppSession.objects.filter(pk=connected.pk).update(updated_at=LONG_AGO)
    bridge.put("fine", phoneNumber="14155550199")
    before = timezone.now()

    report = whatsapp_sessions_sync()

    connected = fresh(connected)
    assert connected.status == Status.CONNECTED
    assert connected.phone_number == "+14155550199"
    assert connected.bridge_checked_at >= before
    assert connected.updated_at == LONG_AGO  # a mere check is not a change
    assert audits(connected) == []
    assert (report.checked, report.changed, report.gone) == (1, [], [])
    assert report.summary() == "Checked 1 WhatsApp session with the bridge: no changes."


def test_a_connected_answer_connects_and_takes_the_phone_number_from_a_jid(bridge):
    pending = session("paired", status=Status.QR_PENDING, phone_number="", qr_code="2@old")
    bridge.put(
        "paired",
        phoneNumber="5511987654321:7@s.whatsapp.net",
        connectedAt="2025-06-01T10:00:00.000Z",
    )

    report = whatsapp_sessions_sync()

    pending = fresh(pending)
    assert pending.status == Status.CONNECTED
    assert pending.phone_number == "+5511987654321"
    assert pending.connected_at == datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
    assert (pending.qr_code, pending.qr_expires_at) == ("", None)
    [log] = audits(pending)
    assert log.changes["status"] == ["qr_pending", "connected"]
    assert log.changes["phone_number"] == ["", "+5511987654321"]
    assert report.changed == [("paired", "qr_pending", "connected")]


@pytest.mark.parametrize("phone", ["1234@lid", "not a number", "0123", "12", None])
def test_a_phone_number_that_does_not_parse_is_ignored(bridge, phone):
    connected = session("odd-phone", phone_number="+14155550123")
    bridge.put("odd-phone", phoneNumber=phone)

    whatsapp_sessions_sync()

    connected = fresh(connected)
    assert connected.phone_number == "+14155550123"
    assert connected.bridge_checked_at is not None
    assert audits(connected) == []


def test_qr_waiting_at_the_bridge_is_qr_pending_with_its_code(bridge):
    logged_out = session("logged-out")
    bridge.put("logged-out", status="qr_waiting")

    report = whatsapp_sessions_sync()

    logged_out = fresh(logged_out)
    assert logged_out.status == Status.QR_PENDING
    assert logged_out.qr_code == bridge.sessions["logged-out"]["qrCode"]
    assert logged_out.qr_expires_at > timezone.now()
    assert [log.changes["status"] for log in audits(logged_out)] == [["connected", "qr_pending"]]
    assert report.changed == [("logged-out", "connected", "qr_pending")]


def test_disconnected_at_the_bridge_is_disconnected(bridge):
    dropped = session("dropped")
    bridge.put("dropped", status="disconnected")

    whatsapp_sessions_sync()

    dropped = fresh(dropped)
    assert dropped.status == Status.DISCONNECTED
    assert dropped.disconnected_at is not None
    assert "disconnected" in dropped.metadata["disconnect_reason"]
    assert len(audits(dropped)) == 1


@pytest.mark.parametrize("bridge_status", ["initializing", "connecting", "something-new"])
def test_a_reconnecting_session_keeps_its_status(bridge, bridge_status):
    reconnecting = session("reconnecting")
    bridge.put("reconnecting", status=bridge_status)

    report = whatsapp_sessions_sync()

    reconnecting = fresh(reconnecting)
    assert reconnecting.status == Status.CONNECTED
    assert reconnecting.bridge_checked_at is not None
    assert audits(reconnecting) == []
    assert (report.checked, report.changed) == (1, [])


def test_disconnected_sessions_are_not_asked_about_by_default(bridge):
    done = session("done", status=Status.DISCONNECTED)
    pending = session("pending", status=Status.QR_PENDING)
    errored = session("errored", status=Status.ERROR)
    bridge.put("done")
    bridge.put("pending", status="qr_waiting")
    bridge.put("errored")

    report = whatsapp_sessions_sync()

    assert sorted(asked(bridge)) == ["errored", "pending"]
    done = fresh(done)
    assert (done.status, done.bridge_checked_at) == (Status.DISCONNECTED, None)
    assert fresh(errored).status == Status.CONNECTED
    assert fresh(pending).bridge_checked_at is not None
    assert report.checked == 2


def test_given_sessions_are_asked_about_whatever_their_status(bridge):
    done = session("done", status=Status.DISCONNECTED)
    other = session("other")
    bridge.put("done", phoneNumber="14155550177")

    report = whatsapp_sessions_sync(sessions=WhatsAppSession.objects.filter(pk=done.pk))

    assert asked(bridge) == ["done"]
    done = fresh(done)
    assert (done.status, done.phone_number) == (Status.CONNECTED, "+14155550177")
    assert fresh(other).bridge_checked_at is None
    assert report.changed == [("done", "disconnected", "connected")]
    # A list of sessions works as well.
    assert whatsapp_sessions_sync(sessions=[other]).gone == ["other"]


def test_a_session_written_meanwhile_is_left_to_the_webhook(bridge):
    """The session.connected webhook lands while the bridge's (older) answer is on its way."""
    pending = session("racing", status=Status.QR_PENDING)
    bridge.put("racing", status="qr_waiting")

    class WebhookMeanwhile(BridgeClient):
        def get_session(self, session_id: str) -> dict:
            answer = super().get_session(session_id)
            WhatsAppSession.objects.filter(pk=pending.pk).update(
                status=Status.CONNECTED, updated_at=timezone.now()
            )
            return answer

    report = whatsapp_sessions_sync(client=WebhookMeanwhile.from_settings())

    pending = fresh(pending)
    assert pending.status == Status.CONNECTED  # not put back to qr_pending
    assert pending.bridge_checked_at is not None
    assert audits(pending) == []
    assert (report.skipped, report.changed) == (["racing"], [])


def test_several_sessions_in_one_run(bridge):
    session("a")
    session("b", status=Status.QR_PENDING)
    session("c")
    bridge.put("a")
    bridge.put("b")

    report = whatsapp_sessions_sync()

    assert asked(bridge) == ["a", "b", "c"]
    assert dict(WhatsAppSession.objects.values_list("bridge_session_id", "status")) == {
        "a": "connected",
        "b": "connected",
        "c": "disconnected",
    }
    assert report.checked == 3
    assert report.summary() == (
        "Checked 3 WhatsApp sessions with the bridge: 2 changed (b qr_pending → connected, "
        "c connected → disconnected), 1 no longer at the bridge."
    )


def test_a_session_the_bridge_refuses_to_read_does_not_stop_the_run(bridge):
    odd, fine = session("odd"), session("fine", status=Status.QR_PENDING)
    bridge.put("odd", http_status=400)
    bridge.put("fine")

    report = whatsapp_sessions_sync()

    assert asked(bridge) == ["odd", "fine"]
    assert_nothing_changed(odd)
    assert fresh(fine).status == Status.CONNECTED
    assert not report.unreachable
    assert report.failed == [("odd", "The WhatsApp bridge answered 400: Cannot read it")]
    assert "1 failed (odd: The WhatsApp bridge answered 400: Cannot read it)" in report.summary()


def test_no_sessions_asks_nothing(bridge):
    report = whatsapp_sessions_sync()
    assert bridge.requests == []
    assert report.summary() == "No WhatsApp sessions to check with the bridge."


# --- the bridge failing -----------------------------------------------------------


def assert_nothing_changed(*sessions: WhatsAppSession) -> None:
    for obj in sessions:
        stored = fresh(obj)
        assert (stored.status, stored.bridge_checked_at) == (obj.status, None)
        assert stored.updated_at == obj.updated_at
        assert audits(stored) == []


def test_a_bridge_that_is_down_changes_nothing(bridge_down):
    sessions = [session("a"), session("b", status=Status.QR_PENDING)]

    report = whatsapp_sessions_sync()

    assert_nothing_changed(*sessions)
    assert report.unreachable
    assert report.checked == 0
    assert report.not_checked == ["a", "b"]
    assert "Cannot reach the WhatsApp bridge" in report.error
    assert bridge_down in report.summary()
    assert "2 sessions not checked" in report.summary()


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("error", "answered 500"),
        ("garbage", "not JSON"),
        ("hangup", "Cannot reach the WhatsApp bridge"),
    ],
)
def test_a_failing_bridge_stops_the_run_after_the_first_failure(bridge, mode, message):
    sessions = [session("a"), session("b"), session("c")]
    bridge.mode = mode

    report = whatsapp_sessions_sync()

    assert asked(bridge) == ["a"]  # the bridge is down: no point asking about the rest
    assert_nothing_changed(*sessions)
    assert report.unreachable
    assert message in report.error
    assert report.not_checked == ["a", "b", "c"]


def test_a_bridge_that_fails_midway_keeps_what_it_answered(bridge):
    first, second = session("first"), session("second")

    class DiesAfterOne(BridgeClient):
        def get_session(self, session_id: str) -> dict:
            try:
                return super().get_session(session_id)
            finally:
                bridge.mode = "error"

    report = whatsapp_sessions_sync(client=DiesAfterOne.from_settings())

    assert fresh(first).status == Status.DISCONNECTED  # 404 before the bridge died
    assert_nothing_changed(second)
    assert report.unreachable
    assert (report.checked, report.not_checked) == (1, ["second"])
    assert "1 checked before the failure" in report.summary()


def test_a_bridge_that_does_not_answer_in_time(bridge, settings):
    settings.WHATSAPP_BRIDGE_TIMEOUT = 0.2
    bridge.delay = 1.0
    waiting = session("slow")

    report = whatsapp_sessions_sync()

    assert_nothing_changed(waiting)
    assert report.unreachable
    assert "did not answer within 0.2s" in report.error


def test_a_wrong_api_key_stops_the_run_and_is_never_shown(bridge):
    bridge.api_key = "the-key-the-bridge-expects"
    sessions = [session("a"), session("b")]

    report = whatsapp_sessions_sync()

    assert asked(bridge) == ["a"]
    assert_nothing_changed(*sessions)
    assert report.unreachable
    assert "401" in report.summary()
    assert API_KEY not in report.summary()


def test_the_api_key_is_redacted_even_when_the_bridge_echoes_it(bridge):
    session("a")
    bridge.mode = "error"
    bridge.error_message = f"invalid X-API-Key {API_KEY}"

    report = whatsapp_sessions_sync()

    assert API_KEY not in report.summary()
    assert "[redacted]" in report.error


def test_the_bridge_url_is_shown_without_credentials():
    client = BridgeClient("https://zapa:s3cret@bridge.example:8443/api/?token=x", API_KEY)
    report = whatsapp_sessions_sync(client=client, sessions=[])
    assert report.bridge_url == "https://bridge.example:8443/api"
    assert session_sync._safe_url("not a url") == "(the configured bridge URL)"


# --- manage.py sync_bridge_sessions --------------------------------------------------


def test_command_prints_the_summary(bridge):
    session("a")
    out = io.StringIO()

    call_command("sync_bridge_sessions", stdout=out)

    assert out.getvalue().strip() == (
        "Checked 1 WhatsApp session with the bridge: 1 changed (a connected → disconnected), "
        "1 no longer at the bridge."
    )
    assert fresh(WhatsAppSession.objects.get(bridge_session_id="a")).status == "disconnected"


def test_command_is_quiet_at_verbosity_zero(bridge):
    session("a")
    out = io.StringIO()
    call_command("sync_bridge_sessions", verbosity=0, stdout=out)
    assert out.getvalue() == ""
    assert WhatsAppSession.objects.get().status == Status.DISCONNECTED


def test_command_reports_sessions_it_could_not_check_on_stderr(bridge):
    session("odd")
    bridge.put("odd", http_status=400)
    out, err = io.StringIO(), io.StringIO()

    call_command("sync_bridge_sessions", verbosity=0, stdout=out, stderr=err)

    assert out.getvalue() == ""
    assert "1 failed (odd: The WhatsApp bridge answered 400" in err.getvalue()


def test_command_fails_when_the_bridge_is_down(bridge_down):
    kept = session("a")

    with pytest.raises(CommandError) as failure:
        call_command("sync_bridge_sessions", stdout=io.StringIO())

    assert bridge_down in str(failure.value)
    assert "1 session not checked" in str(failure.value)
    assert_nothing_changed(kept)


def test_command_exits_non_zero_for_cron_and_never_prints_the_key(bridge, capsys):
    session("a")
    bridge.mode = "error"
    bridge.error_message = f"bad key {API_KEY}"

    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "sync_bridge_sessions"])

    assert exit_info.value.code != 0
    out, err = capsys.readouterr()
    assert "CommandError: Could not check sessions with the WhatsApp bridge at " in err
    assert bridge.url in err
    assert "answered 500" in err
    assert API_KEY not in out + err


def test_command_exits_non_zero_when_nothing_listens(bridge_down, capsys):
    session("a")
    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "sync_bridge_sessions"])
    assert exit_info.value.code != 0
    out, err = capsys.readouterr()
    assert bridge_down in err
    assert API_KEY not in out + err


# --- the admin ----------------------------------------------------------------------


def run_action(client, sessions, **extra):
    return client.post(
        SESSIONS,
        {"action": "check_with_bridge", "_selected_action": [s.pk for s in sessions], **extra},
        follow=True,
    )


def test_admin_action_checks_the_selected_sessions(bridge, admin_client_logged_in, staff_user):
    gone = session("gone")
    fine = session("fine")
    done = session("done", status=Status.DISCONNECTED)
    not_selected = session("not-selected")
    bridge.put("fine")
    bridge.put("done")

    response = run_action(admin_client_logged_in, [gone, fine, done])

    assert response.status_code == 200
    assert sorted(asked(bridge)) == ["done", "fine", "gone"]
    assert fresh(gone).status == Status.DISCONNECTED
    assert fresh(done).status == Status.CONNECTED  # any status when selected
    assert fresh(fine).bridge_checked_at is not None
    assert fresh(not_selected).bridge_checked_at is None
    [log] = audits(gone)
    assert log.actor == staff_user
    assert log.action == AuditAction.SESSION_SYNCED
    text = response.text
    assert "Checked 3 WhatsApp sessions with the bridge: 2 changed" in text
    assert 'class="success"' in text
    assert API_KEY not in text


def test_admin_action_with_the_bridge_down_is_an_error_message(bridge_down, admin_client_logged_in):
    kept = session("a")

    response = run_action(admin_client_logged_in, [kept])

    assert response.status_code == 200
    assert 'class="error"' in response.text
    assert "Could not check sessions with the WhatsApp bridge at" in response.text
    assert bridge_down in response.text
    assert API_KEY not in response.text
    assert_nothing_changed(kept)


def test_admin_action_never_shows_an_echoed_api_key(bridge, admin_client_logged_in):
    kept = session("a")
    bridge.mode = "error"
    bridge.error_message = f"bad key {API_KEY}"
    response = run_action(admin_client_logged_in, [kept])
    assert "answered 500" in response.text
    assert API_KEY not in response.text


def test_admin_action_warns_about_a_session_it_could_not_check(bridge, admin_client_logged_in):
    odd = session("odd")
    bridge.put("odd", http_status=400)
    response = run_action(admin_client_logged_in, [odd])
    assert 'class="warning"' in response.text
    assert "1 failed (odd: The WhatsApp bridge answered 400" in response.text


def test_admin_action_refuses_too_many_sessions(bridge, admin_client_logged_in):
    sessions = [session(f"s{n}") for n in range(MAX_SESSIONS_PER_ACTION + 1)]
    response = run_action(admin_client_logged_in, sessions)
    assert f"Select at most {MAX_SESSIONS_PER_ACTION} sessions at a time." in response.text
    assert bridge.requests == []
    assert not WhatsAppSession.objects.filter(bridge_checked_at__isnull=False).exists()


def test_admin_action_needs_the_change_permission(bridge, client):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_whatsappsession"))
    client.force_login(viewer)
    kept = session("a")

    page = client.get(SESSIONS)
    assert page.status_code == 200
    assert "check_with_bridge" not in page.text

    run_action(client, [kept])
    assert bridge.requests == []
    assert fresh(kept).bridge_checked_at is None


def test_changelist_and_change_page_show_when_the_bridge_was_asked(admin_client_logged_in):
    checked = session("checked", bridge_checked_at=datetime(2025, 6, 1, 10, 0, tzinfo=UTC))
    never = session("never")

    changelist = admin_client_logged_in.get(SESSIONS)
    assert changelist.status_code == 200
    assert "Checked with bridge" in changelist.text
    assert 'value="check_with_bridge"' in changelist.text
    assert ">Check with the bridge<" in changelist.text
    rows = {obj.pk: obj.bridge_checked_at for obj in changelist.context["cl"].result_list}
    assert rows == {checked.pk: checked.bridge_checked_at, never.pk: None}
    assert "June 1, 2025, 10 a.m." in changelist.text  # formatted, in TIME_ZONE (UTC)

    change = admin_client_logged_in.get(
        reverse("admin:messaging_whatsappsession_change", args=[checked.pk])
    )
    assert change.status_code == 200
    assert "Checked with bridge" in change.text
    assert "June 1, 2025, 10 a.m." in change.text
    assert 'name="bridge_checked_at"' not in change.text  # read-only

    sorted_page = admin_client_logged_in.get(SESSIONS, {"o": "8"})
    assert sorted_page.status_code == 200


def test_session_changelist_runs_no_more_queries_with_the_check_column(admin_client_logged_in):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    session("one", bridge_checked_at=timezone.now())
    with CaptureQueriesContext(connection) as one:
        assert admin_client_logged_in.get(SESSIONS).status_code == 200
    for n in range(30):
        session(f"more-{n}", bridge_checked_at=timezone.now() - timedelta(minutes=n))
    with CaptureQueriesContext(connection) as many:
        assert admin_client_logged_in.get(SESSIONS).status_code == 200
    assert len(many.captured_queries) == len(one.captured_queries)
