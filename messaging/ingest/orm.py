"""The ORM versions of `messaging.ingest.sql`'s statements, for SQLite (and any
database without PostgreSQL's JSON functions): the same rows and outcome, in more
statements."""

import functools
import operator
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import F, Q

from accounts.models import User
from messaging.models import Message, WebhookEvent, WhatsAppSession

INSERT_BATCH_SIZE = 1000
State = WebhookEvent.State
DONE_STATES = (State.PROCESSED, State.IGNORED, State.REJECTED)  # states that set processed_at
DeferredRow = tuple[int, str, str, Any]  # event id, session key, message id, payload
NOT_COLUMNS = ("session_key", "contact_phone", "event_ids")


def owned_by_contact(session_type: str | None, contact_phone: str | None) -> bool:
    """Who a message belongs to (see docs/architecture.md, "Who owns a message"): on
    the assistant's number the person on the other side, when they have a phone
    number; otherwise the session's owner. `sql._MESSAGES_INSERT` says the same in
    SQL, and a test holds the two to the same answers."""
    return session_type == WhatsAppSession.SessionType.MAIN and bool(contact_phone)


def events_insert(events: Sequence[WebhookEvent]) -> None:
    WebhookEvent.objects.bulk_create(events, batch_size=INSERT_BATCH_SIZE)


def events_mark(marks, now: datetime, find_deferred) -> list[DeferredRow]:
    for events, state, error in marks:
        _ids_mark([e.pk for e in events], state, error, now)
    if not find_deferred:
        return []
    return list(
        WebhookEvent.objects.filter(
            state=State.DEFERRED,
            session_key__in=sorted({key for key, _ in find_deferred}),
            wa_message_id__in=sorted({wa_id for _, wa_id in find_deferred}),
        ).values_list("pk", "session_key", "wa_message_id", "payload")
    )


def messages_insert(
    rows: list[dict[str, Any]], *, below_sent: Sequence[str], now: datetime
) -> list[tuple[dict[str, Any], str | None]]:
    keys = sorted({row["session_key"] for row in rows})
    phones = sorted({row["contact_phone"] for row in rows if row["contact_phone"]})
    sessions = {
        key: (pk, owner_id, session_type)
        for key, pk, owner_id, session_type in WhatsAppSession.objects.filter(
            bridge_session_id__in=keys
        ).values_list("bridge_session_id", "pk", "user_id", "session_type")
    }
    users = dict(User.objects.filter(phone_number__in=phones).values_list("phone_number", "pk"))
    messages, unplaced, event_ids = [], [], []
    for row in rows:
        session_key, phone = row["session_key"], row["contact_phone"]
        if session_key not in sessions:
            unplaced.append((row, None))
            continue
        session_id, owner_id, session_type = sessions[session_key]
        user_id = users.get(phone) if owned_by_contact(session_type, phone) else owner_id
        if user_id is None:
            unplaced.append((row, session_type))
            continue
        event_ids.extend(row["event_ids"])
        columns = {k: v for k, v in row.items() if k not in NOT_COLUMNS}
        messages.append(
            Message(
                **columns, session_id=session_id, user_id=user_id, created_at=now, updated_at=now
            )
        )
    Message.objects.bulk_create(messages, ignore_conflicts=True, batch_size=INSERT_BATCH_SIZE)
    outgoing = [
        (message.session_id, message.wa_message_id)
        for message in messages
        if message.direction == Message.Direction.OUTGOING
    ]
    if outgoing:
        Message.objects.filter(keys_filter(outgoing), status__in=below_sent).update(
            status=Message.Status.SENT, updated_at=now
        )
    if event_ids:
        WebhookEvent.objects.filter(pk__in=event_ids).update(
            state=State.PROCESSED,
            error="",
            processed_at=now,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    return unplaced


def keys_filter(keys: Iterable[tuple[Any, str]], session_field: str = "session_id") -> Q:
    """One OR-clause per session: (session = s AND wa_message_id IN (...)) OR ..."""
    by_session: dict[Any, set[str]] = {}
    for session, wa_id in keys:
        by_session.setdefault(session, set()).add(wa_id)
    return functools.reduce(
        operator.or_,
        (
            Q(**{session_field: session, "wa_message_id__in": sorted(wa_ids)})
            for session, wa_ids in sorted(by_session.items())
        ),
    )


def statuses_apply(updates, now: datetime) -> set[tuple[str, str]]:
    rows = Message.objects.filter(
        keys_filter([(key, wa_id) for _, key, wa_id, _ in updates], "session__bridge_session_id")
    ).values_list("pk", "session__bridge_session_id", "wa_message_id")
    ids = {(key, wa_id): pk for pk, key, wa_id in rows}
    best: dict[int, str] = {}
    for _, key, wa_id, status in updates:
        pk = ids.get((key, wa_id))
        if pk is not None and (
            pk not in best or Message.STATUS_RANK[status] > Message.STATUS_RANK[best[pk]]
        ):
            best[pk] = status
    by_status: dict[str, list[int]] = {}
    for pk, status in best.items():
        by_status.setdefault(status, []).append(pk)
    for status, pks in by_status.items():
        lower = [s for s, rank in Message.STATUS_RANK.items() if rank < Message.STATUS_RANK[status]]
        if lower:
            Message.objects.filter(pk__in=sorted(pks), status__in=lower).update(
                status=status, updated_at=now
            )
    with_event = [(event_id, (key, wa_id)) for event_id, key, wa_id, _ in updates if event_id]
    found = [event_id for event_id, key in with_event if key in ids]
    waiting = [event_id for event_id, key in with_event if key not in ids]
    _ids_mark(found, State.PROCESSED, "", now)
    _ids_mark(waiting, State.DEFERRED, "", now)
    return set(ids)


def _ids_mark(ids: list[int], state: str, error: str, now: datetime) -> None:
    if ids:
        WebhookEvent.objects.filter(pk__in=ids).update(
            state=state,
            error=error,
            processed_at=now if state in DONE_STATES else None,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
