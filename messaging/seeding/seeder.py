"""One seeding run: the plan, its people, then its messages at the database's speed."""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction

from messaging.seeding.columns import CHUNK_SIZE
from messaging.seeding.people import create_people
from messaging.seeding.rows import message_rows
from messaging.seeding.writers import reserve_message_ids, write_rows


@dataclass(frozen=True)
class SeedPlan:
    users: int
    messages: int
    seed: int = 0
    sessions_per_user: int = 1
    days: int = 180
    # The newest timestamp; defaults to the start of the current UTC day, so a
    # seed gives the same rows all day long.
    end: datetime | None = None
    chunk_size: int = CHUNK_SIZE


@dataclass
class SeedResult:
    users: int = 0
    sessions: int = 0
    messages: int = 0
    seconds: float = 0.0
    message_seconds: float = 0.0
    first_message_id: int | None = None
    stats: dict = field(default_factory=dict)

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.message_seconds if self.message_seconds else 0.0


class BulkSeeder:
    """Generates one plan's rows and writes them with the fastest path of the database."""

    def __init__(self, plan: SeedPlan, *, progress: Callable[[int], None] | None = None):
        if plan.users < 1 or plan.messages < 0 or plan.sessions_per_user < 1 or plan.days < 1:
            raise ValueError("users, sessions per user and days must be at least 1")
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.progress = progress or (lambda n: None)
        end = plan.end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.end = end.astimezone(UTC)
        self.start = self.end - timedelta(days=plan.days)

    def run(self) -> SeedResult:
        plan = self.plan
        result = SeedResult()
        started = time.perf_counter()
        with transaction.atomic():
            people = create_people(
                self.rng,
                users=plan.users,
                sessions_per_user=plan.sessions_per_user,
                start=self.start,
                end=self.end,
            )
        result.users, result.sessions = people.users, people.sessions
        messages_started = time.perf_counter()
        if plan.messages:
            first_id = reserve_message_ids(plan.messages)
            result.first_message_id = first_id
            rows = message_rows(
                self.rng,
                people.chats,
                people.chat_weights,
                total=plan.messages,
                start=self.start,
                end=self.end,
                first_id=first_id,
            )
            write_rows(rows, chunk_size=plan.chunk_size, progress=self.progress)
        result.messages = plan.messages
        finished = time.perf_counter()
        result.message_seconds = finished - messages_started
        result.seconds = finished - started
        return result
