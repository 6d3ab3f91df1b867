"""GET /api/v1/conversations/ and /api/v1/sessions/ through the HTTP API."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.models import WhatsAppSession
from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

pytestmark = pytest.mark.django_db

CONVERSATIONS = "/api/v1/conversations/"
SESSIONS = "/api/v1/sessions/"
T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def session(user):
    return WhatsAppSessionFactory(user=user)


def jid(n: int) -> str:
    return f"1415555{n:04d}@s.whatsapp.net"


def walk(client, url: str) -> list[list[dict]]:
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        pages.append(response.json()["results"])
        url = response.json()["next"]
        assert len(pages) < 100, "pagination does not end"
    return pages


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries.captured_queries)


# -- conversations -------------------------------------------------------------------


def test_conversations_need_a_token(api_client):
    assert api_client.get(CONVERSATIONS).status_code == 401


def test_each_chat_with_its_count_and_last_message(auth_client, session):
    MessageFactory(session=session, chat_jid=jid(1), timestamp=T0)
    MessageFactory(session=session, chat_jid=jid(1), timestamp=T0 + timedelta(hours=3))
    last_of_1 = MessageFactory(
        session=session,
        chat_jid=jid(1),
        timestamp=T0 + timedelta(hours=5),
        direction="outgoing",
        content="x" * 100,
    )
    last_of_2 = MessageFactory(
        session=session,
        chat_jid=jid(2),
        timestamp=T0 + timedelta(hours=9),
        message_type="image",
        content=None,
        caption="Holiday photo",
    )
    MessageFactory(chat_jid=jid(3))  # another user's chat

    response = auth_client.get(CONVERSATIONS)

    assert response.status_code == 200
    assert response.json() == {
        "next": None,
        "previous": None,
        "results": [
            {
                "chat_jid": jid(2),
                "message_count": 1,
                "last_message_at": "2024-01-01T21:00:00Z",
                "last_message": {
                    "id": last_of_2.id,
                    "sender_jid": last_of_2.sender_jid,
                    "direction": "incoming",
                    "message_type": "image",
                    "preview": "Holiday photo",
                    "status": last_of_2.status,
                    "timestamp": "2024-01-01T21:00:00Z",
                },
            },
            {
                "chat_jid": jid(1),
                "message_count": 3,
                "last_message_at": "2024-01-01T17:00:00Z",
                "last_message": {
                    "id": last_of_1.id,
                    "sender_jid": last_of_1.sender_jid,
                    "direction": "outgoing",
                    "message_type": "text",
                    "preview": "x" * 79 + "…",
                    "status": last_of_1.status,
                    "timestamp": "2024-01-01T17:00:00Z",
                },
            },
        ],
    }


def test_the_last_message_among_equal_times_is_the_highest_id(auth_client, session):
    MessageFactory(session=session, chat_jid=jid(1), timestamp=T0)
    tied = MessageFactory.create_batch(3, session=session, chat_jid=jid(1), timestamp=T0)
    # Another chat whose last message has the same instant must not be mixed in.
    MessageFactory(session=session, chat_jid=jid(2), timestamp=T0)

    results = auth_client.get(CONVERSATIONS).json()["results"]

    by_chat = {row["chat_jid"]: row for row in results}
    assert by_chat[jid(1)]["last_message"]["id"] == tied[-1].id
    assert by_chat[jid(1)]["message_count"] == 4
    # Equal last times: chat_jid breaks the tie.
    assert [row["chat_jid"] for row in results] == [jid(1), jid(2)]


def test_limit_pages_through_every_chat_once(auth_client, session):
    # 7 chats; four of them end at the very same instant.
    expected = []
    for n in range(7):
        last = T0 if n < 4 else T0 + timedelta(minutes=n)
        MessageFactory(session=session, chat_jid=jid(n), timestamp=last - timedelta(days=1))
        MessageFactory(session=session, chat_jid=jid(n), timestamp=last)
        expected.append((last, jid(n)))
    expected.sort(key=lambda item: (-item[0].timestamp(), item[1]))

    pages = walk(auth_client, f"{CONVERSATIONS}?limit=2")

    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert [row["chat_jid"] for page in pages for row in page] == [j for _, j in expected]
    assert all(row["message_count"] == 2 for page in pages for row in page)


def test_previous_link_of_conversations(auth_client, session):
    for n in range(5):
        MessageFactory(session=session, chat_jid=jid(n), timestamp=T0)
    first = auth_client.get(CONVERSATIONS, {"limit": 2}).json()
    second = auth_client.get(first["next"]).json()

    back = auth_client.get(second["previous"]).json()

    assert back["results"] == first["results"]
    assert back["previous"] is None


@pytest.mark.parametrize("limit", ["0", "201", "many"])
def test_limit_out_of_range_is_400(auth_client, session, limit):
    response = auth_client.get(CONVERSATIONS, {"limit": limit})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "limit: must be between 1 and 200."


def test_tampered_conversation_cursor_is_400(auth_client, session):
    for n in range(3):
        MessageFactory(session=session, chat_jid=jid(n))
    next_url = auth_client.get(CONVERSATIONS, {"limit": 1}).json()["next"]

    response = auth_client.get(next_url.replace("cursor=ey", "cursor=ez"))

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("cursor: invalid or changed")


def test_conversations_take_the_same_queries_for_1_and_50_chats(auth_client, session):
    MessageFactory(session=session, chat_jid=jid(0))
    one = count_queries(auth_client, CONVERSATIONS)
    for n in range(1, 50):
        MessageFactory.create_batch(2, session=session, chat_jid=jid(n))

    assert len(auth_client.get(CONVERSATIONS).json()["results"]) == 50
    assert count_queries(auth_client, CONVERSATIONS) == one
    assert count_queries(auth_client, f"{CONVERSATIONS}?limit=200") == one


def test_no_conversations(auth_client, session):
    assert auth_client.get(CONVERSATIONS).json() == {
        "next": None,
        "previous": None,
        "results": [],
    }


# -- sessions ------------------------------------------------------------------------


def test_sessions_need_a_token(api_client):
    assert api_client.get(SESSIONS).status_code == 401


def test_own_sessions_newest_first_without_qr_code(auth_client, user):
    older = WhatsAppSessionFactory(
        user=user,
        created_at=T0,
        status=WhatsAppSession.Status.DISCONNECTED,
        disconnected_at=T0 + timedelta(days=1),
    )
    newer = WhatsAppSessionFactory(
        user=user,
        created_at=T0 + timedelta(days=2),
        status=WhatsAppSession.Status.QR_PENDING,
        connected_at=None,
        qr_code="data:image/png;base64,c2VjcmV0LXBhaXJpbmc=",
        qr_expires_at=T0 + timedelta(days=3),
    )
    WhatsAppSessionFactory()  # someone else's

    response = auth_client.get(SESSIONS)

    assert response.status_code == 200
    assert "c2VjcmV0LXBhaXJpbmc" not in response.content.decode()
    results = response.json()["results"]
    assert [row["id"] for row in results] == [newer.id, older.id]
    assert results[1] == {
        "id": older.id,
        "bridge_session_id": older.bridge_session_id,
        "phone_number": older.phone_number,
        "session_type": "user",
        "status": "disconnected",
        "connected_at": older.connected_at.isoformat().replace("+00:00", "Z"),
        "disconnected_at": "2024-01-02T12:00:00Z",
        "created_at": "2024-01-01T12:00:00Z",
    }
    assert results[0]["status"] == "qr_pending"
    assert results[0]["connected_at"] is None


def test_sessions_with_equal_creation_times_page_by_id(auth_client, user):
    sessions = WhatsAppSessionFactory.create_batch(5, user=user, created_at=T0)

    pages = walk(auth_client, f"{SESSIONS}?page_size=2")

    assert [row["id"] for page in pages for row in page] == [s.id for s in reversed(sessions)]


def test_sessions_take_the_same_queries_for_1_and_50(auth_client, user):
    WhatsAppSessionFactory(user=user)
    one = count_queries(auth_client, SESSIONS)
    WhatsAppSessionFactory.create_batch(49, user=user)

    assert len(auth_client.get(SESSIONS).json()["results"]) == 50
    assert count_queries(auth_client, SESSIONS) == one
