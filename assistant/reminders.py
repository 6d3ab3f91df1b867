"""Reminders: created by the assistant's tool, listed and cancelled by their owner,
sent by the scheduler within a minute of their time, exactly once."""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from assistant.models import Reminder
from messaging.services.outgoing import OutgoingFailed, message_send

MAX_SCHEDULED_PER_USER = 50
MAX_AHEAD = timedelta(days=366)
SEND_BATCH = 100
# A reminder claimed this long ago and still not sent was interrupted while sending:
# it is not sent again (it may have gone out), it is marked failed.
SENDING_TIMEOUT = timedelta(minutes=10)


class ReminderRefused(Exception):
    """Why a reminder cannot be created or cancelled (shown to the model or the caller)."""


def reminder_create(
    *, user, session, chat_jid: str, text: str, due_at: datetime, now: datetime, turn_id=None
) -> Reminder:
    text = text.strip()
    if not text:
        raise ReminderRefused("A reminder needs a text.")
    if len(text) > 1000:
        raise ReminderRefused("A reminder's text is at most 1,000 characters.")
    if due_at <= now:
        raise ReminderRefused("That time has already passed.")
    if due_at - now > MAX_AHEAD:
        raise ReminderRefused("Reminders can be set at most a year ahead.")
    with transaction.atomic():
        scheduled = Reminder.objects.filter(user=user, state=Reminder.State.SCHEDULED).count()
        if scheduled >= MAX_SCHEDULED_PER_USER:
            raise ReminderRefused(
                f"You already have {scheduled} reminders scheduled; cancel one first."
            )
        return Reminder.objects.create(
            user=user,
            session=session,
            chat_jid=chat_jid,
            text=text,
            due_at=due_at,
            turn_id=turn_id,
        )


def reminder_cancel(*, reminder: Reminder) -> Reminder:
    updated = Reminder.objects.filter(pk=reminder.pk, state=Reminder.State.SCHEDULED).update(
        state=Reminder.State.CANCELLED, updated_at=timezone.now()
    )
    reminder.refresh_from_db()
    if not updated:
        raise ReminderRefused(f"Reminder {reminder.pk} is {reminder.state}, not scheduled.")
    return reminder


def reminders_send_due(*, now: datetime | None = None) -> int:
    """Send every scheduled reminder whose time has come; return how many were sent.

    Each is claimed (scheduled → sending) in its own committed UPDATE before the
    bridge is called, so two schedulers never send the same one, and a crash after the
    claim never sends it twice.
    """
    now = now or timezone.now()
    Reminder.objects.filter(
        state=Reminder.State.SENDING, claimed_at__lt=now - SENDING_TIMEOUT
    ).update(
        state=Reminder.State.FAILED,
        error="Interrupted while sending; not sent again, to avoid a duplicate.",
        updated_at=now,
    )
    sent = 0
    due = list(
        Reminder.objects.filter(state=Reminder.State.SCHEDULED, due_at__lte=now)
        .order_by("due_at", "id")
        .values_list("pk", flat=True)[:SEND_BATCH]
    )
    for pk in due:
        claimed = Reminder.objects.filter(pk=pk, state=Reminder.State.SCHEDULED).update(
            state=Reminder.State.SENDING, claimed_at=now, updated_at=now
        )
        if claimed:
            sent += _send(Reminder.objects.select_related("session", "user").get(pk=pk))
    return sent


def _send(reminder: Reminder) -> int:
    try:
        message = message_send(
            session=reminder.session,
            chat_jid=reminder.chat_jid,
            text=f"⏰ {reminder.text}",
            sent_by="assistant",
        )
    except OutgoingFailed as exc:
        Reminder.objects.filter(pk=reminder.pk).update(
            state=Reminder.State.FAILED, error=str(exc)[:500], updated_at=timezone.now()
        )
        return 0
    now = timezone.now()
    Reminder.objects.filter(pk=reminder.pk).update(
        state=Reminder.State.SENT, sent_at=now, sent_message=message, updated_at=now
    )
    return 1
