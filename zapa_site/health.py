"""Probes for load balancers and orchestrators: /healthz (alive) and /readyz (ready).

Neither says why a dependency failed: the details go to the log, not to whoever asks.
"""

import logging
import secrets

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request):
    """The process is up; says nothing about its dependencies."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """Ready to serve: the database answers, and so does the cache (which holds the
    login throttles: with a shared Redis cache, Zapa is not ready without it). Also
    reports the webhook backlog: events waiting for a worker (queued ingest)."""
    checks = {"database": _database_ok(), "cache": _cache_ok()}
    ready = all(checks.values())
    body = {"status": "ok" if ready else "unavailable"}
    body.update({name: "ok" if ok else "unreachable" for name, ok in checks.items()})
    if checks["database"]:
        # Events stored and not yet ingested (queued ingest): a figure, never a failure.
        body["webhook_backlog"] = _webhook_backlog()
    return JsonResponse(body, status=200 if ready else 503)


def _webhook_backlog() -> dict | None:
    from messaging.ingest.queue import backlog

    try:
        return backlog().as_dict()
    except DatabaseError:
        logger.warning("readyz: could not count the webhook backlog", exc_info=True)
        return None


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.warning("readyz: the database is unreachable", exc_info=True)
        return False
    return True


def _cache_ok() -> bool:
    key = f"zapa:readyz:{secrets.token_hex(8)}"
    try:
        cache.set(key, "1", timeout=5)
        found = cache.get(key) == "1"
        cache.delete(key)
    except Exception:  # each cache backend raises its own connection errors
        logger.warning("readyz: the cache is unreachable", exc_info=True)
        return False
    return found
