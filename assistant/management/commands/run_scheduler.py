"""The periodic jobs without Celery beat (the laptop mode, CELERY_BROKER_URL empty):

    manage.py run_scheduler            # every 30 s until stopped
    manage.py run_scheduler --once     # one round, e.g. from cron every minute

Each round: queue lost assistant turns, send due reminders, and (every other round)
reconcile WhatsApp sessions with the bridge. With a broker, `celery -A zapa_site beat`
runs the same jobs (settings.CELERY_BEAT_SCHEDULE) and this command is not needed.
"""

import time

from django.core.management.base import BaseCommand

from assistant import tasks
from messaging import tasks as messaging_tasks

ROUND_SECONDS = 30


class Command(BaseCommand):
    help = (
        "Run the assistant's periodic jobs (sweeper, reminders, bridge sync) without Celery beat."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run one round and stop.")

    def handle(self, *args, once: bool = False, **options):
        self.verbosity = options.get("verbosity", 1)
        round_number = 0
        while True:
            self._round(sync=round_number % 2 == 0)
            round_number += 1
            if once:
                return
            time.sleep(ROUND_SECONDS)

    def _round(self, *, sync: bool) -> None:
        queued = tasks.sweep()
        sent = tasks.send_due_reminders()
        line = f"turns queued: {queued}, reminders sent: {sent}"
        if sync:
            try:
                line += f", bridge: {messaging_tasks.sync_bridge_sessions()}"
            except Exception as exc:  # the bridge being down must not stop the rest
                line += f", bridge: {type(exc).__name__}: {exc}"
        if self.verbosity:
            self.stdout.write(line)
