"""Ingest speed and correctness: query counts, set-based batches, concurrent deliveries,
reprocessing stored events, and `manage.py process_webhook_events`."""

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, close_old_connections, connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import UserFactory
from core.testing.transactions import transactions_counted
from messaging.ingest import store as ingest_store
from messaging.ingest.receive import events_reprocess
from messaging.models import Message, WebhookEvent, WhatsAppSession
from messaging.tests import bridge_payloads as bp
from messaging.tests.factories import MessageFactory, WebhookEventFactory, WhatsAppSessionFactory


@pytest.fixture
def main_session(db):
    owner = UserFactory(phone_number="+" + bp.ASSISTANT)
    return WhatsAppSessionFactory(
        user=owner, bridge_session_id="main", session_type=WhatsAppSession.SessionType.MAIN
    )


def contact_digits(n: int) -> str:
    return f"1415{3000000 + n:07d}"  # valid, distinct US numbers


# --- query counts ---------------------------------------------------------------------


@pytest.mark.django_db
def test_single_message_received_uses_a_small_fixed_number_of_queries(api_client, main_session):
    UserFactory(phone_number="+" + bp.CONTACT)

    with CaptureQueriesContext(connection) as queries:
        response = bp.post(api_client, bp.message_received())

    assert response.status_code == 200
    # PostgreSQL: INSERT event; INSERT message (looks up session and owner itself, marks
    # the event processed); look for deferred statuses. SQLite: the session and owner
    # lookups, the INSERT, the UPDATE and the deferred lookup are separate ORM queries.
    expected = 3 if connection.vendor == "postgresql" else 6
    assert len(_statements(queries)) == expected, _statements(queries)
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_single_status_update_uses_a_small_fixed_number_of_queries(api_client, main_session):
    message = MessageFactory(session=main_session, status=Message.Status.SENT)

    with CaptureQueriesContext(connection) as queries:
        bp.post(api_client, bp.message_read(message.wa_message_id))

    # PostgreSQL: INSERT event; one statement moves the message and marks the event.
    # SQLite: INSERT event, SELECT message, UPDATE message, UPDATE event.
    expected = 2 if connection.vendor == "postgresql" else 4
    assert len(_statements(queries)) == expected, _statements(queries)
    message.refresh_from_db()
    assert message.status == Message.Status.READ


def _statements(queries) -> list[str]:
    """The statements run, without the savepoints the test's own transaction adds."""
    return [
        q["sql"][:80]
        for q in queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["message", "status", "mixed batch", "new contacts"])
def test_a_webhook_delivery_commits_one_transaction(kind):
    owner = UserFactory(phone_number="+" + bp.ASSISTANT)
    session = WhatsAppSessionFactory(
        user=owner, bridge_session_id="main", session_type=WhatsAppSession.SessionType.MAIN
    )
    UserFactory(phone_number="+" + bp.CONTACT)
    sent = MessageFactory(session=session, status=Message.Status.SENT)
    payload = {
        "message": bp.message_received(),
        "status": bp.message_read(sent.wa_message_id),
        "mixed batch": [bp.message_received(), bp.message_read(sent.wa_message_id)] * 50,
        "new contacts": _mixed_batch(20, first_contact=900),
    }[kind]

    with transactions_counted() as count:
        response = bp.post(Client(), payload)

    assert response.status_code == 200, response.content
    assert count.total == 1, (count.commits, count.autocommitted)
    assert not WebhookEvent.objects.exclude(state=WebhookEvent.State.PROCESSED).exists()


@pytest.mark.django_db(transaction=True)
def test_a_failing_delivery_is_stored_first_and_kept_as_failed(monkeypatch):
    UserFactory(phone_number="+" + bp.CONTACT)
    owner = UserFactory(phone_number="+" + bp.ASSISTANT)
    WhatsAppSessionFactory(
        user=owner, bridge_session_id="main", session_type=WhatsAppSession.SessionType.MAIN
    )
    real_insert = ingest_store.sql.messages_insert
    calls = []

    def insert_failing_once(rows, **kwargs):
        calls.append(len(rows))
        if len(calls) == 1:
            raise ValueError("a bug in the insert")
        return real_insert(rows, **kwargs)

    monkeypatch.setattr(ingest_store.sql, "messages_insert", insert_failing_once)
    events = [bp.message_received(), bp.message_received()]

    response = bp.post(Client(), events)

    # The one transaction was undone; the events were stored again and processed one
    # by one (the insert works again now): nothing lost, nothing stored twice.
    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.count() == 2
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {"processed"}
    assert Message.objects.count() == 2
    assert calls == [2, 2]


def _mixed_batch(size: int, first_contact: int) -> list[dict]:
    """`size` incoming messages from new contacts, `size` outgoing, and a read for each."""
    received = [
        bp.message_received(**{"from": contact_digits(first_contact + n)}, pushName=f"C{n}")
        for n in range(size)
    ]
    sent = [bp.message_sent(to=contact_digits(first_contact + n)) for n in range(size)]
    reads = [bp.message_read(event["data"]["messageId"]) for event in sent]
    return received + sent + reads


