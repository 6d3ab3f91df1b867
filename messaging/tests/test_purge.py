from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuthCode
from accounts.tests.factories import AuthCodeFactory
from messaging.models import Message, WebhookEvent
from messaging.services import retention
from messaging.tests.factories import MessageFactory, WebhookEventFactory, WhatsAppSessionFactory


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


@pytest.fixture
def history(db):
    """Five messages from 100 days ago, three from 10 days ago, replies across the cutoff."""
    session = WhatsAppSessionFactory()
    old = [MessageFactory(session=session, timestamp=days_ago(100 + n)) for n in range(5)]
    new = [MessageFactory(session=session, timestamp=days_ago(10 - n)) for n in range(3)]
    # A recent reply to an old message, and an old reply to an old message.
    new[0].reply_to = old[0]
    new[0].save()
    old[1].reply_to = old[2]
    old[1].save()
    return old, new


@pytest.fixture
def events(db):
    old = [WebhookEventFactory(received_at=days_ago(40)) for _ in range(3)]
    new = [WebhookEventFactory(received_at=days_ago(2)) for _ in range(2)]
    return old, new


@pytest.fixture
def codes(db):
    spent = [
        AuthCodeFactory(expires_at=days_ago(2)),  # expired two days ago
        AuthCodeFactory(expires_at=days_ago(-1), used_at=days_ago(3)),  # used long ago
    ]
    kept = [
        AuthCodeFactory(),  # live
        AuthCodeFactory(expires_at=days_ago(0.1)),  # expired an hour or two ago
        AuthCodeFactory(used_at=days_ago(0.5)),  # used today
    ]
    return spent, kept


def test_purge_deletes_old_rows_and_keeps_recent_ones(history, events, codes):
    _, new_messages = history
    _, new_events = events
    _, kept_codes = codes

    out = purge("--messages-older-than", "30", "--events-older-than", "30")

    assert "Deleted 5 messages, 3 webhook events and 2 login codes." in out
    assert set(Message.objects.values_list("pk", flat=True)) == {m.pk for m in new_messages}
    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {e.pk for e in new_events}
    assert set(AuthCode.objects.values_list("pk", flat=True)) == {c.pk for c in kept_codes}
    # The surviving reply lost its deleted original instead of blocking the delete.
    new_messages[0].refresh_from_db()
    assert new_messages[0].reply_to is None


def test_dry_run_counts_and_deletes_nothing(history, events, codes):
    out = purge("--messages-older-than", "30", "--events-older-than", "30", "--dry-run")
    assert "would delete 5 messages, 3 webhook events and 2 login codes" in out
    assert Message.objects.count() == 8
    assert WebhookEvent.objects.count() == 5
    assert AuthCode.objects.count() == 5


def test_only_the_asked_tables_are_purged(history, events, codes):
    purge("--events-older-than", "30")
    assert Message.objects.count() == 8
    assert WebhookEvent.objects.count() == 2
    assert AuthCode.objects.count() == 3  # spent codes are always cleaned


def test_zero_days_purges_everything_up_to_now(history):
    purge("--messages-older-than", "0")
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_deletes_in_batches_each_in_its_own_transaction(history):
    batches = []
    with CaptureQueriesContext(connection) as queries:
        deleted = retention.purge_messages(
            older_than=days_ago(30), batch_size=2, progress=batches.append
        )
    assert deleted == 5
    assert batches == [2, 2, 1]
    deletes = [q["sql"] for q in queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3
    # Inside the test's transaction every batch opens (and releases) its own savepoint.
    savepoints = [q["sql"] for q in queries if q["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) == 3
    assert Message.objects.count() == 3


@pytest.mark.django_db
def test_a_full_last_batch_ends_with_one_empty_look(history):
    batches = []
    retention.purge_messages(older_than=days_ago(30), batch_size=5, progress=batches.append)
    assert batches == [5]
    assert Message.objects.count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--messages-older-than", "-1"),
        ("--messages-older-than", "ten"),
        ("--messages-older-than", "30", "--batch-size", "0"),
    ],
)
def test_bad_arguments_are_refused(args):
    MessageFactory(timestamp=days_ago(100))
    with pytest.raises(CommandError):
        purge(*args)
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_batches_commit_one_by_one_on_postgres():
    """Each batch is committed as it goes: another connection sees the progress."""
    from django.db import connections

    session = WhatsAppSessionFactory()
    for n in range(6):
        MessageFactory(session=session, timestamp=days_ago(100 + n))
    seen_by_other_connection = []
    other = connections.create_connection("default")
    try:

        def progress(count):
            with other.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM messaging_message")
                seen_by_other_connection.append(cursor.fetchone()[0])

        retention.purge_messages(older_than=days_ago(30), batch_size=2, progress=progress)
    finally:
        other.close()
    assert seen_by_other_connection == [4, 2, 0]
