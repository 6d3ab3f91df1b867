"""The HTTP clients the providers' SDKs share in a process (see `core.http`). The SDKs
are built on `httpx2`, so they get `httpx2` clients; the async one only exists because
google-genai builds one per `Client` unless given one, and is never used."""

import httpx2

from core.http import per_process

LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=20)


def _sync_client() -> httpx2.Client:
    return httpx2.Client(limits=LIMITS, timeout=httpx2.Timeout(60.0))


def _async_client() -> httpx2.AsyncClient:
    return httpx2.AsyncClient(limits=LIMITS, timeout=httpx2.Timeout(60.0))


sdk_http_client = per_process(_sync_client)
sdk_async_http_client = per_process(_async_client)
