"""Queued ingest (`WEBHOOK_INGEST=queued`): the webhook only stores the events and
answers; a worker ingests whatever is waiting, in batches, with the same set-based code
as the inline path (`store.process`).

A worker claims a batch (`claimed_at`, committed) with `FOR UPDATE SKIP LOCKED`, so two
workers never take the same events. A worker that dies leaves its claim behind; after
CLAIM_SECONDS the events are taken again (processing is idempotent: a message is stored
once per session and id, statuses only move forward, deferral works as inline).
Nothing is lost while no worker runs: the events wait as `received` (the backlog shown
by `/readyz` and the dashboard).

Waking a worker: a request that stored events publishes the ingest task only if no
wake-up is pending (`wake_wanted`: SET NX of one Redis key on the broker), and the
task clears the key before it looks for events (`wake_clear`). An event stored while
a wake-up is pending is found by that task, since the task clears the key first and
the event was committed before its request checked the key. So a burst of requests
costs one task, not one per request; the task is published to start
WEBHOOK_INGEST_GATHER_SECONDS later, so it finds the burst stored. A lost publish
leaves the key set until WAKE_SECONDS pass; beat runs the task every 15 s meanwhile.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from core.http import per_process
from messaging.ingest.receive import events_reprocess
from messaging.models import WebhookEvent

BATCH_SIZE = 500
CLAIM_SECONDS = 300
BACKLOG_COUNT_CAP = 100_000  # counting a huge backlog exactly is itself slow
WAKE_KEY = "zapa:ingest:wake"
WAKE_SECONDS = 30
State = WebhookEvent.State


def is_queued() -> bool:
    return settings.WEBHOOK_INGEST == "queued"


_redis_clients = per_process(dict)


def broker_redis():
    """The broker's Redis, one client per process; None for another broker."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    clients = _redis_clients()
    if url not in clients:
        import redis

        clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return clients[url]


def wake_wanted() -> bool:
    """Whether this request should publish the ingest task: no wake-up is pending."""
    client = broker_redis()
    if client is None:
        return True
    return bool(client.set(WAKE_KEY, 1, nx=True, ex=WAKE_SECONDS))


def wake_clear() -> None:
    """A worker is about to look for waiting events: later events need a new wake-up."""
    client = broker_redis()
    if client is not None:
        client.delete(WAKE_KEY)


def waiting_claim(*, limit: int = BATCH_SIZE, now=None) -> list[WebhookEvent]:
    """Take up to `limit` waiting events, oldest first, for this worker."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(state=State.RECEIVED)
            .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - _claim_time()))
            .order_by("received_at", "id")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            WebhookEvent.objects.filter(pk__in=ids).update(claimed_at=now, updated_at=now)
    if not ids:
        return []
    return list(WebhookEvent.objects.filter(pk__in=ids).order_by("received_at", "id"))


def waiting_ingest(*, max_batches: int = 100) -> int:
    """Ingest what is waiting, batch after batch; the number of events handled."""
    handled = 0
    for _ in range(max_batches):
        events = waiting_claim()
        if not events:
            break
        events_reprocess(events=events)
        handled += len(events)
    return handled


@dataclass(frozen=True)
class Backlog:
    waiting: int  # capped at BACKLOG_COUNT_CAP
    oldest_seconds: float

    def as_dict(self) -> dict:
        return {"waiting": self.waiting, "oldest_seconds": round(self.oldest_seconds, 1)}


def backlog(*, now=None) -> Backlog:
    """Events stored and not yet ingested (state received), and the age of the oldest."""
    now = now or timezone.now()
    waiting = WebhookEvent.objects.filter(state=State.RECEIVED)
    count = waiting.order_by()[:BACKLOG_COUNT_CAP].count()
    oldest = waiting.aggregate(oldest=Min("received_at"))["oldest"] if count else None
    return Backlog(count, (now - oldest).total_seconds() if oldest else 0.0)


def _claim_time() -> timedelta:
    return timedelta(seconds=CLAIM_SECONDS)
