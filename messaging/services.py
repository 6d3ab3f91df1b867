"""Writes for messaging: bridge webhook deliveries, message ingest, delivery statuses,
session changes. Keyword-only arguments; each service owns its transaction.

Flow of a delivery (one event or a list of them):

1. `webhook_events_receive` stores every event as a `WebhookEvent` first, in one
   INSERT that commits on its own (and waits for its WAL flush), so nothing the
   bridge sent is lost whatever happens next. Events that fail validation are
   stored ``failed``, unknown event types ``ignored``.
2. The rest are processed set-based, the same code for one event and for a
   thousand. On PostgreSQL the usual delivery (known session, known contacts)
   takes two more statements whatever its size (see `messaging.ingest_sql`): one
   INSERT of the messages that looks up their sessions and owners itself and marks
   their events processed, and one that looks for deferred statuses. Missing
   sessions and contacts are created (``INSERT … ON CONFLICT DO NOTHING``) only
   for messages that INSERT could not place. Statuses move with one conditional
   UPDATE per target status, in one transaction with their events' states. The
   unique constraints make a redelivery, even a concurrent one, a no-op. Rows are
   inserted in key order so concurrent batches take their locks in the same order.
   Each of these steps commits on its own: if a later one never happens, the
   event is still stored (``received``) and processing it again is idempotent.
3. A status for a message not stored yet is kept as ``deferred``. Whoever stores
   the message, or defers the status, looks for the other side again *after* its
   own commit; of two racing transactions at least one sees the other's committed
   row, so no status is lost.

A connection-level database error (OperationalError/InterfaceError) propagates:
the events stay ``received`` (or are not stored), the webhook answers 503 and the
bridge retries. Any other error while processing a list falls back to one event
at a time, so one bad event cannot fail its neighbours; an event that still fails
is stored ``failed`` and `manage.py process_webhook_events` retries it.

Who owns a message (`Message.user`):

- on the assistant's number (session type ``main``): the person on the other side
  — the sender of an incoming message (the participant, in a group), the recipient
  of an outgoing one — created on first sight from the phone number in their JID;
- on a user's own number (type ``user``): the session's owner.

An ``@lid`` JID hides the phone number, so no user is invented for it: such
messages (and outgoing group messages, which have no single person on the other
side) belong to the session's owner and keep the JID in chat/sender/recipient.

A session the bridge names that Zapa does not know yet is created: its owner is
the user of the event's ``origin`` number (created if needed), its type ``main``
when its id is settings.WHATSAPP_MAIN_SESSION_ID and ``user`` otherwise.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_log_record
from messaging import ingest_sql
from messaging.jid import parse_jid
from messaging.models import Message, WebhookEvent, WhatsAppSession
from messaging.webhook_events import (
    IgnoredEvent,
    InvalidEvent,
    MessageEvent,
    ParsedEvent,
    SessionEvent,
    StatusEvent,
    envelope_fields,
    parse_event,
    raw_body_for_storage,
    sanitize_json,
)

logger = logging.getLogger(__name__)

RAW_BODY_LIMIT = 64 * 1024
MAX_EVENTS_PER_DELIVERY = 1000
INSERT_BATCH_SIZE = 1000
# Stored errors start with this when the sender is at fault (the webhook answers 400).
INVALID_PREFIX = "Invalid event: "
CONNECTION_ERRORS = (OperationalError, InterfaceError)
LAST_SESSION_EVENT_KEY = "last_session_event_at"

State = WebhookEvent.State
Key = tuple[str, str]  # (bridge session id, WhatsApp message id)


# --- webhook deliveries ---------------------------------------------------------------


def webhook_events_receive(
    *, payloads: Sequence[Any], request=None, process: bool = True
) -> list[WebhookEvent]:
    """Store each payload as a WebhookEvent, then process the valid ones.

    Returns the events in payload order with their final state. Failed events whose
    error starts with INVALID_PREFIX (see `webhook_event_rejected`) were the
    sender's fault. With `process=False` valid events are only stored (state
    ``received``), for `webhook_events_process` to handle later.
    """
    now = timezone.now()
    events: list[WebhookEvent] = []
    parsed: list[ParsedEvent | None] = []
    for payload in map(sanitize_json, payloads):
        event_type, session_key, wa_message_id = envelope_fields(payload)
        event = WebhookEvent(
            event_type=event_type,
            session_key=session_key,
            wa_message_id=wa_message_id,
            payload=payload,
            received_at=now,
            created_at=now,
        )
        result = _parse(event)
        if result is None:
            event.attempts = 1
        elif isinstance(result, IgnoredEvent):
            event.state, event.error, event.processed_at = State.IGNORED, result.reason, now
        events.append(event)
        parsed.append(result)
    ingest_sql.events_insert(events)
    if process:
        _process(
            [(e, p) for e, p in zip(events, parsed, strict=True) if e.state == State.RECEIVED],
            request=request,
        )
    return events


def webhook_event_store_malformed(*, raw_body: bytes, error: str) -> WebhookEvent:
    """Keep a body that could not be read as events (truncated to RAW_BODY_LIMIT)."""
    return WebhookEvent.objects.create(
        raw_body=raw_body_for_storage(raw_body, RAW_BODY_LIMIT),
        state=State.FAILED,
        error=INVALID_PREFIX + error,
        attempts=1,
    )


def webhook_event_rejected(event: WebhookEvent) -> bool:
    """Did this event fail because of what the sender sent (rather than on our side)?"""
    return event.state == State.FAILED and event.error.startswith(INVALID_PREFIX)


def webhook_events_process(*, events: Sequence[WebhookEvent]) -> list[WebhookEvent]:
    """Process stored events again (failed, deferred, interrupted); idempotent.

    Events without a JSON payload (bodies that were not JSON) cannot be processed
    and are returned unchanged.
    """
    pending = []
    for event in events:
        if event.payload is None and event.raw_body:
            continue
        result = _parse(event)
        if result is None:
            _mark([event], State.FAILED, event.error)
        elif isinstance(result, IgnoredEvent):
            _mark([event], State.IGNORED, result.reason)
        else:
            pending.append((event, result))
    _process(pending, request=None)
    return list(events)


def webhook_event_process(*, event: WebhookEvent) -> WebhookEvent:
    return webhook_events_process(events=[event])[0]


def _parse(event: WebhookEvent) -> ParsedEvent | None:
    try:
        return parse_event(event.payload)
    except InvalidEvent as exc:
        event.state, event.error = State.FAILED, INVALID_PREFIX + str(exc)
        return None


def _process(items: list[tuple[WebhookEvent, ParsedEvent]], *, request) -> None:
    for event, parsed in items:
        if isinstance(parsed, SessionEvent):
            _process_session_event(event, parsed, request=request)
    batch = [(e, p) for e, p in items if isinstance(p, MessageEvent | StatusEvent)]
    if batch:
        _process_batch(batch)


def _process_session_event(event: WebhookEvent, parsed: SessionEvent, *, request) -> None:
    try:
        with transaction.atomic():
            whatsapp_session_event_apply(event=parsed, request=request)
            _mark([event], State.PROCESSED)
    except CONNECTION_ERRORS:
        raise
    except InvalidEvent as exc:
        _mark([event], State.FAILED, INVALID_PREFIX + str(exc))
    except Exception as exc:
        logger.exception("Webhook event %s failed to process", event.pk)
        _mark([event], State.FAILED, _processing_error(exc))


@dataclass
class _Outcome:
    processed: list[WebhookEvent] = field(default_factory=list)
    deferred: list[WebhookEvent] = field(default_factory=list)
    failed: dict[str, list[WebhookEvent]] = field(default_factory=lambda: defaultdict(list))
    # Keys to look at again after the commits, and deferred events found for them.
    recheck: set[Key] = field(default_factory=set)
    deferred_found: list[ingest_sql.DeferredRow] = field(default_factory=list)


def _process_batch(items: list[tuple[WebhookEvent, MessageEvent | StatusEvent]]) -> None:
    try:
        outcome = _ingest(items)
    except CONNECTION_ERRORS:
        raise
    except Exception as exc:
        if len(items) > 1:
            logger.warning(
                "A batch of %d webhook events failed (%s); processing them one by one",
                len(items),
                type(exc).__name__,
            )
            for item in items:
                _process_batch([item])
            return
        logger.exception("Webhook event %s failed to process", items[0][0].pk)
        _mark([items[0][0]], State.FAILED, _processing_error(exc))
        return
    # Statuses deferred by a transaction that raced with ours.
    applied = set(_deferred_statuses_apply(keys=outcome.recheck, found=outcome.deferred_found))
    for event in outcome.deferred:
        if event.pk in applied:
            event.state, event.processed_at = State.PROCESSED, timezone.now()


def _ingest(items: list[tuple[WebhookEvent, MessageEvent | StatusEvent]]) -> _Outcome:
    """Store the messages, apply the statuses, record every event's new state.

    Messages: one INSERT that also marks their events processed, its own
    transaction in the usual case. Statuses: one transaction after it, with their
    events' states. Then one statement marks the events that failed and looks for
    deferred statuses of all these messages: after both commits, as the race with a
    status deferred meanwhile requires (see "Flow of a delivery" above).
    """
    outcome = _Outcome()
    messages = [(e, p) for e, p in items if isinstance(p, MessageEvent)]
    statuses = [(e, p) for e, p in items if isinstance(p, StatusEvent)]
    stored: list[WebhookEvent] = []
    if messages:
        session_errors = _messages_store(
            [p for _, p in messages], event_ids=[e.pk for e, _ in messages]
        )
        for event, parsed in messages:
            problem = session_errors.get(parsed.session_id)
            if problem:
                outcome.failed[INVALID_PREFIX + str(InvalidEvent("origin", problem))].append(event)
            else:
                stored.append(event)
                outcome.recheck.add(parsed.key)
    applied: list[WebhookEvent] = []
    if statuses:
        with transaction.atomic():
            found = _statuses_apply(
                [(p.session_id, p.wa_message_id, p.status) for _, p in statuses]
            )
            for event, parsed in statuses:
                if parsed.key in found:
                    applied.append(event)
                else:
                    outcome.deferred.append(event)
                    outcome.recheck.add(parsed.key)
            status_marks = [(applied, State.PROCESSED, ""), (outcome.deferred, State.DEFERRED, "")]
            ingest_sql.events_mark(status_marks, timezone.now())
    else:
        status_marks = []
    failed_marks = [(failed, State.FAILED, error) for error, failed in outcome.failed.items()]
    outcome.deferred_found = ingest_sql.events_mark(
        failed_marks, timezone.now(), find_deferred=outcome.recheck
    )
    outcome.processed = stored + applied
    # Only now that the rows are committed do the objects reflect them.
    for events, state, error in [(stored, State.PROCESSED, ""), *failed_marks, *status_marks]:
        _mark_objects(events, state, error)
    return outcome


def _mark(events: Sequence[WebhookEvent], state: str, error: str = "") -> None:
    ingest_sql.events_mark([(events, state, error)], timezone.now())
    _mark_objects(events, state, error)


def _mark_objects(events: Sequence[WebhookEvent], state: str, error: str) -> None:
    now = timezone.now()
    for event in events:
        event.state, event.error, event.processed_at = state, error, _done_at(state, now)
        event.attempts += 1


def _done_at(state: str, now: datetime) -> datetime | None:
    return now if state in (State.PROCESSED, State.IGNORED) else None


def _processing_error(exc: Exception) -> str:
    return f"Processing failed: {type(exc).__name__}: {str(exc)[:500]}"


# --- messages -------------------------------------------------------------------------


def message_ingest(*, events: Sequence[MessageEvent]) -> int:
    """Store messages (parsed bridge events) idempotently; return how many are stored.

    The count includes messages that were already there. Statuses that arrived
    before their message (deferred webhook events) are applied afterwards.
    Raises InvalidEvent when a message names an unknown session without a usable
    ``origin``.
    """
    with transaction.atomic():
        errors = _messages_store(list(events))
    if errors:
        raise InvalidEvent("origin", next(iter(errors.values())))
    keys = {event.key for event in events}
    _deferred_statuses_apply(keys=keys)
    return len(keys)


class _SessionRef(NamedTuple):
    pk: int
    user_id: int
    session_type: str


def _messages_store(
    events: list[MessageEvent], *, event_ids: Sequence[int | None] = ()
) -> dict[str, str]:
    """Insert the messages idempotently; return errors by session id.

    `event_ids`: for each event, the WebhookEvent it came from (if any). Those of
    the messages stored are marked processed in the same statement.

    The usual case, a known session and known contacts, is one INSERT that looks up
    sessions and owners itself (see `ingest_sql.messages_insert`). Messages it could
    not place (an unknown session, a new contact) get what they need created, then
    are inserted, in one transaction.
    """
    rows: dict[Key, dict[str, Any]] = {}
    quoted: dict[Key, str] = {}
    for event, event_id in zip(events, event_ids or [None] * len(events), strict=True):
        if event.key in rows:
            if event_id is not None:
                rows[event.key]["event_ids"].append(event_id)
            continue
        rows[event.key] = {
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
        if event.quoted_message_id and event.quoted_message_id != event.wa_message_id:
            quoted[event.key] = event.quoted_message_id
    below_sent = _ranks_below("sent")
    # In key order, so concurrent deliveries take their row locks in the same order.
    unplaced = ingest_sql.messages_insert(
        [rows[key] for key in sorted(rows)], below_sent=below_sent, now=timezone.now()
    )
    errors: dict[str, str] = {}
    if unplaced:
        session_types = {row["session_key"]: session_type for row, session_type in unplaced}
        keys = {(row["session_key"], row["wa_message_id"]) for row, _ in unplaced}
        # Within a caller's transaction no savepoint is needed: an error undoes it all.
        with transaction.atomic(savepoint=False):
            errors = _owners_create([event for event in events if event.key in keys], session_types)
            retry = [row for row, _ in unplaced if row["session_key"] not in errors]
            if ingest_sql.messages_insert(retry, below_sent=below_sent, now=timezone.now()):
                raise RuntimeError("Messages without a session or owner after creating them.")
    quoted = {key: wa_id for key, wa_id in quoted.items() if key[0] not in errors}
    if quoted:
        _replies_link(quoted)
    return errors


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
            ingest_sql.keys_filter(wanted, "session__bridge_session_id")
        ).values_list("pk", "session__bridge_session_id", "wa_message_id")
    }
    links = [
        Message(pk=ids[key], reply_to_id=ids[(key[0], quoted_id)])
        for key, quoted_id in quoted.items()
        if key in ids and (key[0], quoted_id) in ids
    ]
    if links:
        Message.objects.bulk_update(links, ["reply_to"], batch_size=INSERT_BATCH_SIZE)


# --- delivery statuses ----------------------------------------------------------------


def message_status_update(*, session_key: str, wa_message_id: str, status: str) -> bool:
    """Move one message's status forward (never back); False when there is no such message."""
    if status not in Message.STATUS_RANK:
        raise ValueError(f"Unknown message status {status!r}.")
    with transaction.atomic():
        found = _statuses_apply([(session_key, wa_message_id, status)])
    return (session_key, wa_message_id) in found


