"""Where apps above messaging hear about new messages without messaging importing them.

`messages_stored` is sent after the messages of a delivery are committed, with
``messages``: (session key, WhatsApp message id, direction) of each message the
delivery stored (redeliveries included: receivers must be idempotent). The assistant
connects to it to hand new messages to its worker.

The webhook holds the announcements of its delivery (`announcements_held`) and sends
them once its answer has gone out to the bridge: what the receivers do never makes
the bridge wait. Everywhere else they are sent at once.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.dispatch import Signal

from messaging.ingest.events import MessageEvent

logger = logging.getLogger(__name__)

messages_stored = Signal()

_held: ContextVar[list | None] = ContextVar("messages_stored_held", default=None)


def messages_stored_announce(messages: list[tuple[str, str, str]]) -> None:
    """Send `messages_stored` now, or hold it for later inside `announcements_held`."""
    held = _held.get()
    if held is not None:
        held.extend(messages)
    else:
        _send(messages)


@contextmanager
def announcements_held() -> Iterator[list]:
    """Hold the announcements made inside the block; yields what they collect, for
    `send_held` once the moment has come."""
    held: list = []
    token = _held.set(held)
    try:
        yield held
    finally:
        _held.reset(token)


def send_held(held: list) -> None:
    if held:
        _send(list(held))
        held.clear()


def _send(messages: list[tuple[str, str, str]]) -> None:
    # A receiver's failure never fails the delivery: the messages are stored, and the
    # assistant has a sweeper.
    results = messages_stored.send_robust(sender=MessageEvent, messages=messages)
    for receiver, result in results:
        if isinstance(result, Exception):
            logger.error(
                "A messages_stored receiver failed (%s): %s",
                getattr(receiver, "__qualname__", receiver),
                type(result).__name__,
                exc_info=result,
            )
