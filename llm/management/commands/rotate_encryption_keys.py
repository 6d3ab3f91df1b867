from django.core.management.base import BaseCommand, CommandError

from llm import crypto
from llm.services import KeyRotationIncomplete, llm_keys_rotation_run


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored LLM API key under the first key of FIELD_ENCRYPTION_KEYS. "
        "Put the new key first, keep the old ones after it, run this, then remove the old keys."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Only count what would be re-encrypted; write nothing.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Rows re-encrypted per transaction (default 500).",
        )

    def handle(self, *args, dry_run: bool, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        primary_id = crypto.key_ring()[0][0]
        result = llm_keys_rotation_run(batch_size=batch_size, dry_run=dry_run)
        verb = "Would re-encrypt" if dry_run else "Re-encrypted"
        self.stdout.write(
            f"{verb} {result.rotated} of {result.total} keys under key {primary_id} "
            f"({result.already_current} already under it, "
            f"{len(result.undecryptable_ids)} undecryptable)."
            + (" Dry run: nothing was written." if dry_run else "")
        )
        if result.undecryptable_ids:
            raise CommandError(str(KeyRotationIncomplete(result)))
