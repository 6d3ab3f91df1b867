"""The assistant's figures on the admin dashboard: the last 24 hours of turns."""

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, F, Sum

from assistant.models import Turn

LATENCY_SAMPLE = 5000  # the newest replies of the day: bounded work at any volume


@dataclass
class AssistantFigures:
    replies: int = 0
    failures: int = 0
    skipped: int = 0
    latency_p50: float | None = None  # seconds from the message stored to the reply sent
    latency_p95: float | None = None
    tokens_by_provider: list[tuple[str, int]] = field(default_factory=list)


def assistant_figures(*, now: datetime) -> AssistantFigures:
    """Two queries: counts and tokens by state and provider, and a latency sample."""
    day = Turn.objects.filter(finished_at__gte=now - timedelta(hours=24))
    figures = AssistantFigures()
    tokens: dict[str, int] = {}
    for row in day.values("state", "provider").annotate(
        n=Count("id"), tokens=Sum(F("input_tokens") + F("output_tokens"))
    ):
        if row["state"] == Turn.State.REPLIED:
            figures.replies += row["n"]
        elif row["state"] == Turn.State.FAILED:
            figures.failures += row["n"]
        else:
            figures.skipped += row["n"]
        if row["provider"]:
            tokens[row["provider"]] = tokens.get(row["provider"], 0) + (row["tokens"] or 0)
    figures.tokens_by_provider = sorted(tokens.items())
    latencies = sorted(
        (finished - created).total_seconds()
        for finished, created in day.filter(state=Turn.State.REPLIED)
        .order_by("-finished_at")
        .values_list("finished_at", "created_at")[:LATENCY_SAMPLE]
    )
    if latencies:
        figures.latency_p50 = round(statistics.median(latencies), 2)
        figures.latency_p95 = round(
            latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))], 2
        )
    return figures
