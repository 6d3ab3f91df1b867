"""Retention: delete old messages, webhook events and spent login codes in batches.

Each batch is its own short transaction: pick at most `batch_size` ids through an
index, then delete exactly those rows. Locks are held for one batch only, so the
webhook and the API keep working while a large purge runs, and an interrupted purge
keeps what it already did.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, models, transaction
from django.utils import timezone

from accounts.models import AuthCode
from messaging.models import Message, WebhookEvent

DEFAULT_BATCH_SIZE = 5000
# Login codes expire after minutes; a day later they are only clutter.
AUTH_CODE_GRACE = timedelta(days=1)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class PurgeCounts:
    messages: int = 0
    webhook_events: int = 0
    auth_codes: int = 0


def _messages_before(cutoff: datetime) -> models.QuerySet:
    return Message.objects.filter(timestamp__lt=cutoff)


def _events_before(cutoff: datetime) -> models.QuerySet:
    return WebhookEvent.objects.filter(received_at__lt=cutoff)


def _spent_codes(now: datetime) -> models.QuerySet:
    cutoff = now - AUTH_CODE_GRACE
    return AuthCode.objects.filter(models.Q(expires_at__lt=cutoff) | models.Q(used_at__lt=cutoff))


def _delete_ids(model: type[models.Model], ids: list[int]) -> int:
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [ids])  # noqa: S608
        else:
            placeholders = ", ".join(["%s"] * len(ids))
            cursor.execute(f"DELETE FROM {table} WHERE id IN ({placeholders})", ids)  # noqa: S608
        return cursor.rowcount


def _delete_in_batches(
    queryset: models.QuerySet,
    *,
    order_by: tuple[str, ...],
    batch_size: int,
    progress: Progress | None,
    before_delete: Callable[[list[int]], None] | None = None,
) -> int:
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by(*order_by).values_list("id", flat=True)[:batch_size])
            if not ids:
                return deleted
            if before_delete:
                before_delete(ids)
            count = _delete_ids(queryset.model, ids)
        deleted += count
        if progress:
            progress(count)
        if len(ids) < batch_size:
            return deleted


def _detach_replies(ids: list[int]) -> None:
    # reply_to is SET_NULL in Django, not in the database: do it before the delete.
    Message.objects.filter(reply_to_id__in=ids).update(reply_to=None)


def purge_messages(
    *,
    older_than: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> int:
    """Delete messages whose WhatsApp timestamp is before `older_than`; return the count."""
    return _delete_in_batches(
        _messages_before(older_than),
        order_by=("timestamp", "id"),
        batch_size=batch_size,
        progress=progress,
        before_delete=_detach_replies,
    )


def purge_webhook_events(
    *,
    older_than: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> int:
    """Delete webhook events received before `older_than`, whatever their state."""
    return _delete_in_batches(
        _events_before(older_than),
        order_by=("received_at", "id"),
        batch_size=batch_size,
        progress=progress,
    )


def purge_auth_codes(
    *,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> int:
    """Delete login codes that expired, or were used, more than a day ago.

    Codes of the last day stay: the per-number daily issuing cap counts them.
    """
    return _delete_in_batches(
        _spent_codes(now or timezone.now()),
        order_by=("id",),
        batch_size=batch_size,
        progress=progress,
    )


def count_purgeable(
    *,
    messages_before: datetime | None,
    events_before: datetime | None,
    now: datetime | None = None,
) -> PurgeCounts:
    """What a purge with these cutoffs would delete (for --dry-run)."""
    return PurgeCounts(
        messages=_messages_before(messages_before).count() if messages_before else 0,
        webhook_events=_events_before(events_before).count() if events_before else 0,
        auth_codes=_spent_codes(now or timezone.now()).count(),
    )
