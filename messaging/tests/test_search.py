"""Message search: PostgreSQL full-text search, SQLite substring fallback."""

import importlib

import pytest
from django.db import connection

from messaging import search
from messaging.models import Message
from messaging.search import search_messages
from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages/"


@pytest.fixture
def session(user):
    return WhatsAppSessionFactory(user=user)


@pytest.fixture
def corpus(session):
    return {
        "dinner": MessageFactory(session=session, content="Dinner at Luigi's tonight?"),
        "lunchbox": MessageFactory(session=session, content="I forgot my LUNCHBOX again"),
        "caption": MessageFactory(
            session=session, message_type="image", content=None, caption="Lunch with the team"
        ),
        "reversed": MessageFactory(session=session, content="team lunch moved to friday"),
        "unrelated": MessageFactory(session=session, content="See you tomorrow"),
    }


def search_ids(client, text: str) -> set[int]:
    response = client.get(URL, {"q": text, "page_size": 200})
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def ids_of(corpus, *names) -> set[int]:
    return {corpus[name].id for name in names}


def test_document_sql_matches_the_migrations():
    for name in ("0002_message_search_index", "0006_message_search_document"):
        migration = importlib.import_module(f"messaging.migrations.{name}")
        assert search.DOCUMENT_SQL == migration.DOCUMENT_SQL
        assert search.INDEX_NAME == migration.INDEX_NAME
    assert search.DOCUMENT_COLUMN == migration.COLUMN


@pytest.mark.postgres
def test_the_stored_document_follows_every_write(session):
    message = MessageFactory(session=session, content="lunch at noon")
    Message.objects.filter(pk=message.pk).update(
        message_type="image", content=None, caption="dinner photo"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {search.DOCUMENT_COLUMN} = {search.DOCUMENT_SQL} "
            "FROM messaging_message WHERE id = %s",
            [message.pk],
        )
        assert cursor.fetchone() == (True,)
    assert list(search_messages(Message.objects.all(), "dinner")) == [message]
    assert not search_messages(Message.objects.all(), "lunch").exists()


def test_search_matches_text_and_captions_case_insensitively(auth_client, corpus, is_postgres):
    # PostgreSQL matches whole words; SQLite a substring (so also "LUNCHBOX").
    expected = ("caption", "reversed") if is_postgres else ("lunchbox", "caption", "reversed")
    assert search_ids(auth_client, "lunch") == ids_of(corpus, *expected)
    assert search_ids(auth_client, "LUIGI'S") == ids_of(corpus, "dinner")


def test_substring_search_on_sqlite(auth_client, corpus, is_postgres):
    # Part of a word: a substring match on SQLite, no match in PostgreSQL's FTS.
    expected = set() if is_postgres else ids_of(corpus, "dinner")
    assert search_ids(auth_client, "uigi") == expected


def test_search_only_sees_the_callers_messages(auth_client, corpus):
    MessageFactory(content="lunch for someone else")
    assert corpus["unrelated"].id not in search_ids(auth_client, "lunch")
    assert len(search_ids(auth_client, "someone else")) == 0


def test_blank_search_is_no_filter(session):
    MessageFactory.create_batch(3, session=session)
    assert search_messages(Message.objects.all(), "   ").count() == 3


@pytest.mark.postgres
def test_fts_two_word_phrase_keeps_word_order(auth_client, corpus):
    assert search_ids(auth_client, '"team lunch"') == ids_of(corpus, "reversed")
    assert search_ids(auth_client, '"lunch with"') == ids_of(corpus, "caption")


@pytest.mark.postgres
def test_fts_words_are_anded_and_minus_excludes(auth_client, corpus):
    assert search_ids(auth_client, "lunch team") == ids_of(corpus, "caption", "reversed")
    assert search_ids(auth_client, "lunch -friday") == ids_of(corpus, "caption")
    assert search_ids(auth_client, "lunch or dinner") == ids_of(
        corpus, "caption", "reversed", "dinner"
    )


@pytest.mark.postgres
@pytest.mark.parametrize("text", ["a & b |", "!!", "'unbalanced", '"', "(", ":*", "\\"])
def test_fts_odd_input_is_never_an_error(auth_client, corpus, text):
    response = auth_client.get(URL, {"q": text})
    assert response.status_code == 200


@pytest.mark.postgres
def test_fts_ranked_search_orders_by_relevance(session):
    few = MessageFactory(session=session, content="lunch plans and other things")
    many = MessageFactory(session=session, content="lunch lunch lunch")

    ranked = search_messages(Message.objects.all(), "lunch", ranked=True).order_by("-search_rank")

    assert list(ranked) == [many, few]
    assert ranked[0].search_rank > ranked[1].search_rank
