"""The ingest's hot statements in set-based SQL, one round trip per step.

On PostgreSQL each step is one statement whatever the batch size: the rows travel
as a single JSON document that ``json_to_recordset`` expands on the server
(``json.dumps`` and PostgreSQL's JSON parser are both C), so a 500-event delivery
builds no ORM model instances and compiles no ORM queries. SQLite, the zero-setup
default, gets the ORM equivalents in `messaging.ingest.orm`: the same rows and
outcome, in more statements.

Every statement runs on Django's cursor, so it is logged and counted like any ORM
query (CaptureQueriesContext, django_assert_num_queries).
"""

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from django.db import connection

from messaging.ingest import orm
from messaging.ingest.orm import DONE_STATES, DeferredRow
from messaging.models import Message, WebhookEvent, WhatsAppSession

State = WebhookEvent.State


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def _cursor():
    """A cursor with server-side parameter binding, wrapped like Django's own cursors.

    Django's default psycopg cursor binds on the client: it quotes every parameter
    into the SQL text, which costs more CPU than the statement itself here. The
    wrapper keeps what Django's cursors do: query logging and counting, and
    psycopg errors translated into django.db errors (OperationalError, ...).
    """
    # The steps of Django's own connection.cursor(), with another cursor class.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        cursor = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)


def _json(rows: list[dict[str, Any]]) -> str:
    # Text is already storable (no NUL, no lone surrogate): see ingest.fields.storable.
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


# --- webhook events -----------------------------------------------------------------------

_EVENTS_INSERT = """
INSERT INTO messaging_webhookevent
    (created_at, updated_at, received_at, event_type, session_key, wa_message_id, payload,
     raw_body, state, error, attempts, processed_at)
SELECT %s, %s, %s, r.event_type, r.session_key, r.wa_message_id, r.payload,
       '', r.state, r.error, r.attempts, r.processed_at
FROM ROWS FROM (json_to_recordset(%s::json) AS (
        event_type text, session_key text, wa_message_id text, payload jsonb,
        state text, error text, attempts integer, processed_at timestamptz))
    WITH ORDINALITY AS r(event_type, session_key, wa_message_id, payload,
                         state, error, attempts, processed_at, n)
ORDER BY r.n
RETURNING id
"""


def events_insert(events: Sequence[WebhookEvent]) -> None:
    """INSERT new (unsaved) events and set their primary keys; one statement on PostgreSQL."""
    if not events:
        return
    if not _postgresql():
        orm.events_insert(events)
        return
    first = events[0]
    rows = [
        {
            "event_type": event.event_type,
            "session_key": event.session_key,
            "wa_message_id": event.wa_message_id,
            "payload": event.payload,
            "state": event.state,
            "error": event.error,
            "attempts": event.attempts,
            "processed_at": event.processed_at.isoformat() if event.processed_at else None,
        }
        for event in events
    ]
    with _cursor() as cursor:
        cursor.execute(
            _EVENTS_INSERT, [first.created_at, first.created_at, first.received_at, _json(rows)]
        )
        # Identity values grow in insertion order, which is the ORDER BY above.
        ids = sorted(row[0] for row in cursor.fetchall())
    for event, pk in zip(events, ids, strict=True):
        event.pk = pk
        event.updated_at = event.created_at
        event._state.adding = False
        event._state.db = connection.alias


_MARKED = """
UPDATE messaging_webhookevent AS e
SET state = r.state,
    error = r.error,
    processed_at = CASE WHEN r.state = ANY(%s::text[]) THEN %s::timestamptz END,
    attempts = e.attempts + 1,
    updated_at = %s
FROM json_to_recordset(%s::json) AS r(id bigint, state text, error text)
WHERE e.id = r.id
"""
_DEFERRED = """
SELECT id, session_key, wa_message_id, payload FROM messaging_webhookevent
WHERE state = %s AND session_key = ANY(%s::text[]) AND wa_message_id = ANY(%s::text[])
"""
_MARKED_THEN_DEFERRED = f"WITH marked AS ({_MARKED}) {_DEFERRED}"


