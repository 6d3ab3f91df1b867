"""GET /api/v1/messages/stats/ through the HTTP API."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.models import Message
from messaging.selectors import calendar_days
from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages/stats/"
NO_TYPES = {value: 0 for value in Message.MessageType.values}


@pytest.fixture
def session(user):
    return WhatsAppSessionFactory(user=user)


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, minute, tzinfo=UTC)


def test_needs_a_token(api_client):
    assert api_client.get(URL).status_code == 401


def test_three_messages_over_jan_1_and_jan_3(auth_client, session):
    MessageFactory(session=session, timestamp=at(1, 9), direction="incoming")
    MessageFactory(
        session=session,
        timestamp=at(1, 10),
        direction="incoming",
        message_type="image",
        content=None,
        caption="look",
    )
    MessageFactory(session=session, timestamp=at(3, 18, 30), direction="outgoing")
    MessageFactory.create_batch(4)  # other users' messages are not counted

    response = auth_client.get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "total": 3,
        "incoming": 2,
        "outgoing": 1,
        "by_type": {**NO_TYPES, "text": 2, "image": 1},
        "first_message_at": "2024-01-01T09:00:00Z",
        "last_message_at": "2024-01-03T18:30:00Z",
        "daily_average": 1.0,  # 3 messages / 3 calendar days (Jan 1, 2, 3)
    }


def test_no_messages_gives_zeros_and_nulls(auth_client, session):
    MessageFactory.create_batch(2)  # someone else's

    assert auth_client.get(URL).json() == {
        "total": 0,
        "incoming": 0,
        "outgoing": 0,
        "by_type": NO_TYPES,
        "first_message_at": None,
        "last_message_at": None,
        "daily_average": 0.0,
    }


def test_messages_on_one_day_average_to_their_count(auth_client, session):
    for hour in (0, 6, 23):
        MessageFactory(session=session, timestamp=at(5, hour))

    assert auth_client.get(URL).json()["daily_average"] == 3.0


def test_days_are_utc_calendar_days_and_the_average_is_rounded(auth_client, session):
    # 23:59 on Jan 1 and 00:01 on Jan 2 are an hour apart but two calendar days.
    MessageFactory(session=session, timestamp=at(1, 23, 59))
    MessageFactory(session=session, timestamp=at(2, 0, 1))
    assert auth_client.get(URL).json()["daily_average"] == 1.0

    MessageFactory(session=session, timestamp=at(3))  # 3 messages over 3 days
    MessageFactory(session=session, timestamp=at(3))  # 4 over 3 days
    assert auth_client.get(URL).json()["daily_average"] == 1.33


def test_calendar_days_counts_both_ends():
    assert calendar_days(at(1).date(), at(1).date()) == 1
    assert calendar_days(at(1).date(), at(3).date()) == 3
    assert calendar_days(datetime(2023, 12, 31).date(), datetime(2024, 3, 1).date()) == 62


def test_stats_take_one_query_however_many_messages(auth_client, session):
    MessageFactory(session=session)

    def message_queries() -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            assert auth_client.get(URL).status_code == 200
        return [q["sql"] for q in queries.captured_queries if "messaging_message" in q["sql"]]

    assert len(message_queries()) == 1
    MessageFactory.create_batch(49, session=session, message_type="video", content=None)
    assert len(message_queries()) == 1
    assert auth_client.get(URL).json()["by_type"]["video"] == 49


def test_unsupported_messages_are_counted_by_type(auth_client, session):
    assert set(NO_TYPES) >= {"text", "contact", "unsupported"}  # every type, the new one too
    MessageFactory(session=session, timestamp=at(1))
    MessageFactory.create_batch(2, session=session, unsupported=True, timestamp=at(2))
    MessageFactory(session=session, unsupported=True, media_metadata={}, timestamp=at(2))

    stats = auth_client.get(URL).json()

    assert stats["total"] == 4
    assert stats["by_type"] == {**NO_TYPES, "text": 1, "unsupported": 3}
