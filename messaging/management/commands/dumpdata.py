"""Django's dumpdata without the tables the database derives from the messages.

ChatSummary and MessageCount are kept by triggers on messaging_message: loading the
dumped messages rebuilds them, so a dump carrying them too could not be loaded (each
summary row would already exist). Naming one explicitly still dumps it.
"""

from django.core.management.commands import dumpdata

from messaging.models import DERIVED_MODELS


class Command(dumpdata.Command):
    def handle(self, *app_labels, **options):
        named = {label.lower() for label in app_labels}
        derived = [label for label in DERIVED_MODELS if label.lower() not in named]
        options["exclude"] = [*(options.get("exclude") or []), *derived]
        return super().handle(*app_labels, **options)
