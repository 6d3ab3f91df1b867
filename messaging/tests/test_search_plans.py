"""PostgreSQL plans of search, and that both plans give the same answers.

`messaging.search` walks the history index for common matches and uses the GIN
index for rare ones, chosen by a probe of the newest rows. These tests take the
plans of the exact SQL a request runs, on a table with enough rows and fresh
statistics, and check that forcing either plan returns the same rows in the same
order, page after page, as the full-text match computed from the text itself.
"""

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import UserFactory
from core.testing.statistics import autovacuum_paused
from messaging import search
from messaging.models import Message
from messaging.tests.factories import WhatsAppSessionFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

URL = "/api/v1/messages/"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
USERS = 10
MESSAGES = 3000  # the searching user's; every other user has half as many
SMALL = 40  # a user whose whole history is smaller than the probe
CHATS = 6

COMMON = '"where are"'  # 180 of the searcher's 3,000 messages (6%), 60 of them captions
RARE = '"zanzibar express"'  # 3 messages, rare words
RARE_OF_COMMON = '"are where"'  # 3 messages, though "are" and "where" are everywhere
# Content by message number n; the first matching rule wins. Captions are images'.
# (%% is SQL's modulo, doubled for the driver's parameter syntax.)
CONTENT_SQL = """
    CASE
        WHEN n %% 50 = 25 THEN NULL
        WHEN n %% 1000 = 7 THEN 'the zanzibar express leaves at noon'
        WHEN n %% 1000 = 507 THEN 'you are where you are'
        WHEN n %% 25 = 0 THEN 'where are you now'
        WHEN n %% 5 = 2 THEN 'where did they go and how are things'
        ELSE 'coffee meeting tomorrow number ' || n
    END
"""
INSERT_SQL = f"""
    INSERT INTO messaging_message (
        created_at, updated_at, session_id, user_id, wa_message_id, chat_jid, sender_jid,
        recipient_jid, direction, "timestamp", message_type, content, caption,
        media_metadata, status
    )
    SELECT
        now(), now(), %(session)s, %(user)s, 'plan-' || %(user)s || '-' || n,
        '1415555' || lpad((n %% {CHATS})::text, 4, '0') || '@s.whatsapp.net',
        '1415555' || lpad((n %% {CHATS})::text, 4, '0') || '@s.whatsapp.net',
        '', CASE WHEN n %% 2 = 0 THEN 'incoming' ELSE 'outgoing' END,
        -- Users write throughout the same period; two of a user's messages share
        -- each instant, so the keyset's id tiebreaker is exercised.
        %(t0)s + ((n * {USERS} + %(offset)s) / (2 * {USERS})) * interval '1 second',
        CASE WHEN n %% 50 = 25 THEN 'image' ELSE 'text' END,
        {CONTENT_SQL},
        CASE WHEN n %% 50 = 25 THEN 'where are the photos' END,
        '{{}}', 'delivered'
    FROM generate_series(0, %(count)s - 1) AS n
"""


@pytest.fixture(scope="module")
def people(django_db_setup, django_db_blocker):
    """16,540 messages of 11 users, committed once for the module, removed after it.

    Returns API clients of the searching user (3,000 messages) and of a user with
    only 40 messages.
    """
    with django_db_blocker.unblock(), autovacuum_paused("messaging_message"):
        owners = UserFactory.create_batch(USERS + 1)
        try:
            with connection.cursor() as cursor:
                for offset, owner in enumerate(owners):
                    session = WhatsAppSessionFactory(
                        user=owner, bridge_session_id=f"search-plans-{offset}"
                    )
                    count = MESSAGES if offset == 0 else SMALL if offset == USERS else 1500
                    cursor.execute(
                        INSERT_SQL,
                        {
                            "session": session.pk,
                            "user": owner.pk,
                            "t0": T0,
                            "offset": offset,
                            "count": count,
                        },
                    )
                # As after a VACUUM: the GIN index's pending list merged, statistics fresh.
                cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [search.INDEX_NAME])
                cursor.execute("ANALYZE messaging_message")
            yield {"searcher": client_of(owners[0]), "small": client_of(owners[USERS])}
        finally:
            Message.objects.filter(user__in=owners).delete()
            User.objects.filter(pk__in=[owner.pk for owner in owners]).delete()
            with connection.cursor() as cursor:
                # Later tests on this database see statistics of what is left, not
                # of these rows (the admin counts exactly below 10,000 rows).
                cursor.execute("ANALYZE messaging_message")


def client_of(user) -> APIClient:
    _, token = AuthToken.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    client.user = user
    return client


