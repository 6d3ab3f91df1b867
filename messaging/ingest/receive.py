"""Bridge deliveries in: every event is stored as a WebhookEvent before anything else.

`delivery_receive` is the webhook's one call: read the body once, store every event
(one INSERT), then act on them (`store.process`), all in one transaction: the events,
their messages and their states commit together, or (the database went away) nothing
does and the webhook answers 503 for the bridge to retry. A processing error is
kept as a ``failed`` event, never lost. `events_reprocess` acts again on
stored events (failed, deferred, interrupted), for the admin and
`manage.py process_webhook_events`.
"""

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from messaging.ingest import fields, sql, store
from messaging.ingest.events import MAX_ID_LENGTH, MAX_SESSION_ID_LENGTH, Ignored, Rejected
from messaging.ingest.parse import BodyError, parse_event, read_body
from messaging.models import WebhookEvent

logger = logging.getLogger(__name__)

RAW_BODY_LIMIT = 64 * 1024
MAX_EVENTS_PER_DELIVERY = 1000
State = WebhookEvent.State


@dataclass(frozen=True)
class Delivery:
    """What became of one POST: its events (in order, with their final states)."""

    events: list[WebhookEvent]
    is_list: bool

    @property
    def rejected(self) -> list[tuple[int, WebhookEvent]]:
        """(index, event) of the events that are not bridge events (the sender's fault)."""
        return [(i, e) for i, e in enumerate(self.events) if e.state == State.REJECTED]

    @property
    def states(self) -> Counter:
        return Counter(event.state for event in self.events)


def delivery_receive(*, body: bytes, request=None, process: bool = True) -> Delivery:
    """Store and process one webhook body (an event or a list of them).

    Raises BodyError when the body is not events at all; such a body is kept as one
    ``rejected`` WebhookEvent (truncated) unless it is an empty list. With
    `process=False` events are only stored (``received``), for `events_reprocess`.
    """
    try:
        document = read_body(body, max_events=MAX_EVENTS_PER_DELIVERY)
    except BodyError as exc:
        if exc.code != "invalid":
            _store_unreadable(body, str(exc))
        raise
    if not process:
        events, _ = _events_store(document.payloads)
        return Delivery(events=events, is_list=document.is_list)
    try:
        # The usual case: everything in one transaction, without savepoints.
        with transaction.atomic():
            events, parsed = _events_store(document.payloads)
            store.process(_to_process(events, parsed), request=request, careful=False)
    except store.CONNECTION_ERRORS:
        raise
    except Exception as exc:
        # Nothing of it was kept: store the events on their own, then process them
        # with a savepoint per step, so that what fails is kept as failed.
        logger.warning("A webhook delivery failed (%s); storing it first", type(exc).__name__)
        events, parsed = _events_store(document.payloads)
        store.process(_to_process(events, parsed), request=request)
    return Delivery(events=events, is_list=document.is_list)


def _to_process(events: list[WebhookEvent], parsed: list) -> list:
    return [(e, p) for e, p in zip(events, parsed, strict=True) if e.state == State.RECEIVED]


def _events_store(payloads: list[Any]) -> tuple[list[WebhookEvent], list]:
    now = timezone.now()
    events, parsed = [], []
    for payload in payloads:
        result = parse_event(payload)
        event_type, session_key, wa_message_id = _envelope(payload)
        event = WebhookEvent(
            event_type=event_type,
            session_key=session_key,
            wa_message_id=wa_message_id,
            payload=payload,
            received_at=now,
            created_at=now,
        )
        final = _final_state(result)
        if final:
            # Stored in its final state in the same INSERT: nothing more to do.
            event.state, event.error = final
            event.processed_at, event.attempts = now, 1
        events.append(event)
        parsed.append(result)
    sql.events_insert(events)
    return events, parsed


def _final_state(result) -> tuple[str, str] | None:
    """(state, error) of an event known to need no processing, else None."""
    if isinstance(result, Rejected):
        return (State.REJECTED, result.problem)
    if isinstance(result, Ignored):
        return (State.IGNORED, result.reason)
    return None


def _store_unreadable(body: bytes, error: str) -> None:
    WebhookEvent.objects.create(
        raw_body=fields.storable_text(body, RAW_BODY_LIMIT),
        state=State.REJECTED,
        error=error,
        attempts=1,
        processed_at=timezone.now(),
    )


def _envelope(payload: Any) -> tuple[str, str, str]:
    """(event_type, session_key, wa_message_id) columns of a payload, never raising."""
    if not isinstance(payload, dict):
        return ("", "", "")
    event_type = payload.get("eventType")
    session_key = payload.get("sessionId")
    data = payload.get("data")
    message_id = data.get("messageId") if isinstance(data, dict) else None
    return (
        event_type.strip()[:64] if isinstance(event_type, str) else "",
        session_key.strip()[:MAX_SESSION_ID_LENGTH] if isinstance(session_key, str) else "",
        message_id.strip()[:MAX_ID_LENGTH] if isinstance(message_id, str) else "",
    )


def events_reprocess(*, events: Sequence[WebhookEvent]) -> list[WebhookEvent]:
    """Act on stored events again (failed, deferred, interrupted); idempotent.

    Events without a JSON payload (bodies that were not JSON) cannot be processed
    and are returned unchanged.
    """
    items = [
        (event, parse_event(event.payload))
        for event in events
        if not (event.payload is None and event.raw_body)
    ]
    store.process(items)
    return list(events)