def _ranks_below(status: str) -> list[str]:
    rank = Message.STATUS_RANK[status]
    return [name for name, other in Message.STATUS_RANK.items() if other < rank]


def _statuses_apply(updates: list[tuple[str, str, str]]) -> set[Key]:
    """Apply (session key, message id, status) updates; return the keys whose message exists.

    One SELECT, then one conditional UPDATE per target status: a row moves only from
    a lower rank, so "read" never goes back to "delivered", whatever the order.
    """
    if not updates:
        return set()
    rows = Message.objects.filter(
        ingest_sql.keys_filter(
            [(key, wa_id) for key, wa_id, _ in updates], "session__bridge_session_id"
        )
    ).values_list("pk", "session__bridge_session_id", "wa_message_id")
    ids = {(key, wa_id): pk for pk, key, wa_id in rows}
    targets: dict[str, set[int]] = defaultdict(set)
    for key, wa_id, status in updates:
        if (key, wa_id) in ids:
            targets[status].add(ids[(key, wa_id)])
    now = timezone.now()
    for status in sorted(targets, key=Message.STATUS_RANK.__getitem__):
        lower = _ranks_below(status)
        if lower:
            Message.objects.filter(pk__in=sorted(targets[status]), status__in=lower).update(
                status=status, updated_at=now
            )
    return set(ids)


