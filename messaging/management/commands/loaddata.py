"""Django's loaddata, skipping rows of the tables the database derives from the messages.

Dumps taken before dumpdata left ChatSummary and MessageCount out still carry them; the
triggers on messaging_message rebuild those rows as the messages load, so loading the
dumped ones as well would collide with them.
"""

from django.core.management.commands import loaddata

from messaging.models import DERIVED_MODELS


class Command(loaddata.Command):
    def handle(self, *fixture_labels, **options):
        options["exclude"] = [*(options.get("exclude") or []), *DERIVED_MODELS]
        return super().handle(*fixture_labels, **options)
