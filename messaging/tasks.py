"""messaging's Celery jobs: reconcile sessions with the bridge every minute; ingest
the events the webhook stored in queued mode."""

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
    return queue.waiting_ingest()
