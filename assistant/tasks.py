"""The assistant's Celery tasks: answer new messages, run a turn, sweep for lost turns,
send due reminders."""

from celery import shared_task
from django.conf import settings

from assistant import reminders, triggers, turns


def answer_messages_later(wa_message_ids: list[str]) -> None:
    """Queue new incoming messages of the main session for an answer, after the debounce
    (at once without a broker: the task then runs here, eagerly)."""
    delay = 0 if settings.CELERY_TASK_ALWAYS_EAGER else settings.ASSISTANT_DEBOUNCE_SECONDS
    answer_messages.apply_async((wa_message_ids,), countdown=delay)


@shared_task(name="assistant.answer_messages", ignore_result=True)
def answer_messages(wa_message_ids: list[str]) -> None:
    """Create the messages' turns; run the first here and queue the others, so the
    turns of a batch run on all the workers."""
    turn_ids = triggers.turns_create_for_main(wa_message_ids)
    if turn_ids:
        _run_or_wait(turn_ids[0])
        turns_enqueue(turn_ids[1:])


@shared_task(name="assistant.run_turn", ignore_result=True)
def run_turn(turn_id: int) -> None:
    _run_or_wait(turn_id)


def _run_or_wait(turn_id: int) -> None:
    if turns.turn_run(turn_id=turn_id) is None and not settings.CELERY_TASK_ALWAYS_EAGER:
        wait = turns.seconds_until_due(turn_id)
        if wait:  # picked up early (clocks differ between machines): come back when due
            run_turn.apply_async((turn_id,), countdown=wait)


def turns_enqueue(turn_ids: list[int]) -> None:
    for turn_id in turn_ids:
        run_turn.delay(turn_id)


@shared_task(name="assistant.sweep", ignore_result=True)
def sweep() -> int:
    """Queue the turns a crash left behind; beat runs it every 30 seconds."""
    turn_ids = triggers.turns_sweep()
    turns_enqueue(turn_ids)
    return len(turn_ids)


@shared_task(name="assistant.send_due_reminders", ignore_result=True)
def send_due_reminders() -> int:
    return reminders.reminders_send_due()