def _deferred_statuses_apply(
    *, keys: set[Key], found: list[ingest_sql.DeferredRow] | None = None
) -> list[int]:
    """Apply deferred status events whose message now exists; return their event ids.

    `found`: the deferred events already looked up for `keys` (after the commit of
    what was stored for them), if the caller has them.
    """
    if not keys:
        return []
    deferred = []
    if found is None:
        found = ingest_sql.events_mark([], timezone.now(), find_deferred=keys)
    for pk, session_key, wa_message_id, payload in found:
        if (session_key, wa_message_id) not in keys:
            continue
        try:
            parsed = parse_event(payload)
        except InvalidEvent:
            continue
        if isinstance(parsed, StatusEvent):
            deferred.append((pk, parsed))
    if not deferred:
        return []
    with transaction.atomic():
        found = _statuses_apply([(p.session_id, p.wa_message_id, p.status) for _, p in deferred])
        done = sorted(pk for pk, parsed in deferred if parsed.key in found)
        if done:
            now = timezone.now()
            WebhookEvent.objects.filter(pk__in=done, state=State.DEFERRED).update(
                state=State.PROCESSED,
                processed_at=now,
                error="",
                attempts=F("attempts") + 1,
                updated_at=now,
            )
    return done


# --- sessions and users ---------------------------------------------------------------


