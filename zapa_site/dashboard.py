"""Figures for the admin index's dashboard, and its messages-per-day chart as SVG.

Every query is bounded and served by an index, so the page stays fast on
millions of messages:

- messages per day: a range on `message_timestamp_idx` (the last 30 days only),
  grouped by day; the finished days are cached, only today is counted each time;
- no COUNT(*) over a whole big table: the user total comes from PostgreSQL's
  statistics once the table is big (see `_table_count_sql`);
- users active in 24 h: a range on `user_last_active_idx`;
- failed webhook events: `webhook_state_idx` (state, received_at), newest 10.

Staff see only the sections their permissions allow, and a section not shown
runs no query.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.cache import cache
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from accounts.models import User
from assistant.models import Turn
from core.table_size import table_count
from llm.models import LLMConfig
from messaging.ingest.queue import Backlog, backlog
from messaging.models import Message, WebhookEvent, WhatsAppSession
from zapa_site.dashboard_assistant import AssistantFigures, assistant_figures

CHART_DAYS = 30
RECENT_FAILURES = 10
# Above this many rows (by the planner's statistics) the user total is estimated.
ESTIMATE_THRESHOLD = 100_000
PAST_DAYS_CACHE_SECONDS = 300


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int


@dataclass
class Dashboard:
    """What the current staff member may see; a missing section is None."""

    generated_at: datetime
    users_total: int | None = None
    users_total_estimated: bool = False
    users_active_24h: int | None = None
    messages_by_day: list[DayCount] | None = None
    sessions_by_status: list[tuple[str, str, int]] | None = None
    active_configs_by_provider: list[tuple[str, str, int]] | None = None
    failed_webhooks_24h: int | None = None
    failed_webhooks: list[WebhookEvent] | None = None
    webhook_backlog: Backlog | None = None
    assistant: AssistantFigures | None = None
    sections: set[str] = field(default_factory=set)

    @property
    def messages_today(self) -> int | None:
        return None if self.messages_by_day is None else self.messages_by_day[-1].count

    @property
    def messages_30_days(self) -> int | None:
        if self.messages_by_day is None:
            return None
        return sum(day.count for day in self.messages_by_day)

    @property
    def chart_svg(self) -> SafeString:
        return messages_chart_svg(self.messages_by_day or [])


def _can_view(user, model) -> bool:
    opts = model._meta
    return user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or user.has_perm(
        f"{opts.app_label}.change_{opts.model_name}"
    )


def dashboard_build(*, user, now: datetime | None = None) -> Dashboard:
    """The dashboard `user` (a staff member) may see, as of `now`."""
    now = now or timezone.now()
    dashboard = Dashboard(generated_at=now)
    if _can_view(user, User):
        dashboard.sections.add("users")
        dashboard.users_total, dashboard.users_total_estimated = _table_count(User)
        dashboard.users_active_24h = User.objects.filter(
            last_active__gte=now - timedelta(hours=24)
        ).count()
    if _can_view(user, Message):
        dashboard.sections.add("messages")
        dashboard.messages_by_day = messages_per_day(now=now)
    if _can_view(user, WhatsAppSession):
        dashboard.sections.add("sessions")
        dashboard.sessions_by_status = _by_choice(
            WhatsAppSession.objects.all(), "status", WhatsAppSession.Status
        )
    if _can_view(user, LLMConfig):
        dashboard.sections.add("llm")
        dashboard.active_configs_by_provider = _by_choice(
            LLMConfig.objects.filter(is_active=True), "provider", LLMConfig.Provider
        )
    if _can_view(user, WebhookEvent):
        dashboard.sections.add("webhooks")
        failed = WebhookEvent.objects.filter(state=WebhookEvent.State.FAILED)
        dashboard.failed_webhooks_24h = failed.filter(
            received_at__gte=now - timedelta(hours=24)
        ).count()
        dashboard.failed_webhooks = list(
            failed.order_by("-received_at", "-id").only(
                "id", "event_type", "session_key", "received_at", "error", "attempts"
            )[:RECENT_FAILURES]
        )
        dashboard.webhook_backlog = backlog(now=now)
    if _can_view(user, Turn):
        dashboard.sections.add("assistant")
        dashboard.assistant = assistant_figures(now=now)
    return dashboard


def _by_choice(queryset, field_name: str, choices) -> list[tuple[str, str, int]]:
    """(value, label, count) for every choice, zeros included, in the choices' order."""
    counts = dict(
        queryset.order_by()
        .values_list(field_name)
        .annotate(n=Count("*"))
        .values_list(field_name, "n")
    )
    return [(value, label, counts.get(value, 0)) for value, label in choices.choices]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=timezone.get_current_timezone())


def _daily_counts(start: datetime, end: datetime) -> dict[date, int]:
    rows = (
        Message.objects.filter(timestamp__gte=start, timestamp__lt=end)
        .annotate(day=TruncDate("timestamp"))
        .order_by()
        .values("day")
        .annotate(n=Count("*"))
        .values_list("day", "n")
    )
    return dict(rows)