def events_mark(
    marks: Iterable[tuple[Sequence[WebhookEvent], str, str]],
    now: datetime,
    *,
    find_deferred: set[tuple[str, str]] = frozenset(),
) -> list[DeferredRow]:
    """Give each group of events (events, state, error) its new state, and then find the
    deferred events that may belong to the (session key, message id) pairs in
    `find_deferred`: one statement on PostgreSQL, in its own transaction.

    processed_at is set for processed and ignored events and cleared otherwise;
    attempts grows by one. The deferred events are looked up in a snapshot taken
    when the statement starts: after whatever the caller committed before (not
    including these new states). They come back as (id, session key, message id,
    payload); the caller keeps the exact pairs. The lookup uses the partial index on
    deferred events.
    """
    marks = [(events, state, error) for events, state, error in marks if events]
    if not _postgresql():
        return orm.events_mark(marks, now, find_deferred)
    mark_params = [
        list(DONE_STATES),
        now,
        now,
        _json(
            [
                {"id": e.pk, "state": state, "error": error}
                for events, state, error in marks
                for e in events
            ]
        ),
    ]
    sessions = sorted({key for key, _ in find_deferred})
    wa_ids = sorted({wa_id for _, wa_id in find_deferred})
    deferred_params = [State.DEFERRED, sessions, wa_ids]
    with _cursor() as cursor:
        if marks and find_deferred:
            cursor.execute(_MARKED_THEN_DEFERRED, mark_params + deferred_params)
        elif marks:
            cursor.execute(_MARKED, mark_params)
            return []
        elif find_deferred:
            cursor.execute(_DEFERRED, deferred_params)
        else:
            return []
        # Django reads jsonb as text (its JSONField decodes it), so decode here.
        return [(pk, key, wa_id, json.loads(payload)) for pk, key, wa_id, payload in cursor]


# --- sessions, users, messages --------------------------------------------------------------


_MESSAGES_INSERT = """
WITH given AS (
    SELECT * FROM ROWS FROM (json_to_recordset(%s::json) AS (
            session_key text, contact_phone text, wa_message_id text, chat_jid text,
            sender_jid text, recipient_jid text, direction text, timestamp timestamptz,
            message_type text, content text, caption text, media_metadata jsonb, status text,
            event_ids bigint[]))
        WITH ORDINALITY AS r(session_key, contact_phone, wa_message_id, chat_jid, sender_jid,
                             recipient_jid, direction, timestamp, message_type, content,
                             caption, media_metadata, status, event_ids, n)
),
placed AS (
    -- One index probe per row for the session and the owner. (As joins, the planner
    -- guesses 100 rows for json_to_recordset and hashes both whole tables, even for
    -- one event; LIMIT 1 keeps it from turning the lateral lookup into such a join.)
    SELECT given.*, s.id AS session_id, s.session_type,
           CASE WHEN s.session_type = %s AND given.contact_phone IS NOT NULL
                THEN (SELECT u.id FROM accounts_user AS u
                      WHERE u.phone_number = given.contact_phone)
                ELSE s.user_id END AS user_id
    FROM given
    LEFT JOIN LATERAL (
        SELECT id, session_type, user_id FROM messaging_whatsappsession
        WHERE bridge_session_id = given.session_key
        LIMIT 1
    ) AS s ON true
),
inserted AS (
    INSERT INTO messaging_message
        (created_at, updated_at, session_id, user_id, wa_message_id, chat_jid, sender_jid,
         recipient_jid, direction, timestamp, message_type, content, caption, media_metadata,
         status)
    SELECT %s, %s, session_id, user_id, wa_message_id, chat_jid, sender_jid, recipient_jid,
           direction, timestamp, message_type, content, caption, media_metadata, status
    FROM placed
    WHERE user_id IS NOT NULL
    ORDER BY session_id, wa_message_id
    ON CONFLICT (session_id, wa_message_id) DO UPDATE
        SET status = %s, updated_at = EXCLUDED.updated_at
        WHERE EXCLUDED.direction = %s AND messaging_message.status = ANY(%s::text[])
),
marked AS (
    UPDATE messaging_webhookevent AS e
    SET state = %s, error = '', processed_at = %s, attempts = e.attempts + 1, updated_at = %s
    FROM (SELECT unnest(event_ids) AS id FROM placed WHERE user_id IS NOT NULL) AS done
    WHERE e.id = done.id
)
SELECT n, session_type FROM placed WHERE user_id IS NULL ORDER BY n
"""


def messages_insert(
    rows: list[dict[str, Any]], *, below_sent: Sequence[str], now: datetime
) -> list[tuple[dict[str, Any], str | None]]:
    """INSERT messages idempotently and mark their webhook events processed; return the
    rows that could not be placed.

    Each row holds a message's columns (unique by session and message id), with
    ``session_key`` (the bridge's session id) and ``contact_phone`` (the other
    person's number, if any) in place of ``session_id`` and ``user_id``, and
    ``event_ids``: the WebhookEvents it came from. Who owns a message: on the main
    number the contact (when there is a phone number), else the session's owner
    (`orm.message_owner`, the same rule in Python). A row whose session or contact user does
    not exist is neither inserted nor marked but returned, with its session's type
    (None when the session does not exist either).

    A message already stored is left alone, except that an outgoing one Zapa stored
    itself before the bridge confirmed it moves up to "sent" (`below_sent`: the
    statuses that rank lower). One statement on PostgreSQL, so messages and their
    events' states commit together, on their own outside a transaction.
    """
    if not rows:
        return []
    if not _postgresql():
        return orm.messages_insert(rows, below_sent=below_sent, now=now)
    with _cursor() as cursor:
        cursor.execute(_MESSAGES_INSERT, _messages_insert_params(rows, below_sent, now))
        return [(rows[n - 1], session_type) for n, session_type in cursor.fetchall()]


