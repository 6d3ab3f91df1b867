"""Staff actions on turns (the admin's "retry")."""

from django.utils import timezone

from assistant.models import Turn


def turns_retry(*, turn_ids: list[int]) -> tuple[list[int], int]:
    """Put failed turns back in the queue; return (ids queued, how many were refused).

    A turn whose reply may already have gone out (the send had started) is not retried:
    a second reply is worse than none.
    """
    now = timezone.now()
    retryable = Turn.objects.filter(
        pk__in=turn_ids, state=Turn.State.FAILED, send_started_at__isnull=True
    )
    ids = list(retryable.values_list("pk", flat=True))
    Turn.objects.filter(pk__in=ids).update(
        state=Turn.State.PENDING,
        reason="",
        attempts=0,
        due_at=now,
        lease_expires_at=None,
        finished_at=None,
        updated_at=now,
    )
    return ids, len(turn_ids) - len(ids)