def message_queries(client, url: str, params: dict | None = None) -> list[str]:
    """The SQL of every query on messaging_message that the request ran."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
        assert response.status_code == 200, response.content
    return [q["sql"] for q in queries.captured_queries if '"messaging_message"' in q["sql"]]


def explain(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def probe_and_page_plans(client, params: dict) -> tuple[str, str]:
    probe, page = message_queries(client, URL, params)
    assert "probed_document" in probe and "probed_document" not in page
    return explain(probe), explain(page)


def assert_walks(plan: str, index: str) -> None:
    assert f"Index Scan using {index} on messaging_message" in plan, plan
    assert "message_search_gin_idx" not in plan, plan
    assert "Seq Scan on messaging_message" not in plan, plan
    assert "Sort" not in plan, plan  # the walk yields the order itself


def assert_uses_gin(plan: str) -> None:
    assert "Bitmap Index Scan on message_search_gin_idx" in plan, plan
    # The few matches are then read by id, never by walking the history.
    assert "Index Scan using messaging_message_pkey on messaging_message" in plan, plan
    assert "message_user_history_idx on messaging_message " not in plan, plan
    assert "Seq Scan on messaging_message" not in plan, plan


# -- which plan --------------------------------------------------------------------


def test_common_phrase_walks_the_history_index(people):
    probe, page = probe_and_page_plans(people["searcher"], {"q": COMMON})
    assert_walks(page, "message_user_history_idx")
    # The probe reads the newest rows through the same index.
    assert "Index Scan using message_user_history_idx" in probe, probe
    assert "Seq Scan" not in probe, probe


def test_common_phrase_on_a_later_page_starts_inside_the_index(people):
    first = people["searcher"].get(URL, {"q": COMMON, "page_size": 50}).json()
    (_, page) = probe_and_page_plans(people["searcher"], _query_of(first["next"]))
    assert_walks(page, "message_user_history_idx")
    index_condition = next(line for line in page.splitlines() if "Index Cond" in line)
    assert "timestamp" in index_condition, page


def test_common_phrase_in_one_chat_walks_the_chat_index(people):
    _, page = probe_and_page_plans(people["searcher"], {"q": COMMON, "chat": "14155550003"})
    assert_walks(page, "message_chat_history_idx")


@pytest.mark.parametrize("text", [RARE, "zanzibar", RARE_OF_COMMON])
def test_rare_matches_use_the_gin_index(people, text):
    # "are where" is rare although both its words are common: the probe counts
    # matches of the phrase itself, so the words' frequency cannot mislead it.
    _, page = probe_and_page_plans(people["searcher"], {"q": text})
    assert_uses_gin(page)


def test_a_history_smaller_than_the_probe_is_walked(people):
    _, page = probe_and_page_plans(people["small"], {"q": RARE})
    assert_walks(page, "message_user_history_idx")


def test_a_search_is_two_queries_on_every_page_and_either_plan(people):
    client = people["searcher"]
    for text in (COMMON, RARE):
        first = client.get(URL, {"q": text, "page_size": 2}).json()
        assert first["next"]
        assert len(message_queries(client, URL, {"q": text, "page_size": 2})) == 2
        assert len(message_queries(client, first["next"])) == 2


# -- same answers ------------------------------------------------------------------


@pytest.fixture(params=["walk", "gin"])
def plan(request, monkeypatch):
    """Force one plan: the walk (any number of matches pays) or the GIN index."""
    if request.param == "walk":
        monkeypatch.setattr(search, "WALK_MIN_MATCHES", 0)
    else:
        monkeypatch.setattr(search, "PROBE_ROWS", 1)
        monkeypatch.setattr(search, "WALK_MIN_MATCHES", 2)
    return request.param


def expected_ids(user, text: str, *, chat: str | None = None) -> list[int]:
    """The full-text match as today's semantics define it, computed from the text."""
    sql = (
        f"SELECT id FROM messaging_message WHERE user_id = %s AND {search.DOCUMENT_SQL} "
        "@@ websearch_to_tsquery('simple'::regconfig, %s)"
    )
    params = [user.pk, text]
    if chat:
        sql += " AND chat_jid = %s"
        params.append(chat)
    with connection.cursor() as cursor:
        cursor.execute(sql + ' ORDER BY "timestamp" DESC, id DESC', params)
        return [row[0] for row in cursor.fetchall()]


def _query_of(link: str) -> dict:
    return {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}


def all_pages(client, params: dict) -> tuple[list[int], list[list[int]]]:
    """Every page forwards through `next`, then back again through `previous`."""
    pages, link_params = [], params
    while True:
        body = client.get(URL, link_params).json()
        pages.append([row["id"] for row in body["results"]])
        if not body["next"]:
            break
        link_params = _query_of(body["next"])
    backwards = [pages[-1]]
    while body["previous"]:
        body = client.get(URL, _query_of(body["previous"])).json()
        backwards.append([row["id"] for row in body["results"]])
    return [row for page in pages for row in page], backwards[::-1]


@pytest.mark.parametrize(
    "text",
    [COMMON, RARE, RARE_OF_COMMON, "zanzibar", "where -you", "zanzibar or photos", '"are"'],
)
def test_both_plans_return_the_same_rows_in_the_same_order_on_every_page(people, plan, text):
    client = people["searcher"]
    expected = expected_ids(client.user, text)
    assert expected, "every search here has matches"

    rows, pages_backwards = all_pages(client, {"q": text, "page_size": 37})

    assert rows == expected
    assert [row for page in pages_backwards for row in page] == expected


def test_both_plans_agree_with_other_filters(people, plan):
    client = people["searcher"]
    chat = "14155550003"
    expected = expected_ids(client.user, COMMON, chat=f"{chat}@s.whatsapp.net")

    rows, _ = all_pages(client, {"q": COMMON, "chat": chat, "page_size": 9})

    assert rows == expected and expected


def test_the_probe_takes_the_plan_a_search_needs(people):
    searcher = people["searcher"].user
    messages = Message.objects.filter(user=searcher)
    assert search._walk_pays(messages, COMMON)
    assert not search._walk_pays(messages, RARE)
    assert not search._walk_pays(messages, RARE_OF_COMMON)
    assert search._walk_pays(Message.objects.filter(user=people["small"].user), RARE)
