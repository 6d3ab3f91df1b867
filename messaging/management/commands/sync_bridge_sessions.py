"""Reconcile WhatsApp sessions with the bridge: run it every minute from cron.

The bridge sends no event when a session is deleted or the bridge stops; this asks
it about every session that is not disconnected and records the answers (see
`messaging.services.sessions`). Exits non-zero when the bridge could not be reached,
so cron mails the error.
"""

from django.core.management.base import BaseCommand, CommandError

from messaging.services.sessions import whatsapp_sessions_sync


class Command(BaseCommand):
    help = (
        "Ask the WhatsApp bridge about every session that is not disconnected and record "
        "its answers (sessions it no longer has become disconnected). Exits non-zero when "
        "the bridge cannot be reached."
    )

    def handle(self, *args, **options) -> None:
        report = whatsapp_sessions_sync()
        if report.unreachable:
            raise CommandError(report.summary())
        if report.failed:
            self.stderr.write(report.summary())
        elif options["verbosity"] >= 1:
            self.stdout.write(report.summary())
