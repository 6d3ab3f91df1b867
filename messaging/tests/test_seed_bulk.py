import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import User
from core.phone import validate_phone_number
from messaging.models import Message, WhatsAppSession
from messaging.seeding.seeder import BulkSeeder, SeedPlan
from messaging.tests.factories import MessageFactory

END = "2026-06-01T00:00:00+00:00"
END_DT = datetime(2026, 6, 1, tzinfo=UTC)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_bulk", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def snapshot() -> list[tuple]:
    """Every seeded row by natural keys (surrogate ids differ between runs)."""
    users = sorted(
        User.objects.values_list(
            "phone_number", "display_name", "first_seen", "last_active", "password"
        )
    )
    sessions = sorted(
        WhatsAppSession.objects.values_list(
            "bridge_session_id",
            "user__phone_number",
            "phone_number",
            "session_type",
            "status",
            "connected_at",
            "disconnected_at",
            "metadata",
        )
    )
    messages = sorted(
        Message.objects.values_list(
            "session__bridge_session_id",
            "wa_message_id",
            "user__phone_number",
            "chat_jid",
            "sender_jid",
            "recipient_jid",
            "direction",
            "timestamp",
            "created_at",
            "message_type",
            "content",
            "caption",
            "reply_to__wa_message_id",
            "media_metadata",
            "status",
        )
    )
    return [tuple(users), tuple(sessions), tuple(messages)]


@pytest.mark.django_db
def test_seed_bulk_creates_realistic_history():
    out = seed("--users", "6", "--messages", "1500", "--seed", "3", "--sessions-per-user", "2")
    assert "Seeded 7 users, 13 sessions and 1500 messages" in out

    # Six people plus the assistant, every number valid E.164.
    assert User.objects.count() == 7
    for number in User.objects.values_list("phone_number", flat=True):
        validate_phone_number(number)

    main = WhatsAppSession.objects.get(bridge_session_id="main")
    assert main.session_type == "main"
    own = WhatsAppSession.objects.filter(session_type="user")
    assert own.count() == 12
    assert {s.status for s in own} == {"connected", "disconnected"}

    messages = list(Message.objects.select_related("session"))
    assert len(messages) == 1500
    # Each user talks to the assistant on the main number and to others on their own.
    assert {m.user_id for m in messages if m.session_id == main.pk} == set(
        own.values_list("user_id", flat=True)
    )
    for message in messages:
        if message.session_id != main.pk:
            assert message.user_id == message.session.user_id
    chats_per_user = {}
    for message in messages:
        chats_per_user.setdefault(message.user_id, set()).add(message.chat_jid)
    assert min(len(chats) for chats in chats_per_user.values()) >= 4
    assert any(m.chat_jid.endswith("@g.us") for m in messages)

    by_type = {}
    for message in messages:
        by_type.setdefault(message.message_type, []).append(message)
    # Every type Zapa displays; the seed makes no unsupported messages (stickers, polls…).
    assert set(by_type) == set(Message.MessageType.values) - {Message.MessageType.UNSUPPORTED}
    assert all(m.content for m in by_type["text"])
    assert {"mime_type", "size", "width", "height", "url"} <= set(
        by_type["image"][0].media_metadata
    )
    assert "duration" in by_type["audio"][0].media_metadata
    assert "file_name" in by_type["document"][0].media_metadata
    assert {"latitude", "longitude"} <= set(by_type["location"][0].media_metadata["location"])
    assert by_type["contact"][0].media_metadata["contact"]["number"].startswith("+")
    assert any(m.caption for m in by_type["image"] + by_type["video"])

    assert {m.direction for m in messages} == {"incoming", "outgoing"}
    assert {"read", "delivered", "sent"} <= {m.status for m in messages}

    by_id = {m.pk: m for m in messages}
    replies = [m for m in messages if m.reply_to_id]
    assert len(replies) > 50
    for reply in replies:
        original = by_id[reply.reply_to_id]
        assert original.pk < reply.pk
        assert (original.session_id, original.chat_jid) == (reply.session_id, reply.chat_jid)

    # Spread over months, ids increasing with time, the newest before the anchor.
    timestamps = [m.timestamp for m in sorted(messages, key=lambda m: m.pk)]
    assert timestamps == sorted(timestamps)
    assert timestamps[-1] - timestamps[0] > timedelta(days=150)
    assert len({(m.session_id, m.wa_message_id) for m in messages}) == 1500


