"""Turns for new incoming messages on the assistant's number: the ingest announces the
messages it stored (`messaging.ingest.hooks.messages_stored`), a worker creates their
turns, and the sweeper creates any that a crash left out. One turn per trigger message:
a unique constraint."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from assistant.models import Turn
from messaging.models import Message

GROUP_SUFFIX = "@g.us"


def eligible_messages(messages):
    """Incoming messages the assistant may owe an answer to (the rest of the rules,
    which can change while a turn waits, are checked when it runs)."""
    return (
        messages.filter(
            direction=Message.Direction.INCOMING,
            session__bridge_session_id=settings.WHATSAPP_MAIN_SESSION_ID,
        )
        .exclude(message_type=Message.MessageType.UNSUPPORTED)
        .exclude(chat_jid__endswith=GROUP_SUFFIX)
    )


def turns_create(messages) -> list[int]:
    """Create the missing turns for these messages; return the new turns' ids."""
    rows = list(
        eligible_messages(messages)
        .filter(assistant_turn__isnull=True)
        .order_by("timestamp", "id")
        .values_list("pk", "user_id", "session_id", "chat_jid", "created_at")
    )
    if not rows:
        return []
    # Without a broker the turn runs right after the commit, in this process: no debounce.
    eager = settings.CELERY_TASK_ALWAYS_EAGER
    debounce = timedelta(seconds=0 if eager else settings.ASSISTANT_DEBOUNCE_SECONDS)
    Turn.objects.bulk_create(
        [
            Turn(
                trigger_message_id=pk,
                user_id=user_id,
                session_id=session_id,
                chat_jid=chat_jid,
                due_at=stored_at + debounce,
            )
            for pk, user_id, session_id, chat_jid, stored_at in rows
        ],
        ignore_conflicts=True,  # a concurrent redelivery created it first
    )
    return list(
        Turn.objects.filter(
            trigger_message_id__in=[row[0] for row in rows], state=Turn.State.PENDING
        ).values_list("pk", flat=True)
    )


def messages_stored_received(sender, messages, **kwargs) -> None:
    """Receiver of `messages_stored`: hand the main session's new incoming messages to a
    worker (`tasks.answer_messages`), which creates their turns and runs them.

    The request does nothing more than that one publish, after its commit. A hand-over
    that is lost (a crash right after the commit, the broker down) is made up by the
    sweeper, which creates the turns that messages stored in the last hour lack.
    """
    if not settings.ASSISTANT_ENABLED:
        return
    main = settings.WHATSAPP_MAIN_SESSION_ID
    wanted = [
        wa_id for key, wa_id, direction in messages if key == main and direction == "incoming"
    ]
    if not wanted:
        return
    from assistant import tasks  # the task module imports Celery's app

    transaction.on_commit(lambda: tasks.answer_messages_later(wanted), robust=True)


def turns_create_for_main(wa_message_ids: list[str]) -> list[int]:
    """The turns of these messages of the main session (created if missing); the ids
    of those still pending."""
    return turns_create(
        Message.objects.filter(
            session__bridge_session_id=settings.WHATSAPP_MAIN_SESSION_ID,
            wa_message_id__in=wa_message_ids,
        )
    )


def turns_sweep(*, now=None, lookback: timedelta = timedelta(hours=1)) -> list[int]:
    """Turns a crash left out (messages stored, no turn) and turns whose worker died
    (lease expired) or that were never run: the ids to run now."""
    if not settings.ASSISTANT_ENABLED:
        return []
    now = now or timezone.now()
    created = turns_create(Message.objects.filter(created_at__gte=now - lookback))
    stale = Turn.objects.filter(state__in=[Turn.State.PENDING, Turn.State.RUNNING]).filter(
        due_at__lte=now
    )
    runnable = [
        pk
        for pk, state, lease in stale.values_list("pk", "state", "lease_expires_at")[:500]
        if state == Turn.State.PENDING or lease is None or lease < now
    ]
    return sorted(set(created) | set(runnable))