def _session_type_for(session_id: str) -> str:
    if session_id == settings.WHATSAPP_MAIN_SESSION_ID:
        return WhatsAppSession.SessionType.MAIN
    return WhatsAppSession.SessionType.USER


def _owners_create(
    events: list[MessageEvent], session_types: dict[str, str | None]
) -> dict[str, str]:
    """Create the unknown sessions and the new contacts these messages need.

    `session_types`: the type of each session the events name, None when unknown.
    Returns errors by session id (an unknown session without an ``origin``).
    """
    missing = sorted(key for key, session_type in session_types.items() if session_type is None)
    errors: dict[str, str] = {}
    types = dict(session_types)
    if missing:
        created, errors = _sessions_for_unknown(missing, events)
        types.update({key: session.session_type for key, session in created.items()})
    wanted = {}
    for event in events:
        main = types.get(event.session_id) == WhatsAppSession.SessionType.MAIN
        if main and event.contact is not None and event.contact.phone_number:
            wanted[event.contact.phone_number] = _display_name(event)
    if wanted:
        _users_create(wanted)
    return errors


def _sessions_for_unknown(
    missing: list[str], events: list[MessageEvent]
) -> tuple[dict[str, _SessionRef], dict[str, str]]:
    """Create the sessions messages name that Zapa does not know; errors by session id."""
    owners: dict[str, str] = {}
    first_seen: dict[str, datetime] = {}
    for event in events:
        if event.session_id in missing:
            phone = parse_jid(event.origin).phone_number if event.origin else None
            if phone:
                owners.setdefault(event.session_id, phone)
            earliest = first_seen.get(event.session_id)
            first_seen[event.session_id] = min(earliest or event.timestamp, event.timestamp)
    errors = {
        key: f"is required to create the unknown session '{key}' "
        "(the session's phone number as digits)"
        for key in missing
        if key not in owners
    }
    specs = {
        key: {
            "phone_number": phone,
            "status": WhatsAppSession.Status.CONNECTED,
            "connected_at": first_seen[key],
        }
        for key, phone in owners.items()
    }
    return _sessions_create(specs), errors


