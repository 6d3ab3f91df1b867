"""GET /api/v1/messages/export/?format=csv|json through the HTTP API."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from messaging import selectors
from messaging.export import EXPORT_FIELDS
from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages/export/"
T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def session(user):
    return WhatsAppSessionFactory(user=user)


@pytest.fixture
def history(session):
    """Four messages created newest first, so id order differs from time order."""
    image = MessageFactory(
        session=session,
        timestamp=T0 + timedelta(hours=2),
        message_type="image",
        content=None,
        caption='=HYPERLINK("http://evil.example")',
        media_metadata={"mime_type": "image/jpeg", "size": 2048, "file_name": "ação.jpg"},
        direction="outgoing",
    )
    reply = MessageFactory(
        session=session,
        timestamp=T0 + timedelta(hours=1),
        content='Line one\nline "two", with comma',
        reply_to=image,
    )
    first = MessageFactory(session=session, timestamp=T0, content="Olá 👋")
    tied = MessageFactory(session=session, timestamp=T0, content="-5 degrees outside")
    return [first, tied, reply, image]


def body(response) -> str:
    assert response.status_code == 200, response.content
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def expected_json(message) -> dict:
    return {
        "id": message.id,
        "timestamp": message.timestamp.isoformat().replace("+00:00", "Z"),
        "direction": message.direction,
        "chat_jid": message.chat_jid,
        "sender_jid": message.sender_jid,
        "recipient_jid": message.recipient_jid,
        "message_type": message.message_type,
        "content": message.content,
        "caption": message.caption,
        "status": message.status,
        "reply_to": message.reply_to_id,
        "session": message.session_id,
        "wa_message_id": message.wa_message_id,
        "media_metadata": message.media_metadata,
    }


def test_needs_a_token(api_client):
    assert api_client.get(URL, {"format": "csv"}).status_code == 401


def test_json_export_is_a_streamed_array_oldest_first(auth_client, history):
    MessageFactory.create_batch(2)  # other users' messages stay out

    response = auth_client.get(URL, {"format": "json"})

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "application/json"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="zapa-messages-')
    assert disposition.endswith('.json"')
    assert json.loads(body(response)) == [expected_json(m) for m in history]


def test_csv_export_parses_back_oldest_first(auth_client, history):
    image = history[3]

    response = auth_client.get(URL, {"format": "csv"})

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].endswith('.csv"')
    rows = list(csv.reader(io.StringIO(body(response))))
    assert rows[0] == list(EXPORT_FIELDS)
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [int(r["id"]) for r in records] == [m.id for m in history]

    assert records[0]["content"] == "Olá 👋"
    assert records[0]["caption"] == ""  # null
    assert records[0]["timestamp"] == "2024-01-01T12:00:00Z"
    assert records[0]["reply_to"] == ""
    assert records[0]["media_metadata"] == "{}"
    assert records[2]["content"] == 'Line one\nline "two", with comma'
    assert records[2]["reply_to"] == str(image.id)
    assert records[3]["session"] == str(image.session_id)
    assert json.loads(records[3]["media_metadata"]) == image.media_metadata
    # Text a spreadsheet would run as a formula gets a leading quote; JSON stays exact.
    assert records[3]["caption"] == '\'=HYPERLINK("http://evil.example")'
    assert records[1]["content"] == "'-5 degrees outside"
    for record, message in zip(records, history, strict=True):
        assert record["wa_message_id"] == message.wa_message_id
        assert record["chat_jid"] == message.chat_jid
        assert record["direction"] == message.direction
        assert record["message_type"] == message.message_type


@pytest.mark.parametrize("query", ["", "?format="])
def test_csv_is_the_default_format(auth_client, history, query):
    response = auth_client.get(URL + query)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert len(list(csv.reader(io.StringIO(body(response))))) == 1 + len(history)


def test_a_download_client_accepting_only_csv_gets_it(auth_client, history):
    response = auth_client.get(URL, {"format": "csv"}, HTTP_ACCEPT="text/csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"


@pytest.mark.parametrize("export_format", ["xml", "xlsx", "CSV", "api", "json "])
def test_other_formats_are_400(auth_client, session, export_format):
    response = auth_client.get(URL, {"format": export_format})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"].startswith("format: ")
    assert "use csv or json" in error["message"]


def test_empty_history_exports_a_header_or_an_empty_array(auth_client, session):
    assert json.loads(body(auth_client.get(URL, {"format": "json"}))) == []
    rows = list(csv.reader(io.StringIO(body(auth_client.get(URL, {"format": "csv"})))))
    assert rows == [list(EXPORT_FIELDS)]


def test_export_takes_the_history_filters(auth_client, session):
    wanted = MessageFactory(session=session, chat_jid="14155550123@s.whatsapp.net")
    MessageFactory(session=session, chat_jid="14155550999@s.whatsapp.net")

    response = auth_client.get(URL, {"format": "json", "chat": "+14155550123"})

    assert [row["id"] for row in json.loads(body(response))] == [wanted.id]
    bad = auth_client.get(URL, {"format": "json", "since": "soon"})
    assert bad.status_code == 400


def test_long_histories_stream_in_keyset_batches(auth_client, session, monkeypatch):
    monkeypatch.setattr(selectors, "EXPORT_BATCH_SIZE", 4)
    # 11 messages, 6 of them at one instant so batches split inside a tie.
    messages = [MessageFactory(session=session, timestamp=T0) for _ in range(6)]
    messages += [
        MessageFactory(session=session, timestamp=T0 + timedelta(seconds=s)) for s in (1, 2)
    ]
    messages += [
        MessageFactory(session=session, timestamp=T0 - timedelta(seconds=s)) for s in (1, 2, 3)
    ]
    expected = [m.id for m in sorted(messages, key=lambda m: (m.timestamp, m.id))]

    response = auth_client.get(URL, {"format": "json"})
    with CaptureQueriesContext(connection) as queries:
        chunks = [chunk.decode() for chunk in response.streaming_content]

    assert [row["id"] for row in json.loads("".join(chunks))] == expected
    # "[", three batches (4 + 4 + 3) and the closing bracket, each its own chunk.
    assert len(chunks) == 5
    message_queries = [q for q in queries.captured_queries if "messaging_message" in q["sql"]]
    assert len(message_queries) == 3
    assert all("LIMIT 4" in q["sql"] for q in message_queries)


def test_unsupported_messages_are_exported_at_their_place(auth_client, session):
    before = MessageFactory(session=session, timestamp=T0, content="Look")
    sticker = MessageFactory(session=session, unsupported=True, timestamp=T0 + timedelta(1))
    wrapped = MessageFactory(
        session=session, unsupported=True, timestamp=T0 + timedelta(2), media_metadata={}
    )
    after = MessageFactory(session=session, timestamp=T0 + timedelta(3), content="Ha")
    history = [before, sticker, wrapped, after]

    exported = json.loads(body(auth_client.get(URL, {"format": "json"})))
    assert exported == [expected_json(m) for m in history]
    assert exported[1]["message_type"] == "unsupported"
    assert exported[1]["content"] is None and exported[1]["caption"] is None
    assert exported[1]["media_metadata"] == {"original_type": "sticker"}

    rows = list(csv.reader(io.StringIO(body(auth_client.get(URL, {"format": "csv"})))))
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [int(r["id"]) for r in records] == [m.id for m in history]
    assert [r["message_type"] for r in records] == ["text", "unsupported", "unsupported", "text"]
    assert records[1]["content"] == records[1]["caption"] == ""
    assert json.loads(records[1]["media_metadata"]) == {"original_type": "sticker"}
    assert records[2]["media_metadata"] == "{}"

    filtered = json.loads(body(auth_client.get(URL, {"format": "json", "type": "unsupported"})))
    assert [row["id"] for row in filtered] == [sticker.id, wrapped.id]
