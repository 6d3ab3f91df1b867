"""Process stored bridge webhook events again: failed, deferred, or interrupted ones.

Processing is idempotent (a message is stored once per session and WhatsApp id,
statuses only move forward), so running this twice, or while the webhook is
receiving the same events again, is safe. Deferred statuses whose message has not
come within a day are then given up (marked ignored).
"""

from collections import Counter
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from messaging.ingest.receive import events_reprocess
from messaging.ingest.store import deferred_expire
from messaging.models import WebhookEvent

CHUNK_SIZE = 500
STATES = ("failed", "deferred", "received")


class Command(BaseCommand):
    help = (
        "Re-process stored webhook events. By default: failed ones, deferred statuses "
        "(applied if their message has arrived since), and events left 'received' for "
        "longer than --min-age seconds (a process died while handling them)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--state",
            action="append",
            choices=STATES,
            help="Only events in this state (repeatable). Default: all three.",
        )
        parser.add_argument(
            "--ids",
            nargs="+",
            type=int,
            help="Only these event ids (any state but ignored and rejected).",
        )
        parser.add_argument("--limit", type=int, help="At most this many events (oldest first).")
        parser.add_argument(
            "--min-age",
            type=int,
            default=300,
            help="Seconds an event must have been 'received' before it counts as "
            "interrupted (default 300).",
        )

    def handle(self, *args, state=None, ids=None, limit=None, min_age=300, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        if min_age < 0:
            raise CommandError("--min-age must not be negative.")
        states = set(state or STATES)
        selection = WebhookEvent.objects.exclude(
            state__in=[WebhookEvent.State.IGNORED, WebhookEvent.State.REJECTED]
        )
        if ids:
            selection = selection.filter(pk__in=ids)
        else:
            condition = Q(state__in=states - {"received"})
            if "received" in states:
                stale_before = timezone.now() - timedelta(seconds=min_age)
                condition |= Q(state="received", received_at__lte=stale_before)
            selection = selection.filter(condition)
        event_ids = list(selection.order_by("received_at", "id").values_list("pk", flat=True))
        if limit:
            event_ids = event_ids[:limit]

        before: Counter = Counter()
        after: Counter = Counter()
        for start in range(0, len(event_ids), CHUNK_SIZE):
            chunk = list(
                WebhookEvent.objects.filter(pk__in=event_ids[start : start + CHUNK_SIZE]).order_by(
                    "received_at", "id"
                )
            )
            before.update(event.state for event in chunk)
            for event in events_reprocess(events=chunk):
                after[event.state] += 1

        expired = deferred_expire() if not ids else 0
        total = len(event_ids)
        summary = ", ".join(f"{after[name]} {name}" for name in sorted(after)) or "nothing to do"
        was = ", ".join(f"{before[name]} {name}" for name in sorted(before))
        self.stdout.write(
            f"Re-processed {total} webhook event{'s' if total != 1 else ''}"
            + (f" (were: {was})" if was else "")
            + f": {summary}."
            + (
                f" {expired} deferred status{'es' if expired != 1 else ''} waited too long "
                "for their message and were marked ignored."
                if expired
                else ""
            )
        )
