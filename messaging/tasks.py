"""messaging's Celery jobs: reconcile sessions with the bridge every minute; ingest
the events the webhook stored in queued mode; apply statuses that raced their message."""

from celery import shared_task


@shared_task(name="messaging.sync_bridge_sessions", ignore_result=True)
def sync_bridge_sessions() -> str:
    from messaging.services.sessions import whatsapp_sessions_sync

    return whatsapp_sessions_sync().summary()


@shared_task(name="messaging.ingest_waiting", ignore_result=True)
def ingest_waiting() -> int:
    """Queued ingest: every waiting event, in batches (a no-op in inline mode, where the
    webhook ingests and `process_webhook_events` handles interrupted events)."""
    from messaging.ingest import queue

    if not queue.is_queued():
        return 0
    queue.wake_clear()
    return queue.waiting_ingest()


@shared_task(name="messaging.deferred_statuses_recheck", ignore_result=True)
def deferred_statuses_recheck() -> int:
    """Statuses deferred while their message was being stored at the same moment."""
    from messaging.ingest.store import deferred_statuses_recheck

    return deferred_statuses_recheck()
