"""GET /api/v1/messages/ and /api/v1/messages/{id}/ through the HTTP API."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, urlencode, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.api.history_serializers import MessageSerializer
from messaging.models import Message
from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages/"
T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
CHAT = "14155550123@s.whatsapp.net"


@pytest.fixture
def session(user):
    return WhatsAppSessionFactory(user=user)


def message(session, **fields):
    return MessageFactory(session=session, **fields)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def get_ids(client, **params) -> list[int]:
    return ids(client.get(URL, params))


def assert_error(response, status: int, code: str, text: str) -> None:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert text in error["message"]


def test_needs_a_token(api_client, session):
    message(session)
    response = api_client.get(URL)
    assert response.status_code == 401
    assert "error" in response.json()


def test_newest_first_with_id_as_tiebreaker(auth_client, session):
    older = message(session, timestamp=T0)
    tied_a = message(session, timestamp=T0 + timedelta(minutes=1))
    tied_b = message(session, timestamp=T0 + timedelta(minutes=1))
    newest = message(session, timestamp=T0 + timedelta(hours=1))

    assert get_ids(auth_client) == [newest.id, tied_b.id, tied_a.id, older.id]


def test_only_the_callers_messages(auth_client, session):
    mine = message(session)
    MessageFactory.create_batch(3)  # other users' sessions and messages

    assert get_ids(auth_client) == [mine.id]


def test_result_shape(auth_client, session):
    original = message(session, timestamp=T0)
    reply = message(
        session,
        timestamp=T0 + timedelta(seconds=1),
        reply_to=original,
        message_type=Message.MessageType.IMAGE,
        content=None,
        caption="A photo",
        media_metadata={"mime_type": "image/jpeg", "size": 1234},
    )

    row = auth_client.get(URL).json()["results"][0]

    assert set(row) == set(MessageSerializer().fields)
    assert row == {
        "id": reply.id,
        "wa_message_id": reply.wa_message_id,
        "session": session.id,
        "chat_jid": reply.chat_jid,
        "sender_jid": reply.sender_jid,
        "recipient_jid": reply.recipient_jid,
        "direction": "incoming",
        "message_type": "image",
        "content": None,
        "caption": "A photo",
        "media_metadata": {"mime_type": "image/jpeg", "size": 1234},
        "reply_to": original.id,
        "status": reply.status,
        "timestamp": "2024-01-01T12:00:01Z",
    }


@pytest.mark.parametrize(
    "chat",
    [
        CHAT,
        "14155550123",
        "+14155550123",
        " 14155550123",  # an unencoded '+' in a query string arrives as a space
        "+1 (415) 555-0123",
        "14155550123:17@s.whatsapp.net",
        "14155550123@c.us",
        "14155550123@S.WhatsApp.Net",
        "14155550123.0:3@s.whatsapp.net",
    ],
)
def test_filter_by_chat_accepts_numbers_and_jids(auth_client, session, chat):
    wanted = message(session, chat_jid=CHAT)
    message(session, chat_jid="14155550999@s.whatsapp.net")

    assert get_ids(auth_client, chat=chat) == [wanted.id]


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("120363025246125486@g.us", "120363025246125486@g.us"),
        ("14155550123-1596112345@g.us", "14155550123-1596112345"),  # old group id, bare
        ("90123456789012@lid", "90123456789012:4@lid"),
    ],
)
def test_filter_by_group_or_lid_chat(auth_client, session, stored, typed):
    wanted = message(session, chat_jid=stored)
    message(session, chat_jid=CHAT)

    assert get_ids(auth_client, chat=typed) == [wanted.id]


@pytest.mark.parametrize(
    "chat", ["hello", "+1 415 CALL NOW", "abc@s.whatsapp.net", "a@b@c", "@g.us", "x" * 200]
)
def test_invalid_chat_is_400(auth_client, session, chat):
    response = auth_client.get(URL, {"chat": chat})
    assert_error(response, 400, "invalid", "chat: not a phone number or WhatsApp JID")


def test_filter_by_session_id(auth_client, user, session):
    other_session = WhatsAppSessionFactory(user=user)
    wanted = message(session)
    message(other_session)
    strangers_session = WhatsAppSessionFactory()
    MessageFactory(session=strangers_session)

    assert get_ids(auth_client, session=session.id) == [wanted.id]
    assert get_ids(auth_client, session=strangers_session.id) == []
    assert_error(auth_client.get(URL, {"session": "main"}), 400, "invalid", "session:")


def test_filter_by_direction_and_type(auth_client, session):
    incoming_text = message(session, direction="incoming")
    outgoing_text = message(session, direction="outgoing")
    outgoing_audio = message(
        session, direction="outgoing", message_type="audio", content=None, media_metadata={}
    )

    assert get_ids(auth_client, direction="incoming") == [incoming_text.id]
    assert get_ids(auth_client, direction="outgoing") == [outgoing_audio.id, outgoing_text.id]
    assert get_ids(auth_client, type="audio") == [outgoing_audio.id]
    assert get_ids(auth_client, type="text", direction="outgoing") == [outgoing_text.id]


def test_invalid_direction_and_type_list_the_choices(auth_client, session):
    response = auth_client.get(URL, {"direction": "sideways"})
    assert_error(response, 400, "invalid", 'direction: "sideways" is not one of: incoming')
    response = auth_client.get(URL, {"type": "sticker"})
    assert_error(response, 400, "invalid", 'type: "sticker" is not one of: text, image')


def test_since_is_inclusive_and_until_exclusive(auth_client, session):
    before = message(session, timestamp=T0 - timedelta(microseconds=1))
    at_since = message(session, timestamp=T0)
    inside = message(session, timestamp=T0 + timedelta(hours=1))
    at_until = message(session, timestamp=T0 + timedelta(hours=2))

    window = {"since": "2024-01-01T12:00:00Z", "until": "2024-01-01T14:00:00Z"}
    assert get_ids(auth_client, **window) == [inside.id, at_since.id]
    assert get_ids(auth_client, since="2024-01-01T12:00:00Z") == [
        at_until.id,
        inside.id,
        at_since.id,
    ]
    assert get_ids(auth_client, until="2024-01-01T12:00:00Z") == [before.id]


@pytest.mark.parametrize(
    "since",
    [
        "2024-01-01T12:00:00Z",
        "2024-01-01T12:00:00+00:00",
        "2024-01-01T13:00:00+01:00",
        "2024-01-01T07:00:00-05:00",
        "2024-01-01T12:00:00",  # no offset: UTC
        "2024-01-01 12:00:00",
    ],
)
def test_since_accepts_iso_8601_forms(auth_client, session, since):
    message(session, timestamp=T0 - timedelta(seconds=1))
    wanted = message(session, timestamp=T0)

    assert get_ids(auth_client, since=since) == [wanted.id]


def test_unencoded_plus_in_an_offset_still_works(auth_client, session):
    message(session, timestamp=T0 - timedelta(seconds=1))
    wanted = message(session, timestamp=T0)

    response = auth_client.get(URL + "?since=2024-01-01T13:00:00+01:00")
    assert ids(response) == [wanted.id]


def test_a_date_alone_means_midnight_utc(auth_client, session):
    message(session, timestamp=datetime(2023, 12, 31, 23, 59, tzinfo=UTC))
    wanted = message(session, timestamp=datetime(2024, 1, 1, 0, 0, tzinfo=UTC))

    assert get_ids(auth_client, since="2024-01-01") == [wanted.id]


@pytest.mark.parametrize("field", ["since", "until"])
@pytest.mark.parametrize(
    "value", ["yesterday", "2024-13-01T00:00:00Z", "1704110400", "2024-01-01T25:00"]
)
def test_invalid_datetimes_are_400(auth_client, session, field, value):
    response = auth_client.get(URL, {field: value})
    assert_error(response, 400, "invalid", f"{field}: must be an ISO 8601 date and time")


def test_since_must_be_before_until(auth_client, session):
    response = auth_client.get(
        URL, {"since": "2024-01-02T00:00:00Z", "until": "2024-01-01T00:00:00Z"}
    )
    assert_error(response, 400, "invalid", "until: must be later than since")


def test_search_filter_substring_or_words(auth_client, session):
    wanted = message(session, content="Dinner at Luigi's tonight?")
    by_caption = message(session, message_type="image", content=None, caption="luigi's pizza menu")
    lunch = message(session, content="Lunch tomorrow")

    assert get_ids(auth_client, q="luigi's") == [by_caption.id, wanted.id]
    assert get_ids(auth_client, q="lunch") == [lunch.id]
    assert_error(auth_client.get(URL, {"q": "x" * 201}), 400, "invalid", "q:")


# -- pagination ----------------------------------------------------------------------


def walk(client, url: str, link: str = "next") -> list[list[int]]:
    """The ids of every page, following `link` until it is null."""
    pages = []
    while url:
        response = client.get(url)
        pages.append(ids(response))
        url = response.json()[link]
        assert len(pages) < 100, "pagination does not end"
    return pages


def test_cursor_walk_visits_every_message_once_even_with_equal_timestamps(auth_client, session):
    # 3 distinct times and 20 messages sharing one instant: the id must break the ties.
    created = [message(session, timestamp=T0 + timedelta(seconds=s)) for s in (1, 2, 3)]
    created += [message(session, timestamp=T0) for _ in range(20)]
    created += [message(session, timestamp=T0 - timedelta(days=1)) for _ in range(3)]
    expected = [m.id for m in sorted(created, key=lambda m: (m.timestamp, m.id), reverse=True)]

    pages = walk(auth_client, f"{URL}?page_size=4")

    assert [len(page) for page in pages] == [4] * 6 + [2]
    assert [i for page in pages for i in page] == expected


def test_previous_links_walk_back_to_the_first_page(auth_client, session):
    for _ in range(10):
        message(session, timestamp=T0)
    forward = walk(auth_client, f"{URL}?page_size=3")
    first_page = auth_client.get(f"{URL}?page_size=3").json()
    assert first_page["previous"] is None

    # From the last page, follow `previous` links back.
    url = f"{URL}?page_size=3"
    for _ in range(len(forward) - 1):
        url = auth_client.get(url).json()["next"]
    backward = walk(auth_client, url, link="previous")

    assert backward == list(reversed(forward))
    assert len(forward) == 4


def test_a_cursor_keeps_the_filters_in_its_links(auth_client, session):
    wanted = [
        message(session, chat_jid=CHAT, timestamp=T0 + timedelta(seconds=s)) for s in range(5)
    ]
    for s in range(5):
        message(session, chat_jid="14155550999@s.whatsapp.net", timestamp=T0 + timedelta(seconds=s))

    pages = walk(auth_client, f"{URL}?chat=14155550123&page_size=2")

    assert [i for page in pages for i in page] == [m.id for m in reversed(wanted)]


def test_new_messages_do_not_shift_later_pages(auth_client, session):
    existing = [message(session, timestamp=T0 + timedelta(seconds=s)) for s in range(6)]
    first = auth_client.get(URL, {"page_size": 3}).json()
    message(session, timestamp=T0 + timedelta(days=1))  # arrives while the user reads

    second = auth_client.get(first["next"])

    assert ids(second) == [m.id for m in reversed(existing[:3])]


def _cursor_of(url: str) -> str:
    return parse_qs(urlparse(url).query)["cursor"][0]


def _swap_char(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda cursor: _swap_char(cursor, 5),  # inside the position
        lambda cursor: _swap_char(cursor, len(cursor) - 3),  # inside the signature
        lambda cursor: cursor.split(":")[0],  # signature removed
        lambda cursor: "not-a-cursor",
        lambda cursor: cursor + "x",
    ],
)
def test_a_tampered_cursor_is_400(auth_client, session, tamper):
    for _ in range(3):
        message(session)
    cursor = _cursor_of(auth_client.get(URL, {"page_size": 1}).json()["next"])

    response = auth_client.get(f"{URL}?cursor={quote(tamper(cursor))}")
    assert_error(response, 400, "invalid", "cursor: invalid or changed")


def test_an_empty_cursor_means_the_first_page(auth_client, session):
    only = message(session)
    assert ids(auth_client.get(f"{URL}?cursor=")) == [only.id]


def test_a_cursor_of_another_endpoint_is_400(auth_client, session):
    for _ in range(3):
        message(session, chat_jid=f"1415555{_:04d}@s.whatsapp.net")
    conversations = auth_client.get("/api/v1/conversations/", {"limit": 1}).json()
    cursor = _cursor_of(conversations["next"])

    response = auth_client.get(f"{URL}?{urlencode({'cursor': cursor})}")
    assert_error(response, 400, "invalid", "cursor:")


@pytest.mark.parametrize("page_size", ["0", "-1", "201", "1000", "ten", "1.5"])
def test_page_size_out_of_range_is_400(auth_client, session, page_size):
    response = auth_client.get(URL, {"page_size": page_size})
    assert_error(response, 400, "invalid", "page_size: must be between 1 and 200")


def test_page_size_default_50_and_max_200(auth_client, session):
    Message.objects.bulk_create(MessageFactory.build_batch(210, session=session, user=session.user))

    default_page = auth_client.get(URL).json()
    assert len(default_page["results"]) == 50
    assert default_page["next"] is not None
    assert len(get_ids(auth_client, page_size=200)) == 200
    assert len(get_ids(auth_client, page_size=1)) == 1


def test_no_total_count(auth_client, session):
    message(session)
    assert set(auth_client.get(URL).json()) == {"next", "previous", "results"}


# -- detail --------------------------------------------------------------------------


def test_detail_of_own_message(auth_client, session):
    mine = message(session, content="Hello there")
    response = auth_client.get(f"{URL}{mine.id}/")
    assert response.status_code == 200
    assert response.json()["content"] == "Hello there"
    assert response.json()["id"] == mine.id


def test_detail_of_another_users_message_is_404(auth_client, session):
    theirs = MessageFactory()
    response = auth_client.get(f"{URL}{theirs.id}/")
    assert_error(response, 404, "not_found", "No message of yours has this id")


@pytest.mark.parametrize("message_id", ["999999", str(2**63), "abc"])
def test_detail_of_missing_message_is_404(auth_client, session, message_id):
    response = auth_client.get(f"{URL}{message_id}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# -- query counts --------------------------------------------------------------------


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        assert response.status_code == 200, response.content
    return len(queries.captured_queries)


@pytest.mark.parametrize(
    "url", [URL, f"{URL}?chat=14155550123&type=text&since=2020-01-01T00:00:00Z&q=hello"]
)
def test_list_query_count_does_not_grow_with_the_page(auth_client, session, url):
    original = message(session, chat_jid=CHAT, content="hello world")
    one = count_queries(auth_client, url)
    for _ in range(49):
        message(session, chat_jid=CHAT, content="hello again", reply_to=original)
    next_page_url = auth_client.get(f"{url}{'&' if '?' in url else '?'}page_size=10").json()["next"]

    assert len(ids(auth_client.get(url))) == 50
    assert count_queries(auth_client, url) == one
    assert count_queries(auth_client, next_page_url) == one


# -- OpenAPI -------------------------------------------------------------------------


def test_openapi_documents_the_history_endpoints(api_client):
    response = api_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]

    def parameters(path: str) -> set[str]:
        return {p["name"] for p in paths[path]["get"].get("parameters", [])}

    history_filters = {"chat", "session", "direction", "type", "since", "until", "q"}
    assert parameters("/api/v1/messages/") == history_filters | {"cursor", "page_size"}
    assert parameters("/api/v1/messages/export/") == history_filters | {"format"}
    assert parameters("/api/v1/conversations/") == {"cursor", "limit"}
    assert parameters("/api/v1/sessions/") == {"cursor", "page_size"}
    assert {"200", "401", "404"} <= set(paths["/api/v1/messages/{id}/"]["get"]["responses"])
    assert {"200", "400", "401"} <= set(paths["/api/v1/messages/"]["get"]["responses"])
    export_200 = paths["/api/v1/messages/export/"]["get"]["responses"]["200"]["content"]
    assert set(export_200) == {"text/csv", "application/json"}
    assert "/api/v1/messages/stats/" in paths


# -- messages Zapa cannot display ----------------------------------------------------


def test_unsupported_messages_are_listed_at_their_place(auth_client, session):
    first = message(session, chat_jid=CHAT, timestamp=T0, content="Look")
    sticker = message(session, unsupported=True, chat_jid=CHAT, timestamp=T0 + timedelta(1))
    reaction = message(
        session,
        unsupported=True,
        chat_jid=CHAT,
        timestamp=T0 + timedelta(2),
        media_metadata={"original_type": "<b>reaction</b>"},
    )
    wrapped = message(
        session, unsupported=True, chat_jid=CHAT, timestamp=T0 + timedelta(3), media_metadata={}
    )
    last = message(session, chat_jid=CHAT, timestamp=T0 + timedelta(4), content="Ha")

    rows = auth_client.get(URL, {"chat": CHAT}).json()["results"]

    assert [row["id"] for row in rows] == [last.id, wrapped.id, reaction.id, sticker.id, first.id]
    by_id = {row["id"]: row for row in rows}
    for unsupported in (sticker, reaction, wrapped):
        row = by_id[unsupported.id]
        assert row["message_type"] == "unsupported"
        assert row["content"] is None and row["caption"] is None
    assert by_id[sticker.id]["media_metadata"] == {"original_type": "sticker"}
    # JSON data, not HTML: exactly as stored.
    assert by_id[reaction.id]["media_metadata"] == {"original_type": "<b>reaction</b>"}
    assert by_id[wrapped.id]["media_metadata"] == {}
    detail = auth_client.get(f"{URL}{sticker.id}/").json()
    assert detail == by_id[sticker.id]


def test_filter_by_type_unsupported(auth_client, session):
    message(session, timestamp=T0)
    sticker = message(session, unsupported=True, timestamp=T0 + timedelta(1))
    poll = message(
        session,
        unsupported=True,
        timestamp=T0 + timedelta(2),
        direction="outgoing",
        media_metadata={"original_type": "poll"},
    )

    assert get_ids(auth_client, type="unsupported") == [poll.id, sticker.id]
    assert get_ids(auth_client, type="unsupported", direction="incoming") == [sticker.id]
    assert sticker.id not in get_ids(auth_client, type="text")


def test_the_last_message_of_a_conversation_may_be_unsupported(auth_client, session):
    message(session, chat_jid=CHAT, timestamp=T0, content="Hello")
    reaction = message(
        session,
        unsupported=True,
        chat_jid=CHAT,
        timestamp=T0 + timedelta(1),
        media_metadata={"original_type": "reaction"},
    )

    (conversation,) = auth_client.get("/api/v1/conversations/").json()["results"]

    assert conversation["message_count"] == 2
    assert conversation["last_message"] == {
        "id": reaction.id,
        "sender_jid": reaction.sender_jid,
        "direction": "incoming",
        "message_type": "unsupported",
        "preview": "",
        "status": reaction.status,
        "timestamp": "2024-01-02T12:00:00Z",
    }


def test_openapi_documents_the_unsupported_type(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    type_parameter = next(
        p for p in schema["paths"]["/api/v1/messages/"]["get"]["parameters"] if p["name"] == "type"
    )
    assert "unsupported" in type_parameter["schema"]["enum"]
    assert "unsupported" in schema["components"]["schemas"]["MessageTypeCounts"]["properties"]