def _queries_for_batch(client, events) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = bp.post(client, events)
    assert response.status_code == 200, response.content
    return len(queries)


@pytest.mark.django_db
def test_batch_query_count_does_not_grow_with_the_batch(api_client, main_session):
    # SQLite splits bulk INSERTs at 999 bound variables (about 58 messages), which is
    # a property of SQLite rather than of the ingest, so it compares smaller batches.
    small, large = (10, 100) if connection.vendor == "postgresql" else (5, 25)

    small_count = _queries_for_batch(api_client, _mixed_batch(small, first_contact=0))
    large_count = _queries_for_batch(api_client, _mixed_batch(large, first_contact=1000))

    assert small_count == large_count
    assert large_count <= (10 if connection.vendor == "postgresql" else 15)
    assert Message.objects.count() == 2 * (small + large)
    assert User.objects.count() == 1 + small + large
    assert Message.objects.filter(status="read").count() == small + large
    assert not WebhookEvent.objects.exclude(state="processed").exists()


@pytest.mark.django_db
def test_replayed_batch_stores_nothing_twice(api_client, main_session):
    events = _mixed_batch(20, first_contact=0)
    bp.post(api_client, events)

    response = bp.post(api_client, events)

    assert response.status_code == 200
    assert Message.objects.count() == 40
    assert Message.objects.filter(status="read").count() == 20
    assert WebhookEvent.objects.filter(state="processed").count() == 120


@pytest.mark.django_db
def test_statuses_in_a_batch_apply_in_rank_order_whatever_their_order(api_client, main_session):
    sent = bp.message_sent()
    message_id = sent["data"]["messageId"]
    events = [
        bp.message_read(message_id),
        bp.message_delivered(message_id),
        bp.message_status("message.delivered", message_id, status=2),
        sent,
    ]

    bp.post(api_client, events)

    assert Message.objects.get().status == Message.Status.READ


@pytest.mark.django_db
def test_a_failing_event_does_not_fail_its_batch(api_client, main_session, monkeypatch):
    """An unexpected error (a bug, a constraint) fails only its own event, kept for retry."""
    poisoned = bp.message_received(text="poison")
    healthy = [bp.message_received(text=f"ok {n}") for n in range(3)]
    real_store = ingest_store._messages_store

    def store(events, **kwargs):
        if any(event.content == "poison" for event in events):
            raise IntegrityError("simulated constraint violation")
        return real_store(events, **kwargs)

    monkeypatch.setattr(ingest_store, "_messages_store", store)

    response = bp.post(api_client, [healthy[0], poisoned, *healthy[1:]])

    assert response.status_code == 202
    assert sorted(Message.objects.values_list("content", flat=True)) == ["ok 0", "ok 1", "ok 2"]
    failed = WebhookEvent.objects.get(state="failed")
    assert failed.wa_message_id == poisoned["data"]["messageId"]
    assert failed.error.startswith("Processing failed: IntegrityError")

    monkeypatch.setattr(ingest_store, "_messages_store", real_store)
    call_command("process_webhook_events", "--state", "failed", stdout=StringIO())

    assert Message.objects.filter(content="poison").count() == 1
    failed.refresh_from_db()
    assert failed.state == WebhookEvent.State.PROCESSED
    assert failed.attempts == 2


# --- reprocessing stored events ----------------------------------------------------------


@pytest.mark.django_db
def test_reprocessing_is_idempotent_and_applies_deferred_statuses(api_client, main_session):
    payload = bp.message_received()
    bp.post(api_client, bp.message_read(payload["data"]["messageId"]))  # deferred
    stored = WebhookEventFactory(payload=payload, state="failed", error="boom")

    events_reprocess(events=[stored])
    events_reprocess(events=[stored])

    message = Message.objects.get()
    assert message.status == Message.Status.READ
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {"processed"}


@pytest.mark.django_db
def test_reprocessing_a_stored_event(main_session):
    event = WebhookEventFactory(payload=bp.message_received(), state="failed", error="boom")

    events_reprocess(events=[event])

    event.refresh_from_db()
    assert event.state == WebhookEvent.State.PROCESSED
    assert event.error == ""
    assert Message.objects.count() == 1


# --- process_webhook_events -------------------------------------------------------------------


