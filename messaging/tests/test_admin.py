import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.admin_pagination import EstimatedCountPaginator
from messaging import admin as messaging_admin
from messaging.models import Message, WebhookEvent, WhatsAppSession
from messaging.tests import bridge_payloads
from messaging.tests.factories import MessageFactory, WebhookEventFactory, WhatsAppSessionFactory

pytestmark = pytest.mark.django_db

COUNT_MESSAGES = re.compile(r'SELECT COUNT\(\*\).*FROM "messaging_message"', re.DOTALL)


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def get_capturing(client, path: str, params=None):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, params or {})
    assert response.status_code == 200
    return response, [q["sql"] for q in ctx.captured_queries]


def listed_pks(response) -> list[int]:
    return [obj.pk for obj in response.context["cl"].result_list]


# --- WhatsApp sessions ------------------------------------------------------


def test_session_pages_render(admin_client_logged_in):
    session = WhatsAppSessionFactory(
        qr_code="data:image/png;base64,iVBORw0KGgo=",
        status=WhatsAppSession.Status.QR_PENDING,
    )
    client = admin_client_logged_in
    response = client.get(url("messaging_whatsappsession_changelist"))
    assert response.status_code == 200
    assert session.bridge_session_id in response.text

    response = client.get(url("messaging_whatsappsession_change", session.pk))
    assert response.status_code == 200
    assert '<img src="data:image/png;base64,iVBORw0KGgo="' in response.text

    assert client.get(url("messaging_whatsappsession_add")).status_code == 200


