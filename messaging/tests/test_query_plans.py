"""PostgreSQL plans of the history API's queries: the indexes are really used.

The plans are taken for the exact SQL the views run (captured from the request),
on a table with enough rows and fresh statistics for the planner to choose freely.
"""

import re
from datetime import UTC, datetime, timedelta

import factory
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import UserFactory
from core.testing.statistics import autovacuum_paused
from messaging.models import Message
from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

T0 = datetime(2024, 1, 1, tzinfo=UTC)
USERS = 10
MESSAGES_PER_USER = 2000
RARE_WORD = "zanzibar"
WORDS = ["coffee", "meeting", "tomorrow", "photo", "call", "lunch", "report", "weekend"]
CHATS = [f"1415555{n:04d}@s.whatsapp.net" for n in range(40)]
# A rare word in one message of a thousand.
CONTENTS = [
    f"{WORDS[n % 8]} {WORDS[(n * 3) % 8]} number {n}" + (f" {RARE_WORD}" if n % 1000 == 7 else "")
    for n in range(MESSAGES_PER_USER)
]


@pytest.fixture(scope="module")
def history_client(django_db_setup, django_db_blocker):
    """20,000 messages of 10 users, interleaved in time, committed once for the module.

    Returns an API client of one of the users. The rows are deleted again after the
    module's tests.
    """
    with (
        django_db_blocker.unblock(),
        autovacuum_paused("messaging_message", "messaging_chatsummary"),
    ):
        owners = UserFactory.create_batch(USERS)
        try:
            rows = []
            for offset, owner in enumerate(owners):
                session = WhatsAppSessionFactory(user=owner)
                # Every user writes throughout the same period, three messages a second
                # each; many share an instant.
                times = [
                    T0 + timedelta(seconds=(i * USERS + offset) // 3)
                    for i in range(MESSAGES_PER_USER)
                ]
                rows += MessageFactory.build_batch(
                    MESSAGES_PER_USER,
                    session=session,
                    user=owner,
                    chat_jid=factory.Iterator(CHATS),
                    timestamp=factory.Iterator(times),
                    content=factory.Iterator(CONTENTS),
                )
            Message.objects.bulk_create(rows, batch_size=5000)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE messaging_message, messaging_chatsummary")
            _, token = AuthToken.objects.create(user=owners[0])
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
            yield client
        finally:
            Message.objects.filter(user__in=owners).update(reply_to=None)
            Message.objects.filter(user__in=owners).delete()
            User.objects.filter(pk__in=[owner.pk for owner in owners]).delete()
            with connection.cursor() as cursor:  # no stale size estimate for later tests
                cursor.execute("ANALYZE messaging_message, messaging_chatsummary")


def plans_of_request(client, url: str, tables=("messaging_message",)) -> list[str]:
    """EXPLAIN of every query on these tables that the request ran."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        assert response.status_code == 200, response.content
    plans = []
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            if any(f'"{table}"' in query["sql"] for table in tables):
                cursor.execute("EXPLAIN " + query["sql"])
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert plans, "the request ran no message query"
    return plans


def assert_uses_index(plan: str, index: str) -> None:
    assert index in plan, plan
    assert "Seq Scan on messaging_message" not in plan, plan


def test_history_first_page_walks_the_user_history_index(history_client):
    (plan,) = plans_of_request(history_client, "/api/v1/messages/")
    assert_uses_index(plan, "message_user_history_idx")
    assert "Sort" not in plan, plan  # the index already yields the order


def test_history_cursor_page_starts_inside_the_index(history_client):
    first = history_client.get("/api/v1/messages/", {"page_size": 200}).json()
    second = history_client.get(first["next"]).json()

    (plan,) = plans_of_request(history_client, second["next"])

    assert_uses_index(plan, "message_user_history_idx")
    # The cursor's time bound is an index condition, not a filter over skipped rows.
    index_condition = next(line for line in plan.splitlines() if "Index Cond" in line)
    assert "timestamp" in index_condition, plan
    assert "Sort" not in plan, plan


def test_chat_history_uses_the_chat_index(history_client):
    (plan,) = plans_of_request(history_client, "/api/v1/messages/?chat=14155550003")
    assert_uses_index(plan, "message_chat_history_idx")


def test_search_uses_the_gin_index(history_client):
    response = history_client.get("/api/v1/messages/", {"q": RARE_WORD})
    assert len(response.json()["results"]) == MESSAGES_PER_USER // 1000

    *_probe, plan = plans_of_request(history_client, f"/api/v1/messages/?q={RARE_WORD}")

    assert "Bitmap Index Scan on message_search_gin_idx" in plan, plan
    assert "Seq Scan on messaging_message" not in plan, plan


def test_two_word_phrase_search_uses_the_gin_index(history_client):
    *_probe, plan = plans_of_request(history_client, f'/api/v1/messages/?q="7 {RARE_WORD}"')
    assert "Bitmap Index Scan on message_search_gin_idx" in plan, plan


def test_conversations_and_stats_read_summaries_not_the_messages(history_client):
    first = history_client.get("/api/v1/conversations/", {"limit": 5}).json()
    summaries = ("messaging_message", "messaging_chatsummary", "messaging_messagecount")
    chats, last_messages = plans_of_request(history_client, first["next"], summaries)
    (stats,) = plans_of_request(history_client, "/api/v1/messages/stats/", summaries)

    # The chats page and the stats read the summary rows (a few hundred here: the
    # planner may scan them whole), never the messages; only the page's last messages
    # are read from the messages, by index probes.
    assert "messaging_chatsummary" in chats and not re.search(r"messaging_message\b", chats)
    assert "messaging_messagecount" in stats and not re.search(r"messaging_message\b", stats)
    assert "Seq Scan" not in last_messages, last_messages
    assert re.search(r"message_(user|chat)_history_idx", last_messages), last_messages
