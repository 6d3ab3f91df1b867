"""Parsed events into rows: the only place that writes messages and webhook event states.

Messages and statuses are stored set-based, the same code for one event and for a
thousand (`messaging.ingest.sql`; its ORM twin on SQLite), in one transaction. On
PostgreSQL the usual delivery (known session, known contacts) takes two statements
whatever its size: one INSERT of the messages that looks up their sessions and owners
itself and marks their events processed, and one that looks for statuses deferred
for them. Statuses take one statement: it moves the messages (only up the ranks) and
marks their events processed or deferred. Missing sessions and contacts are created
only for messages that INSERT could not place. The unique constraints make a
redelivery, even a concurrent one, a no-op; rows go in key order so concurrent
batches lock in the same order.

A status for a message not stored yet is ``deferred``; storing the message applies
it. When the two arrive at the same moment in two transactions, neither may see the
other's uncommitted row: `deferred_statuses_recheck` (beat, every minute) applies
such a status once both are committed. A deferred status whose message never comes
(a login code: its text is never stored) is marked ignored by `deferred_expire`.

A connection-level database error propagates (the webhook answers 503 and nothing
of the delivery is kept, the bridge retries; events a worker took stay
``received``). Any other error while processing a list undoes that list's work (a
savepoint) and falls back to one event at a time; an event that still fails is
``failed``, for `manage.py process_webhook_events`.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.services import whatsapp_users_ensure
from messaging.ingest import hooks, sessions, sql
from messaging.ingest.events import (
    Ignored,
    Key,
    MessageEvent,
    ParsedEvent,
    Rejected,
    SessionEvent,
    StatusEvent,
)
from messaging.ingest.orm import DONE_STATES, INSERT_BATCH_SIZE, keys_filter, owned_by_contact
from messaging.ingest.parse import parse_event
from messaging.models import Message, WebhookEvent

logger = logging.getLogger(__name__)

CONNECTION_ERRORS = (OperationalError, InterfaceError)
# How long a status waits for its message before it is given up (marked ignored).
DEFERRED_STATUS_TTL = timedelta(hours=24)
State = WebhookEvent.State


def process(
    items: Sequence[tuple[WebhookEvent, ParsedEvent]], *, request=None, careful: bool = True
) -> None:
    """Act on stored events, in one transaction (the caller's, if it has one);
    afterwards each event object holds its final state.

    `careful`: a failure undoes only its own batch (a savepoint), and the events that
    still fail one by one are marked failed. Without it (the webhook's first try,
    inside its own transaction) an error propagates, for the caller to undo it all.
    """
    stored: list[MessageEvent] = []
    with transaction.atomic(savepoint=False):
        for event, parsed in items:
            if isinstance(parsed, Ignored):
                mark([event], State.IGNORED, parsed.reason)
            elif isinstance(parsed, Rejected):
                mark([event], State.REJECTED, parsed.problem)
            elif isinstance(parsed, SessionEvent):
                _session_event(event, parsed, request=request)
        batch = [(e, p) for e, p in items if isinstance(p, MessageEvent | StatusEvent)]
        if batch:
            stored = _batch(batch) if careful else _ingest(batch)
    if stored:
        _announce(stored)


def mark(events: Sequence[WebhookEvent], state: str, error: str = "") -> None:
    """Give events a new state, in the database and on the objects."""
    sql.events_mark([(events, state, error)], timezone.now())
    _mark_objects(events, state, error)


def _mark_objects(events: Sequence[WebhookEvent], state: str, error: str) -> None:
    now = timezone.now()
    for event in events:
        event.state, event.error = state, error
        event.processed_at = now if state in DONE_STATES else None
        event.attempts += 1


def _processing_error(exc: Exception) -> str:
    return f"Processing failed: {type(exc).__name__}: {str(exc)[:500]}"


def _session_event(event: WebhookEvent, parsed: SessionEvent, *, request) -> None:
    try:
        with transaction.atomic():
            sessions.session_event_apply(event=parsed, request=request)
            mark([event], State.PROCESSED)
    except CONNECTION_ERRORS:
        raise
    except sessions.UnknownSession as exc:
        mark([event], State.IGNORED, str(exc))
    except Exception as exc:
        logger.exception("Webhook event %s failed to process", event.pk)
        mark([event], State.FAILED, _processing_error(exc))


def _batch(items: list[tuple[WebhookEvent, MessageEvent | StatusEvent]]) -> list[MessageEvent]:
    """Ingest messages and statuses (inside `process`'s transaction); return the
    messages stored. A failure undoes only this batch (a savepoint), which is then
    retried one event at a time; an event that still fails is marked failed."""
    try:
        with transaction.atomic():
            return _ingest(items)
    except CONNECTION_ERRORS:
        raise
    except Exception as exc:
        if len(items) > 1:
            logger.warning(
                "A batch of %d webhook events failed (%s); processing them one by one",
                len(items),
                type(exc).__name__,
            )
            return [message for item in items for message in _batch([item])]
        logger.exception("Webhook event %s failed to process", items[0][0].pk)
        mark([items[0][0]], State.FAILED, _processing_error(exc))
        return []


def _announce(stored: list[MessageEvent]) -> None:
    """Tell the apps above (the assistant) about the stored messages (`hooks`)."""
    hooks.messages_stored_announce([(e.session_id, e.wa_message_id, e.direction) for e in stored])


def _ingest(items: list[tuple[WebhookEvent, MessageEvent | StatusEvent]]) -> list[MessageEvent]:
    """Store the messages, apply the statuses, record every event's new state.

    Messages: one INSERT that also marks their events processed. Statuses: one
    statement that moves the messages and marks the events processed or deferred.
    Then one statement marks the events that could not be placed and finds the
    statuses deferred earlier for these messages, which are applied at once.
    """
    messages = [(e, p) for e, p in items if isinstance(p, MessageEvent)]
    statuses = [(e, p) for e, p in items if isinstance(p, StatusEvent)]
    stored_events: list[WebhookEvent] = []
    stored: list[MessageEvent] = []
    unplaceable: dict[str, list[WebhookEvent]] = defaultdict(list)
    if messages:
        reasons = _messages_store([p for _, p in messages], event_ids=[e.pk for e, _ in messages])
        for event, parsed in messages:
            reason = reasons.get(parsed.session_id)
            if reason:
                unplaceable[reason].append(event)
            else:
                stored_events.append(event)
                stored.append(parsed)
    status_marks = []
    if statuses:
        found = sql.statuses_apply(
            [(e.pk, p.session_id, p.wa_message_id, p.status) for e, p in statuses],
            timezone.now(),
        )
        applied = [e for e, p in statuses if p.key in found]
        waiting = [e for e, p in statuses if p.key not in found]
        status_marks = [(applied, State.PROCESSED, ""), (waiting, State.DEFERRED, "")]
    ignored_marks = [(events, State.IGNORED, reason) for reason, events in unplaceable.items()]
    deferred_found = sql.events_mark(
        ignored_marks, timezone.now(), find_deferred={p.key for p in stored}
    )
    _deferred_statuses_apply(deferred_found, keys={p.key for p in stored})
    for events, state, error in [
        (stored_events, State.PROCESSED, ""),
        *ignored_marks,
        *status_marks,
    ]:
        _mark_objects(events, state, error)
    return stored


# --- messages -------------------------------------------------------------------------


def _messages_store(
    events: list[MessageEvent], *, event_ids: Sequence[int | None]
) -> dict[str, str]:
    """Insert the messages idempotently; return, by session id, why some cannot be stored.

    `event_ids`: for each event, the WebhookEvent it came from; those of the
    messages stored are marked processed in the same statement. The usual case, a
    known session and known contacts, is one INSERT that looks up sessions and owners
    itself (`sql.messages_insert`). Messages it could not place (an unknown session,
    a new contact) get what they need created, then are inserted, in one transaction.
    """
    rows: dict[Key, dict[str, Any]] = {}
    quoted: dict[Key, str] = {}
    for event, event_id in zip(events, event_ids, strict=True):
        if event.key in rows:
            if event_id is not None:
                rows[event.key]["event_ids"].append(event_id)
            continue
        rows[event.key] = _row(event, event_id)
        if event.quoted_message_id and event.quoted_message_id != event.wa_message_id:
            quoted[event.key] = event.quoted_message_id
    below_sent = _ranks_below("sent")
    # In key order, so concurrent deliveries take their row locks in the same order.
    unplaced = sql.messages_insert(
        [rows[key] for key in sorted(rows)], below_sent=below_sent, now=timezone.now()
    )
    reasons: dict[str, str] = {}
    if unplaced:
        session_types = {row["session_key"]: session_type for row, session_type in unplaced}
        keys = {(row["session_key"], row["wa_message_id"]) for row, _ in unplaced}
        # Within a caller's transaction no savepoint is needed: an error undoes it all.
        with transaction.atomic(savepoint=False):
            reasons = _owners_create([e for e in events if e.key in keys], session_types)
            retry = [row for row, _ in unplaced if row["session_key"] not in reasons]
            if sql.messages_insert(retry, below_sent=below_sent, now=timezone.now()):
                raise RuntimeError("Messages without a session or owner after creating them.")
    quoted = {key: wa_id for key, wa_id in quoted.items() if key[0] not in reasons}
    if quoted:
        _replies_link(quoted)
    return reasons


def _row(event: MessageEvent, event_id: int | None) -> dict[str, Any]:
    return {
        "event_ids": [event_id] if event_id is not None else [],
        "session_key": event.session_id,
        "contact_phone": event.contact.phone_number if event.contact else None,
        "wa_message_id": event.wa_message_id,
        "chat_jid": event.chat_jid,
        "sender_jid": event.sender_jid,
        "recipient_jid": event.recipient_jid,
        "direction": event.direction,
        "timestamp": event.timestamp,
        "message_type": event.message_type,
        "content": event.content,
        "caption": event.caption,
        "media_metadata": event.media_metadata,
        "status": event.status,
    }


def _owners_create(
    events: list[MessageEvent], session_types: dict[str, str | None]
) -> dict[str, str]:
    """Create the unknown sessions and the new contacts these messages need.

    `session_types`: the type of each session the events name, None when unknown.
    Returns, by session id, why an unknown session cannot be created (no number).
    """
    types = dict(session_types)
    missing = sorted(key for key, session_type in session_types.items() if session_type is None)
    specs: dict[str, dict[str, Any]] = {}
    reasons: dict[str, str] = {}
    for key in missing:
        named = [e for e in events if e.session_id == key]
        with_phone = [e for e in named if e.origin_phone]
        if with_phone:
            first_seen = min(e.timestamp for e in named)
            specs[key] = sessions.connected_session_spec(with_phone[0].origin_phone, first_seen)
        else:
            reasons[key] = sessions.unknown_session_reason(key, named[0].origin_problem)
    created = sessions.sessions_create(specs)
    types.update({key: ref.session_type for key, ref in created.items()})
    contacts = {
        event.contact.phone_number: _display_name(event)
        for event in events
        if event.contact is not None
        and owned_by_contact(types.get(event.session_id), event.contact.phone_number)
    }
    whatsapp_users_ensure(names_by_phone=contacts)
    return reasons


def _display_name(event: MessageEvent) -> str:
    return event.sender_name if event.direction == Message.Direction.INCOMING else ""


def _replies_link(quoted: dict[Key, str]) -> None:
    """Point replies at the messages they quote, where those are stored (best effort).

    `quoted`: the quoted message's id by (session key, message id) of the reply.
    """
    wanted = list(quoted) + [(key, wa_id) for (key, _), wa_id in quoted.items()]
    ids = {
        (key, wa_id): pk
        for pk, key, wa_id in Message.objects.filter(
            keys_filter(wanted, "session__bridge_session_id")
        ).values_list("pk", "session__bridge_session_id", "wa_message_id")
    }
    links = [
        Message(pk=ids[key], reply_to_id=ids[(key[0], quoted_id)])
        for key, quoted_id in quoted.items()
        if key in ids and (key[0], quoted_id) in ids
    ]
    if links:
        Message.objects.bulk_update(links, ["reply_to"], batch_size=INSERT_BATCH_SIZE)


def outgoing_message_record(
    *,
    session_key: str,
    sender_jid: str,
    chat_jid: str,
    contact,
    wa_message_id: str,
    timestamp: datetime,
    text: str,
    metadata: dict,
) -> Message:
    """Store a message Zapa sent itself (with the bridge's id, so its status updates
    attach to it and a `message.sent` echo is not a second row); return it."""
    event = MessageEvent(
        session_id=session_key,
        origin_phone=None,
        direction=Message.Direction.OUTGOING,
        wa_message_id=wa_message_id,
        chat_jid=chat_jid,
        sender_jid=sender_jid,
        recipient_jid=chat_jid,
        contact=contact,
        timestamp=timestamp,
        message_type=Message.MessageType.TEXT,
        content=text,
        caption=None,
        media_metadata=metadata,
    )
    with transaction.atomic(savepoint=False):
        reasons = _messages_store([event], event_ids=[None])
        if reasons:
            raise ValueError(next(iter(reasons.values())))
        found = sql.events_mark([], timezone.now(), find_deferred={event.key})
        _deferred_statuses_apply(found, keys={event.key})
    # Callers link to it (a turn's reply, a reminder's message): its id is enough, and a
    # fixed lookup costs a tenth of the ORM's get (this runs for every reply).
    pk = sql.message_id(session_key, wa_message_id)
    if pk is None:
        raise Message.DoesNotExist(f"{session_key}/{wa_message_id} was not stored.")
    return Message.from_db(connection.alias, ["id"], [pk])


# --- delivery statuses ----------------------------------------------------------------


def _ranks_below(status: str) -> list[str]:
    rank = Message.STATUS_RANK[status]
    return [name for name, other in Message.STATUS_RANK.items() if other < rank]


def _deferred_statuses_apply(found: list[sql.DeferredRow], *, keys: set[Key]) -> list[int]:
    """Apply the deferred status events in `found` (rows of `sql.events_mark`) whose
    message is one of `keys`; return the ids of the events applied."""
    deferred = []
    for pk, session_key, wa_message_id, payload in found:
        if (session_key, wa_message_id) not in keys:
            continue
        parsed = parse_event(payload)
        if isinstance(parsed, StatusEvent):
            deferred.append((pk, parsed))
    if not deferred:
        return []
    found_keys = sql.statuses_apply(
        [(pk, p.session_id, p.wa_message_id, p.status) for pk, p in deferred], timezone.now()
    )
    return sorted(pk for pk, parsed in deferred if parsed.key in found_keys)


def deferred_statuses_recheck(*, limit: int = 1000) -> int:
    """Apply deferred statuses whose message has arrived since (up to `limit`);
    return how many.

    The ingest applies them when it stores the message. A status deferred by a
    transaction that ran at the same time as the message's own (neither saw the
    other's uncommitted row) is left for this sweep, which beat runs every minute.
    """
    arrived = Message.objects.filter(
        session__bridge_session_id=OuterRef("session_key"), wa_message_id=OuterRef("wa_message_id")
    )
    waiting = list(
        WebhookEvent.objects.filter(Exists(arrived), state=State.DEFERRED)
        .order_by("id")
        .values_list("pk", "session_key", "wa_message_id", "payload")[:limit]
    )
    if not waiting:
        return 0
    with transaction.atomic():
        return len(
            _deferred_statuses_apply(waiting, keys={(key, wa_id) for _, key, wa_id, _ in waiting})
        )


def deferred_expire(*, older_than: datetime | None = None) -> int:
    """Mark deferred statuses received before `older_than` (default: DEFERRED_STATUS_TTL
    ago) ignored: their message never came (messages Zapa does not store, such as
    login codes). Returns how many."""
    now = timezone.now()
    older_than = older_than or now - DEFERRED_STATUS_TTL
    return WebhookEvent.objects.filter(state=State.DEFERRED, received_at__lt=older_than).update(
        state=State.IGNORED,
        error="No message with this id arrived in time: the status update was not applied.",
        processed_at=now,
        updated_at=now,
    )
