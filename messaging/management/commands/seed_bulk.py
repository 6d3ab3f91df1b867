import json
import sys
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from messaging.seeding.seeder import BulkSeeder, SeedPlan


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


def _date(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


class Command(BaseCommand):
    help = (
        "Generate realistic users, WhatsApp sessions and message history in bulk "
        "(PostgreSQL COPY; bulk_create elsewhere). The same --seed gives the same rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=_positive, required=True, help="Users to create.")
        parser.add_argument(
            "--messages", type=_non_negative, required=True, help="Messages to create."
        )
        parser.add_argument("--seed", type=int, default=0, help="Random seed (default 0).")
        parser.add_argument(
            "--sessions-per-user",
            type=_positive,
            default=1,
            help="Each user's own WhatsApp numbers, besides the shared assistant number.",
        )
        parser.add_argument(
            "--days", type=_positive, default=180, help="Spread messages over this many days."
        )
        parser.add_argument(
            "--end",
            type=_date,
            default=None,
            help="Newest message time, ISO 8601 (default: start of today, UTC).",
        )
        parser.add_argument(
            "--chunk-size",
            type=_positive,
            default=100_000,
            help="Messages written per transaction.",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the summary as JSON on stdout."
        )

    def handle(self, *args, **options) -> None:
        plan = SeedPlan(
            users=options["users"],
            messages=options["messages"],
            seed=options["seed"],
            sessions_per_user=options["sessions_per_user"],
            days=options["days"],
            end=options["end"],
            chunk_size=options["chunk_size"],
        )
        bar = tqdm(
            total=plan.messages,
            unit="msg",
            unit_scale=True,
            desc="messages",
            file=sys.stderr,
            disable=not sys.stderr.isatty(),
        )
        try:
            result = BulkSeeder(plan, progress=bar.update).run()
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        summary = {
            "users": result.users,
            "sessions": result.sessions,
            "messages": result.messages,
            "seconds": round(result.seconds, 3),
            "message_seconds": round(result.message_seconds, 3),
            "messages_per_second": round(result.messages_per_second, 1),
            "first_message_id": result.first_message_id,
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.users} users, {result.sessions} sessions and "
                f"{result.messages} messages in {result.seconds:.1f}s "
                f"({result.messages_per_second:,.0f} messages/s)."
            )
        )