def _sessions_create(specs: dict[str, dict[str, Any]]) -> dict[str, _SessionRef]:
    """Create sessions by bridge id (owner: the user of `phone_number`); return them all."""
    if not specs:
        return {}
    owners = _users_for_phones({spec["phone_number"]: "" for spec in specs.values()})
    WhatsAppSession.objects.bulk_create(
        [
            WhatsAppSession(
                bridge_session_id=key,
                user_id=owners[spec["phone_number"]],
                session_type=_session_type_for(key),
                **spec,
            )
            for key, spec in sorted(specs.items())
        ],
        ignore_conflicts=True,
    )
    return {
        key: _SessionRef(pk, user_id, session_type)
        for key, pk, user_id, session_type in WhatsAppSession.objects.filter(
            bridge_session_id__in=sorted(specs)
        ).values_list("bridge_session_id", "pk", "user_id", "session_type")
    }


def _users_create(wanted: dict[str, str]) -> None:
    """Create users by E.164 phone number (display name: the value); existing ones stay."""
    now = timezone.now()
    User.objects.bulk_create(
        [
            User(
                phone_number=phone,
                display_name=wanted[phone][:150],
                first_seen=now,
                password=make_password(None),
            )
            for phone in sorted(wanted)
        ],
        ignore_conflicts=True,
        batch_size=INSERT_BATCH_SIZE,
    )