def test_add_session_in_the_admin(admin_client_logged_in, user):
    response = admin_client_logged_in.post(
        url("messaging_whatsappsession_add"),
        {
            "bridge_session_id": "support-line",
            "user": str(user.pk),
            "session_type": "main",
            "status": "qr_pending",
            "phone_number": "",
            "metadata": "{}",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    session = WhatsAppSession.objects.get(bridge_session_id="support-line")
    assert (session.user, session.session_type) == (user, "main")


def test_session_changelist_query_count_is_constant(admin_client_logged_in):
    path = url("messaging_whatsappsession_changelist")
    WhatsAppSessionFactory()
    _, one = get_capturing(admin_client_logged_in, path)
    WhatsAppSessionFactory.create_batch(49)
    _, fifty = get_capturing(admin_client_logged_in, path)
    assert len(fifty) == len(one)


# --- Messages ---------------------------------------------------------------


def test_message_pages_render(admin_client_logged_in):
    message = MessageFactory(content="Meet at the station at noon")
    reply = MessageFactory(session=message.session, reply_to=message, content="OK")
    client = admin_client_logged_in

    response = client.get(url("messaging_message_changelist"))
    assert response.status_code == 200
    assert "Meet at the station at noon" in response.text
    assert listed_pks(response) == [reply.pk, message.pk]

    response = client.get(url("messaging_message_change", reply.pk))
    assert response.status_code == 200
    assert str(message) in response.text  # the reply_to link

    assert client.get(url("messaging_message_delete", message.pk)).status_code == 200


def test_messages_are_not_added_or_edited_in_the_admin(admin_client_logged_in):
    message = MessageFactory()
    client = admin_client_logged_in
    assert client.get(url("messaging_message_add")).status_code == 403
    response = client.post(url("messaging_message_change", message.pk), {"content": "forged"})
    assert response.status_code == 403
    message.refresh_from_db()
    assert message.content != "forged"


def test_message_changelist_query_count_is_constant(admin_client_logged_in):
    path = url("messaging_message_changelist")
    MessageFactory()
    _, one = get_capturing(admin_client_logged_in, path)
    MessageFactory.create_batch(49)  # each with its own session and user
    response, fifty = get_capturing(admin_client_logged_in, path)
    assert len(response.context["cl"].result_list) == 50
    assert len(fifty) == len(one)


def test_message_filters_run_no_option_queries(admin_client_logged_in):
    """Choices and date-range filters list their options without touching the table."""
    MessageFactory()
    response, queries = get_capturing(admin_client_logged_in, url("messaging_message_changelist"))
    message_queries = [sql for sql in queries if 'FROM "messaging_message"' in sql]
    # The page's rows, plus its count (exact here: a small table).
    assert len(message_queries) == 2
    assert not any("DISTINCT" in sql.upper() for sql in message_queries)
    assert "?direction__exact=incoming" in response.text
    assert "timestamp__gte" in response.text


def test_message_filters(admin_client_logged_in):
    incoming = MessageFactory(direction="incoming")
    outgoing = MessageFactory(direction="outgoing", status="sent")
    old = MessageFactory(timestamp=timezone.now() - timezone.timedelta(days=60))
    client = admin_client_logged_in
    path = url("messaging_message_changelist")
    response = client.get(path, {"direction__exact": "outgoing"})
    assert listed_pks(response) == [outgoing.pk]
    today = timezone.localdate()
    response = client.get(
        path,
        {
            "timestamp__gte": (today - timezone.timedelta(days=7)).isoformat(),
            "timestamp__lt": (today + timezone.timedelta(days=1)).isoformat(),
        },
    )
    assert set(listed_pks(response)) == {incoming.pk, outgoing.pk}
    assert old.pk not in listed_pks(response)


def test_message_search_by_words_and_exact_message_id(admin_client_logged_in):
    station = MessageFactory(content="Meet at the station at noon")
    MessageFactory(content="Lunch tomorrow?")
    by_id = MessageFactory(content="something else", wa_message_id="3EB0FEEDFACE00000001")
    client = admin_client_logged_in
    path = url("messaging_message_changelist")

    assert listed_pks(client.get(path, {"q": "station"})) == [station.pk]
    assert listed_pks(client.get(path, {"q": "3EB0FEEDFACE00000001"})) == [by_id.pk]
    assert listed_pks(client.get(path, {"q": "3EB0FEEDFACE"})) == []  # ids match exactly
    assert listed_pks(client.get(path, {"q": "nothing-matches-this"})) == []


@pytest.mark.postgres
def test_message_search_uses_the_indexes_on_postgres(admin_client_logged_in, monkeypatch):
    from messaging import search

    # Seven rows would be walked (messaging/search.py); force the rare-phrase plan.
    monkeypatch.setattr(search, "PROBE_ROWS", 1)
    monkeypatch.setattr(search, "WALK_MIN_MATCHES", 2)
    MessageFactory.create_batch(5)
    by_id = MessageFactory(wa_message_id="3EB0FEEDFACE00000002")
    client = admin_client_logged_in
    path = url("messaging_message_changelist")

    response, queries = get_capturing(client, path, {"q": "station"})
    assert not any("LIKE" in sql.upper() for sql in queries)
    assert any("websearch_to_tsquery" in sql for sql in queries)

    response = client.get(path, {"q": by_id.wa_message_id})
    assert listed_pks(response) == [by_id.pk]
    with connection.cursor() as cursor:
        # Leave the planner only index-driven ways in; a scan shows as "Seq Scan".
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_indexonlyscan = off")
    plan = response.context["cl"].queryset.explain()
    assert "Seq Scan on messaging_message" not in plan
    assert "message_search_gin_idx" in plan
    assert "messaging_message_pkey" in plan


def test_message_changelist_has_no_full_count(admin_client_logged_in):
    model_admin = admin.site._registry[Message]
    assert model_admin.show_full_result_count is False
    assert model_admin.paginator is EstimatedCountPaginator
    assert model_admin.date_hierarchy is None
    assert set(model_admin.list_select_related) >= {"user", "session"}


@pytest.mark.postgres
def test_unfiltered_message_changelist_uses_the_estimate_on_postgres(
    admin_client_logged_in, monkeypatch
):
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_threshold", 10)
    session = WhatsAppSessionFactory()
    MessageFactory.create_batch(30, session=session, direction="incoming")
    MessageFactory.create_batch(2, session=session, direction="outgoing")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_message")
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'messaging_message'")
        estimate = int(cursor.fetchone()[0])
    assert estimate > 10

    path = url("messaging_message_changelist")
    response, queries = get_capturing(admin_client_logged_in, path)
    assert not [sql for sql in queries if COUNT_MESSAGES.search(sql)]
    assert any("reltuples" in sql for sql in queries)
    cl = response.context["cl"]
    assert cl.paginator.is_estimated
    assert cl.result_count == estimate
    assert f"about</span> {estimate}" in response.text

    # A filtered list is counted exactly.
    response, queries = get_capturing(
        admin_client_logged_in, path, {"direction__exact": "outgoing"}
    )
    assert [sql for sql in queries if COUNT_MESSAGES.search(sql)]
    assert response.context["cl"].result_count == 2
    assert not response.context["cl"].paginator.is_estimated


@pytest.mark.postgres
def test_small_tables_are_counted_exactly_on_postgres(admin_client_logged_in):
    MessageFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_message")
    response, queries = get_capturing(admin_client_logged_in, url("messaging_message_changelist"))
    assert [sql for sql in queries if COUNT_MESSAGES.search(sql)]
    assert response.context["cl"].result_count == 3
    assert not response.context["cl"].paginator.is_estimated


@pytest.mark.postgres
def test_estimated_pages_slice_by_page_size(monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_threshold", 10)
    MessageFactory.create_batch(25)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_message")
    paginator = EstimatedCountPaginator(Message.objects.order_by("-id"), 10)
    assert paginator.count == 25 and paginator.is_estimated
    pages = [list(paginator.page(n).object_list) for n in paginator.page_range]
    assert [len(page) for page in pages] == [10, 10, 5]
    assert len({m.pk for page in pages for m in page}) == 25
    # Filtered querysets are never estimated.
    filtered = EstimatedCountPaginator(Message.objects.filter(direction="outgoing"), 10)
    assert (filtered.count, filtered.is_estimated) == (0, False)


def test_estimated_paginator_counts_exactly_on_sqlite_and_small_tables(monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_threshold", 0)
    MessageFactory.create_batch(3)
    paginator = EstimatedCountPaginator(Message.objects.order_by("-id"), 2)
    if connection.vendor == "sqlite":
        assert (paginator.count, paginator.is_estimated) == (3, False)
    assert [len(paginator.page(n).object_list) for n in (1, 2)] == [2, 1]


# --- Webhook events ---------------------------------------------------------


def test_webhook_event_pages_render_with_pretty_payload(admin_client_logged_in):
    event = WebhookEventFactory(error="boom: no such session")
    client = admin_client_logged_in
    response = client.get(url("messaging_webhookevent_changelist"))
    assert response.status_code == 200
    assert "message.received" in response.text

    response = client.get(url("messaging_webhookevent_change", event.pk))
    assert response.status_code == 200
    assert "<pre" in response.text
    assert "\n  &quot;eventType&quot;: &quot;message.received&quot;,\n" in response.text
    assert "boom: no such session" in response.text


def test_webhook_events_are_read_only(admin_client_logged_in):
    event = WebhookEventFactory()
    client = admin_client_logged_in
    assert client.get(url("messaging_webhookevent_add")).status_code == 403
    response = client.post(url("messaging_webhookevent_change", event.pk), {"state": "ignored"})
    assert response.status_code == 403


def test_webhook_event_filters(admin_client_logged_in):
    failed = WebhookEventFactory(state="failed", event_type="message.read")
    WebhookEventFactory(state="processed")
    client = admin_client_logged_in
    path = url("messaging_webhookevent_changelist")
    assert listed_pks(client.get(path, {"state__exact": "failed"})) == [failed.pk]
    assert listed_pks(client.get(path, {"event_type": "message.read"})) == [failed.pk]
    response = client.get(path, {"q": failed.session_key})
    assert failed.pk in listed_pks(response)


def test_webhook_event_changelist_query_count_is_constant(admin_client_logged_in):
    path = url("messaging_webhookevent_changelist")
    WebhookEventFactory()
    _, one = get_capturing(admin_client_logged_in, path)
    WebhookEventFactory.create_batch(49)
    _, fifty = get_capturing(admin_client_logged_in, path)
    assert len(fifty) == len(one)


def test_reprocess_action_is_offered(admin_client_logged_in):
    WebhookEventFactory()
    response = admin_client_logged_in.get(url("messaging_webhookevent_changelist"))
    assert "reprocess_events" in response.text


def test_reprocess_action_processes_each_selected_event(admin_client_logged_in, monkeypatch):
    # A stand-in for events_reprocess, to make one event fail on purpose.
    seen = []

    def process(*, events):
        [event] = events
        seen.append(event.pk)
        if event.event_type == "message.read":
            raise ValueError("no such message")

    monkeypatch.setattr(messaging_admin, "events_reprocess", process)
    first = WebhookEventFactory(state="failed")
    broken = WebhookEventFactory(state="failed", event_type="message.read")
    untouched = WebhookEventFactory(state="failed")
    response = admin_client_logged_in.post(
        url("messaging_webhookevent_changelist"),
        {"action": "reprocess_events", "_selected_action": [first.pk, broken.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert seen == [first.pk, broken.pk]
    assert untouched.pk not in seen
    text = response.text
    assert "Processed 2 event(s) again. Now: 2 failed." in text
    assert f"Event #{broken.pk}: ValueError: no such message" in text
    assert WebhookEvent.objects.count() == 3


def test_reprocess_action_ingests_a_failed_message_event(admin_client_logged_in):
    payload = bridge_payloads.message_received(text="Stored while the database was away")
    event = WebhookEventFactory(
        payload=payload, event_type="message.received", state="failed", error="db down"
    )
    response = admin_client_logged_in.post(
        url("messaging_webhookevent_changelist"),
        {"action": "reprocess_events", "_selected_action": [event.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Processed 1 event(s) again. Now: 1 processed." in response.text
    event.refresh_from_db()
    assert event.state == WebhookEvent.State.PROCESSED
    message = Message.objects.get(wa_message_id=payload["data"]["messageId"])
    assert message.content == "Stored while the database was away"
