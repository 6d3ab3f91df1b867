"""messaging's periodic Celery job: reconcile sessions with the bridge every minute."""

from celery import shared_task


@shared_task(name="messaging.sync_bridge_sessions", ignore_result=True)
def sync_bridge_sessions() -> str:
    from messaging.services.sessions import whatsapp_sessions_sync

    return whatsapp_sessions_sync().summary()