def _messages_insert_params(rows, below_sent, now) -> list[Any]:
    return [
        _json([{**row, "timestamp": row["timestamp"].isoformat()} for row in rows]),
        WhatsAppSession.SessionType.MAIN,
        now,
        now,
        Message.Status.SENT,
        Message.Direction.OUTGOING,
        list(below_sent),
        State.PROCESSED,
        now,
        now,
    ]


# --- delivery statuses ------------------------------------------------------------------

_STATUSES_APPLY = """
WITH given AS (
    SELECT * FROM json_to_recordset(%s::json)
        AS r(event_id bigint, session_key text, wa_message_id text, status text)
),
found AS (
    SELECT keys.session_key, keys.wa_message_id, m.id AS message_id
    FROM (SELECT DISTINCT session_key, wa_message_id FROM given) AS keys
    JOIN LATERAL (
        SELECT id FROM messaging_whatsappsession
        WHERE bridge_session_id = keys.session_key
        LIMIT 1
    ) AS s ON true
    JOIN messaging_message AS m
      ON m.session_id = s.id AND m.wa_message_id = keys.wa_message_id
),
best AS (
    -- Of several statuses for one message, the highest rank.
    SELECT DISTINCT ON (found.message_id) found.message_id, given.status,
           array_position(%s::text[], given.status) AS rank
    FROM found JOIN given USING (session_key, wa_message_id)
    ORDER BY found.message_id, rank DESC
),
moved AS (
    UPDATE messaging_message AS m
    SET status = best.status, updated_at = %s
    FROM best
    WHERE m.id = best.message_id AND array_position(%s::text[], m.status) < best.rank
),
marked AS (
    UPDATE messaging_webhookevent AS e
    SET state = CASE WHEN f.found THEN %s ELSE %s END,
        error = '',
        processed_at = CASE WHEN f.found THEN %s::timestamptz END,
        attempts = e.attempts + 1,
        updated_at = %s
    FROM (
        SELECT given.event_id, EXISTS (
            SELECT 1 FROM found
            WHERE found.session_key = given.session_key
              AND found.wa_message_id = given.wa_message_id
        ) AS found
        FROM given WHERE given.event_id IS NOT NULL
    ) AS f
    WHERE e.id = f.event_id
)
SELECT DISTINCT session_key, wa_message_id FROM found
"""


def statuses_apply(
    updates: Sequence[tuple[int | None, str, str, str]], now: datetime
) -> set[tuple[str, str]]:
    """Apply delivery statuses and record their events' states; return the keys
    (session key, message id) whose message exists.

    `updates`: (event id or None, session key, message id, status). A message moves
    only up the status ranks ("read" never goes back to "delivered", whatever the
    order). An event whose message exists becomes processed, the others deferred
    (they wait for their message). One statement on PostgreSQL.
    """
    if not updates:
        return set()
    if not _postgresql():
        return orm.statuses_apply(updates, now)
    ranked = sorted(Message.STATUS_RANK, key=Message.STATUS_RANK.__getitem__)
    rows = [
        {"event_id": event_id, "session_key": key, "wa_message_id": wa_id, "status": status}
        for event_id, key, wa_id, status in updates
    ]
    params = [_json(rows), ranked, now, ranked, State.PROCESSED, State.DEFERRED, now, now]
    with _cursor() as cursor:
        cursor.execute(_STATUSES_APPLY, params)
        return {(key, wa_id) for key, wa_id in cursor.fetchall()}


# --- lookups ------------------------------------------------------------------------------

_MESSAGE_ID = """
SELECT m.id FROM messaging_message AS m
JOIN messaging_whatsappsession AS s ON s.id = m.session_id
WHERE s.bridge_session_id = %s AND m.wa_message_id = %s
"""


def message_id(session_key: str, wa_message_id: str) -> int | None:
    """The id of a stored message, by its session key and WhatsApp message id (unique)."""
    with connection.cursor() as cursor:
        cursor.execute(_MESSAGE_ID, [session_key, wa_message_id])
        row = cursor.fetchone()
    return row[0] if row else None