def run_command(*args) -> str:
    out = StringIO()
    call_command("process_webhook_events", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_command_reprocesses_failed_interrupted_and_deferred_events(main_session):
    old = timezone.now() - timedelta(hours=1)
    failed_payload = bp.message_received()
    interrupted_payload = bp.message_received()
    failed = WebhookEventFactory(
        payload=failed_payload, state="failed", error="Processing failed: X", received_at=old
    )
    interrupted = WebhookEventFactory(
        payload=interrupted_payload, state="received", received_at=old
    )
    fresh = WebhookEventFactory(payload=bp.message_received(), state="received")
    # A status deferred earlier whose message was stored by a path that did not apply it.
    message = MessageFactory(session=main_session, status=Message.Status.SENT)
    deferred = WebhookEventFactory(
        payload=bp.message_read(message.wa_message_id),
        event_type="message.read",
        wa_message_id=message.wa_message_id,
        state="deferred",
        received_at=old,
    )
    still_waiting = WebhookEventFactory(
        payload=bp.message_read("NOT-YET"),
        event_type="message.read",
        wa_message_id="NOT-YET",
        state="deferred",
        received_at=old,
    )

    output = run_command()

    assert "Re-processed 4 webhook events" in output
    assert "3 processed" in output and "1 deferred" in output
    for event in (failed, interrupted, deferred):
        event.refresh_from_db()
        assert event.state == WebhookEvent.State.PROCESSED
    fresh.refresh_from_db()
    still_waiting.refresh_from_db()
    assert fresh.state == WebhookEvent.State.RECEIVED  # may still be in progress elsewhere
    assert still_waiting.state == WebhookEvent.State.DEFERRED
    message.refresh_from_db()
    assert message.status == Message.Status.READ
    assert Message.objects.count() == 3

    # Running again changes nothing (only the still-deferred status is looked at again).
    assert "Re-processed 1 webhook event " in run_command()
    assert Message.objects.count() == 3


@pytest.mark.django_db
def test_command_filters_by_state_ids_and_limit(main_session):
    events = [
        WebhookEventFactory(payload=bp.message_received(), state="failed", error="x")
        for _ in range(3)
    ]
    malformed = WebhookEvent.objects.create(raw_body="{oops", state="failed", error="bad json")

    assert "Re-processed 1 webhook event " in run_command("--ids", str(events[1].pk))
    assert Message.objects.count() == 1
    assert "Re-processed 0 webhook events: nothing to do." in run_command("--state", "deferred")
    assert "Re-processed 1 webhook event " in run_command("--state", "failed", "--limit", "1")
    assert Message.objects.count() == 2

    output = run_command("--state", "failed")

    assert "Re-processed 2 webhook events" in output
    assert Message.objects.count() == 3
    malformed.refresh_from_db()
    assert malformed.state == WebhookEvent.State.FAILED  # nothing to re-read


@pytest.mark.django_db
def test_command_rejects_bad_limit():
    from django.core.management import CommandError

    with pytest.raises(CommandError):
        run_command("--limit", "0")


# --- concurrency (PostgreSQL: real threads, real transactions) ---------------------------------


def _run_concurrently(*callables):
    """Run each callable in its own thread, all released at once; re-raise failures."""
    barrier = threading.Barrier(len(callables))
    results: list = [None] * len(callables)
    errors: list = []

    def worker(index, target):
        try:
            barrier.wait(timeout=10)
            results[index] = target()
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=worker, args=(i, target)) for i, target in enumerate(callables)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a delivery hung"
    assert not errors, errors
    return results


def _poster(payload):
    return lambda: bp.post(Client(), payload).status_code


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_deliveries_store_exactly_one_message():
    close_old_connections()
    payload = bp.message_received(pushName="Racer")  # unknown session, unknown contact

    statuses = _run_concurrently(*[_poster(payload) for _ in range(8)])

    assert statuses == [200] * 8
    assert Message.objects.filter(wa_message_id=payload["data"]["messageId"]).count() == 1
    assert WhatsAppSession.objects.filter(bridge_session_id="main").count() == 1
    assert User.objects.filter(phone_number="+" + bp.CONTACT).count() == 1
    assert WebhookEvent.objects.filter(state="processed").count() == 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_batches_neither_deadlock_nor_duplicate(main_session):
    events = [bp.message_received(**{"from": contact_digits(n)}) for n in range(60)]

    statuses = _run_concurrently(
        _poster(events), _poster(list(reversed(events))), _poster(events[20:] + events[:20])
    )

    assert statuses == [200, 200, 200]
    assert Message.objects.count() == 60
    assert User.objects.count() == 61


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_status_racing_its_message_is_never_lost(main_session):
    for _ in range(12):
        received = bp.message_received()
        read = bp.message_read(received["data"]["messageId"])

        _run_concurrently(_poster(received), _poster(read))

        # Applied at once, or deferred (neither transaction saw the other's row) and
        # applied by the minute's recheck: never lost.
        message = Message.objects.get(wa_message_id=received["data"]["messageId"])
        waiting = WebhookEvent.objects.filter(state="deferred").count()
        assert (message.status == Message.Status.READ) == (not waiting)
        assert ingest_store.deferred_statuses_recheck() == waiting
        message.refresh_from_db()
        assert message.status == Message.Status.READ
    assert not WebhookEvent.objects.exclude(state="processed").exists()