def messages_per_day(*, now: datetime, days: int = CHART_DAYS) -> list[DayCount]:
    """Messages per calendar day (site time zone) for the `days` days up to today.

    Past days are cached for a few minutes (they barely change); today is
    counted on every call.
    """
    today = timezone.localdate(now)
    first = today - timedelta(days=days - 1)
    cache_key = f"zapa:dashboard:messages-per-day:{first.isoformat()}:{today.isoformat()}"
    past = cache.get(cache_key)
    if past is None:
        past = {
            day.isoformat(): count
            for day, count in _daily_counts(_day_start(first), _day_start(today)).items()
        }
        cache.set(cache_key, past, PAST_DAYS_CACHE_SECONDS)
    today_count = (
        Message.objects.filter(
            timestamp__gte=_day_start(today), timestamp__lt=_day_start(today + timedelta(1))
        )
        .order_by()
        .count()
    )
    series = [
        DayCount(day, past.get(day.isoformat(), 0))
        for day in (first + timedelta(n) for n in range(days - 1))
    ]
    series.append(DayCount(today, today_count))
    return series


def _table_count(model) -> tuple[int, bool]:
    """(rows, estimated) of `model`'s table."""
    return table_count(model, threshold=ESTIMATE_THRESHOLD)


# ---------------------------------------------------------------------------
# The chart

CHART_WIDTH = 640
CHART_HEIGHT = 220
_PLOT_LEFT = 44
_PLOT_RIGHT = 8
_PLOT_TOP = 12
_PLOT_BOTTOM = 28


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2 or 5 times a power of ten that is ≥ value (for the y axis' top)."""
    if value <= 1:
        return 1
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10


def messages_chart_svg(series: list[DayCount]) -> SafeString:
    """A bar chart of `series` as inline SVG: no script, no external resource.

    Colours come from the admin's CSS variables (via classes styled in the
    template), so it follows light and dark mode. Each bar has a <title> (a
    tooltip and a label for screen readers); the template also renders the
    numbers as a table.
    """
    if not series:
        return mark_safe("")
    top = _nice_ceiling(max(day.count for day in series))
    plot_width = CHART_WIDTH - _PLOT_LEFT - _PLOT_RIGHT
    plot_height = CHART_HEIGHT - _PLOT_TOP - _PLOT_BOTTOM
    slot = plot_width / len(series)
    bar_width = max(slot * 0.7, 1)
    baseline = _PLOT_TOP + plot_height

    bars = []
    for index, day in enumerate(series):
        height = plot_height * day.count / top
        x = _PLOT_LEFT + index * slot + (slot - bar_width) / 2
        noun = "message" if day.count == 1 else "messages"
        bars.append(
            (
                f"{x:.1f}",
                f"{baseline - height:.1f}",
                f"{bar_width:.1f}",
                f"{height:.1f}",
                f"{day.day:%a %d %b}: {day.count} {noun}",
            )
        )
    bars_svg = format_html_join(
        "",
        '<rect class="zapa-chart-bar" x="{}" y="{}" width="{}" height="{}">'
        "<title>{}</title></rect>",
        bars,
    )

    # Grid lines and labels at 0, top and (when it is a whole number) top/2.
    fractions = (0, 0.5, 1) if top % 2 == 0 else (0, 1)
    grid = format_html_join(
        "",
        '<line class="zapa-chart-grid" x1="{}" x2="{}" y1="{}" y2="{}"></line>'
        '<text class="zapa-chart-label" x="{}" y="{}" text-anchor="end">{}</text>',
        (
            (
                _PLOT_LEFT,
                CHART_WIDTH - _PLOT_RIGHT,
                f"{baseline - plot_height * fraction:.1f}",
                f"{baseline - plot_height * fraction:.1f}",
                _PLOT_LEFT - 6,
                f"{baseline - plot_height * fraction + 4:.1f}",
                _short_number(top * fraction),
            )
            for fraction in fractions
        ),
    )
    # A date under today's bar and every 7th day before it.
    label_days = range(len(series) - 1, -1, -7)
    x_labels = format_html_join(
        "",
        '<text class="zapa-chart-label" x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (
                f"{_PLOT_LEFT + index * slot + slot / 2:.1f}",
                CHART_HEIGHT - 8,
                f"{series[index].day:%d %b}",
            )
            for index in label_days
        ),
    )
    total = sum(day.count for day in series)
    return format_html(
        '<svg class="zapa-chart" viewBox="0 0 {} {}" role="img" '
        'aria-labelledby="zapa-chart-title zapa-chart-desc">'
        '<title id="zapa-chart-title">Messages per day, last {} days</title>'
        '<desc id="zapa-chart-desc">{} messages from {} to {}; the busiest day had {}.</desc>'
        "{}{}{}</svg>",
        CHART_WIDTH,
        CHART_HEIGHT,
        len(series),
        total,
        f"{series[0].day:%d %b %Y}",
        f"{series[-1].day:%d %b %Y}",
        max(day.count for day in series),
        grid,
        bars_svg,
        x_labels,
    )


def _short_number(value: float) -> str:
    value = round(value)
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return str(value)
