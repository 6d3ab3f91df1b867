"""Pooled HTTP clients, one per process, for Zapa's calls to outside services.

Building an HTTP client costs about 20 ms here (it loads the CA bundle into a new SSL
context), more than the rest of an assistant turn; a shared client also keeps
connections alive between calls. Each process builds its own on first use, so a forked
worker (Celery prefork, gunicorn) never shares its parent's sockets. Callers pass their
timeout with each request, and nobody closes a shared client.
"""

import os
import threading
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


def per_process(build: Callable[[], T]) -> Callable[[], T]:
    """`build()` once in each process (thread-safe); the same object on later calls."""
    lock = threading.Lock()
    built: dict[int, T] = {}

    def get() -> T:
        pid = os.getpid()
        if pid not in built:
            with lock:
                if pid not in built:
                    built.clear()  # a forked child drops its parent's (never closing its sockets)
                    built[pid] = build()
        return built[pid]

    get.__doc__ = build.__doc__
    return get


def _bridge_client() -> httpx.Client:
    """The client the WhatsApp bridge's calls share."""
    return httpx.Client(
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
        timeout=httpx.Timeout(30.0),
    )


shared_http_client = per_process(_bridge_client)
