"""The assistant's Celery tasks: run a turn, sweep for lost turns, send due reminders."""

from celery import shared_task

from assistant import reminders, triggers, turns


@shared_task(name="assistant.run_turn", ignore_result=True)
def run_turn(turn_id: int) -> None:
    turns.turn_run(turn_id=turn_id)


def turns_enqueue(turn_ids: list[int], *, countdown: float = 0) -> None:
    for turn_id in turn_ids:
        run_turn.apply_async((turn_id,), countdown=countdown)


@shared_task(name="assistant.sweep", ignore_result=True)
def sweep() -> int:
    """Queue the turns a crash left behind; beat runs it every 30 seconds."""
    turn_ids = triggers.turns_sweep()
    turns_enqueue(turn_ids)
    return len(turn_ids)


@shared_task(name="assistant.send_due_reminders", ignore_result=True)
def send_due_reminders() -> int:
    return reminders.reminders_send_due()
