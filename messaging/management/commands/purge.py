import sys
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from messaging.ingest.store import deferred_expire
from messaging.services import retention


def _days(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Delete messages and webhook events older than the given ages, in small batches "
        "(one short transaction each), and login codes spent more than a day ago."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--messages-older-than",
            type=_days,
            metavar="DAYS",
            help="Delete messages whose WhatsApp timestamp is older than DAYS days.",
        )
        parser.add_argument(
            "--events-older-than",
            type=_days,
            metavar="DAYS",
            help="Delete webhook events received more than DAYS days ago.",
        )
        parser.add_argument(
            "--batch-size",
            type=_positive,
            default=retention.DEFAULT_BATCH_SIZE,
            help=f"Rows per batch/transaction (default {retention.DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args, **options) -> None:
        self.verbosity = options["verbosity"]
        message_days = options["messages_older_than"]
        event_days = options["events_older_than"]
        if message_days is None and event_days is None:
            raise CommandError("Give --messages-older-than and/or --events-older-than.")
        now = timezone.now()
        messages_before = now - timedelta(days=message_days) if message_days is not None else None
        events_before = now - timedelta(days=event_days) if event_days is not None else None
        batch_size = options["batch_size"]

        if options["dry_run"]:
            counts = retention.count_purgeable(
                messages_before=messages_before, events_before=events_before, now=now
            )
            self.stdout.write(
                f"Dry run: would delete {counts.messages} messages, "
                f"{counts.webhook_events} webhook events and {counts.auth_codes} login codes."
            )
            return

        messages = events = 0
        if messages_before is not None:
            messages = self._run(
                "messages",
                lambda progress: retention.purge_messages(
                    older_than=messages_before, batch_size=batch_size, progress=progress
                ),
            )
        if events_before is not None:
            deferred_expire()  # statuses whose message never came: given up, then purged by age
            events = self._run(
                "webhook events",
                lambda progress: retention.purge_webhook_events(
                    older_than=events_before, batch_size=batch_size, progress=progress
                ),
            )
        codes = self._run(
            "login codes",
            lambda progress: retention.purge_auth_codes(
                now=now, batch_size=batch_size, progress=progress
            ),
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {messages} messages, {events} webhook events and {codes} login codes."
            )
        )

    def _run(self, label: str, purge) -> int:
        with tqdm(
            desc=f"deleting {label}",
            unit="row",
            file=sys.stderr,
            disable=not sys.stderr.isatty(),
        ) as bar:
            done = 0

            def progress(count: int) -> None:
                nonlocal done
                done += count
                bar.update(count)
                if self.verbosity >= 2:
                    self.stdout.write(f"  {label}: {done} deleted")

            return purge(progress)