def _users_for_phones(wanted: dict[str, str]) -> dict[str, int]:
    """User ids by E.164 phone number, creating missing users (display name: the value)."""
    if not wanted:
        return {}
    phones = sorted(wanted)
    ids = dict(User.objects.filter(phone_number__in=phones).values_list("phone_number", "pk"))
    missing = [phone for phone in phones if phone not in ids]
    if missing:
        _users_create({phone: wanted[phone] for phone in missing})
        ids.update(User.objects.filter(phone_number__in=missing).values_list("phone_number", "pk"))
    return ids


def whatsapp_session_event_apply(*, event: SessionEvent, request=None) -> WhatsAppSession:
    """Record a session.connected / session.disconnected event and audit it.

    An event older than the last session event applied (by the bridge's timestamps,
    kept in metadata["last_session_event_at"]) is a late redelivery: it changes nothing.
    """
    with transaction.atomic():
        session = (
            WhatsAppSession.objects.select_for_update()
            .filter(bridge_session_id=event.session_id)
            .first()
        )
        if session is None:
            if not event.phone_number:
                raise InvalidEvent(
                    "origin", "is required to create an unknown session (its phone number)"
                )
            _sessions_create(
                {
                    event.session_id: {
                        "phone_number": event.phone_number,
                        "status": WhatsAppSession.Status.QR_PENDING,
                    }
                }
            )
            session = WhatsAppSession.objects.select_for_update().get(
                bridge_session_id=event.session_id
            )
        # Compared with the bridge's own clock only, so skew with ours cannot hide an event.
        last_event_at = session.metadata.get(LAST_SESSION_EVENT_KEY)
        if event.timestamp and last_event_at and event.timestamp.isoformat() < last_event_at:
            return session
        when = event.timestamp or timezone.now()
        changed = ["status", "updated_at", "metadata"]
        if event.timestamp:
            session.metadata = {**session.metadata, LAST_SESSION_EVENT_KEY: when.isoformat()}
        if event.connected:
            session.status = WhatsAppSession.Status.CONNECTED
            session.connected_at = when
            session.qr_code, session.qr_expires_at = "", None
            changed += ["connected_at", "qr_code", "qr_expires_at"]
            if event.phone_number:
                session.phone_number = event.phone_number
                changed.append("phone_number")
        else:
            session.status = WhatsAppSession.Status.DISCONNECTED
            session.disconnected_at = when
            changed.append("disconnected_at")
            if event.reason:
                session.metadata = {**session.metadata, "disconnect_reason": event.reason}
        session.save(update_fields=changed)
        audit_log_record(
            action="session_connected" if event.connected else "session_disconnected",
            resource=session,
            changes={
                "status": session.status,
                "phone_number": session.phone_number,
                "bridge_session_id": session.bridge_session_id,
                **({"reason": event.reason} if event.reason else {}),
            },
            request=request,
        )
    return session