@pytest.mark.django_db
def test_same_seed_gives_the_same_rows_and_another_seed_does_not():
    args = ("--users", "4", "--messages", "400", "--end", END)
    seed(*args, "--seed", "11")
    first = snapshot()
    User.objects.all().delete()  # cascades to sessions and messages

    seed(*args, "--seed", "11")
    assert snapshot() == first
    User.objects.all().delete()

    seed(*args, "--seed", "12")
    other = snapshot()
    assert other[0] != first[0]
    assert other[2] != first[2]


@pytest.mark.django_db
def test_seeding_twice_adds_data_and_the_table_still_takes_normal_inserts():
    seed("--users", "3", "--messages", "300", "--seed", "5", "--end", END)
    seed("--users", "3", "--messages", "300", "--seed", "5", "--end", END)
    assert User.objects.count() == 7  # one assistant, shared by both runs
    assert WhatsAppSession.objects.filter(session_type="main").count() == 1
    assert Message.objects.count() == 600

    # The ids were taken from the sequence: the next ordinary insert does not collide.
    message = MessageFactory()
    assert message.pk > Message.objects.exclude(pk=message.pk).order_by("-pk")[0].pk


@pytest.mark.django_db
def test_json_summary_and_timestamps_end_at_the_anchor():
    out = seed("--users", "2", "--messages", "200", "--days", "30", "--end", END, "--json")
    summary = json.loads(out)
    assert summary["messages"] == 200
    assert summary["users"] == 3
    assert summary["messages_per_second"] > 0
    newest = Message.objects.order_by("-timestamp")[0].timestamp
    oldest = Message.objects.order_by("timestamp")[0].timestamp
    assert END_DT - timedelta(days=1) < newest < END_DT
    assert END_DT - timedelta(days=30) <= oldest < END_DT - timedelta(days=29)


@pytest.mark.django_db
def test_progress_is_reported_for_every_message():
    seen = []
    result = BulkSeeder(
        SeedPlan(users=2, messages=25_000, seed=1, end=END_DT, chunk_size=12_000),
        progress=seen.append,
    ).run()
    assert result.messages == 25_000
    assert sum(seen) == 25_000
    assert Message.objects.count() == 25_000


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        ("--users", "0", "--messages", "10"),
        ("--users", "2", "--messages", "-1"),
        ("--users", "2", "--messages", "10", "--sessions-per-user", "0"),
        ("--users", "2", "--messages", "10", "--end", "yesterday"),
    ],
)
def test_bad_arguments_are_refused(args):
    with pytest.raises(CommandError):
        seed(*args)
    assert not Message.objects.exists()


@pytest.mark.django_db
@pytest.mark.postgres
def test_postgres_path_uses_copy_and_advances_the_identity_sequence():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('messaging_message', 'id')")
        (sequence,) = cursor.fetchone()
    summary = json.loads(seed("--users", "3", "--messages", "1000", "--end", END, "--json"))
    first = summary["first_message_id"]
    ids = sorted(Message.objects.values_list("id", flat=True))
    assert ids == list(range(first, first + 1000))
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM " + sequence)
        (last_value,) = cursor.fetchone()
    assert last_value == first + 999
    # Full-text search finds the seeded text through the GIN index expression.
    from messaging.search import search_messages

    assert search_messages(Message.objects.all(), '"see you tomorrow"').exists()
