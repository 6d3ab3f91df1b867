"""The dashboard on the admin index: figures, the SVG chart, permissions, query counts
and (on PostgreSQL) the index the messages-per-day query runs on."""

import re
from datetime import UTC, datetime, timedelta

import factory
import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import UserFactory
from llm.tests.factories import LLMConfigFactory
from messaging.models import Message, WebhookEvent, WhatsAppSession
from messaging.tests.factories import MessageFactory, WebhookEventFactory, WhatsAppSessionFactory
from zapa_site import dashboard

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 15, 14, 30, tzinfo=UTC)
BAR = re.compile(r'<rect class="zapa-chart-bar"[^>]*><title>([^<]*)</title></rect>')


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def index(client):
    response = client.get("/admin/")
    assert response.status_code == 200
    return response.text


def queries_of_index(client) -> int:
    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        index(client)
    return len(ctx.captured_queries)


def make_data(now: datetime) -> None:
    """Users, messages spread over 40 days, sessions, configs and webhook events."""
    owner = UserFactory(last_active=now - timedelta(hours=1))
    other = UserFactory(last_active=now - timedelta(hours=30))
    session = WhatsAppSessionFactory(user=owner)
    WhatsAppSessionFactory(user=other, status=WhatsAppSession.Status.QR_PENDING, connected_at=None)
    times = [now - timedelta(minutes=5)] * 3  # today
    times += [now - timedelta(days=1)] * 2  # yesterday
    times += [now - timedelta(days=29)]  # the first day of the chart
    times += [now - timedelta(days=35)] * 4  # before the chart
    times += [now + timedelta(days=1)]  # tomorrow (a clock ahead): not today
    MessageFactory.create_batch(len(times), session=session, timestamp=factory.Iterator(times))
    LLMConfigFactory(user=owner, provider="anthropic", is_active=True)
    LLMConfigFactory(user=other, provider="openai", is_active=True)
    LLMConfigFactory(user=owner, provider="openai", is_active=False)
    WebhookEventFactory(state=WebhookEvent.State.PROCESSED, received_at=now)
    for hours in (1, 2, 50):
        WebhookEventFactory(
            state=WebhookEvent.State.FAILED,
            received_at=now - timedelta(hours=hours),
            error=f"KeyError: <data> {hours}h ago",
        )


# --- figures --------------------------------------------------------------------


def test_figures_with_data(staff_user):
    make_data(NOW)

    board = dashboard.dashboard_build(user=staff_user, now=NOW)

    assert board.users_total == 3  # the two above and the staff member
    assert not board.users_total_estimated
    assert board.users_active_24h == 1
    assert len(board.messages_by_day) == 30
    assert board.messages_by_day[-1] == dashboard.DayCount(NOW.date(), 3)
    assert board.messages_by_day[-2].count == 2
    assert board.messages_by_day[0] == dashboard.DayCount(NOW.date() - timedelta(days=29), 1)
    assert board.messages_today == 3
    assert board.messages_30_days == 6
    assert ("qr_pending", "Waiting for QR scan", 1) in board.sessions_by_status
    assert ("connected", "Connected", 1) in board.sessions_by_status
    assert ("error", "Error", 0) in board.sessions_by_status
    assert board.active_configs_by_provider == [
        ("openai", "OpenAI", 1),
        ("anthropic", "Anthropic", 1),
        ("google", "Google", 0),
    ]
    assert board.failed_webhooks_24h == 2
    assert [event.error for event in board.failed_webhooks] == [
        "KeyError: <data> 1h ago",
        "KeyError: <data> 2h ago",
        "KeyError: <data> 50h ago",
    ]


def test_the_webhook_backlog_counts_events_waiting_to_be_ingested(staff_user, client):
    for minutes_ago in (1, 10):
        WebhookEvent.objects.create(
            event_type="message.received",
            session_key="main",
            payload={},
            received_at=NOW - timedelta(minutes=minutes_ago),
        )
    WebhookEvent.objects.create(event_type="message.received", state="processed", payload={})

    board = dashboard.dashboard_build(user=staff_user, now=NOW)

    assert board.webhook_backlog.waiting == 2
    assert board.webhook_backlog.oldest_seconds == 600
    client.force_login(staff_user)
    page = client.get("/admin/").content.decode()
    assert 'id="zapa-webhook-backlog"' in page and "the oldest" in page


def test_figures_of_an_empty_database(staff_user):
    board = dashboard.dashboard_build(user=staff_user, now=NOW)
    assert board.users_total == 1
    assert board.messages_today == 0
    assert board.messages_30_days == 0
    assert all(count == 0 for _, _, count in board.sessions_by_status)
    assert board.failed_webhooks == []


def test_past_days_are_cached_and_today_is_always_fresh(staff_user):
    session = WhatsAppSessionFactory()
    MessageFactory(session=session, timestamp=NOW - timedelta(days=2))
    first = dashboard.messages_per_day(now=NOW)
    MessageFactory(session=session, timestamp=NOW - timedelta(days=2))
    MessageFactory(session=session, timestamp=NOW - timedelta(minutes=1))

    second = dashboard.messages_per_day(now=NOW)

    assert first[-3].count == second[-3].count == 1  # from the cache
    assert second[-1].count == 1  # counted again
    cache.clear()
    assert dashboard.messages_per_day(now=NOW)[-3].count == 2


# --- the page -------------------------------------------------------------------


def test_index_shows_the_dashboard_and_its_chart(admin_client_logged_in):
    make_data(timezone.now())

    html = index(admin_client_logged_in)

    assert 'aria-labelledby="zapa-dashboard-title"' in html
    assert re.search(r'id="zapa-messages-today".*?zapa-card-value">3<', html, re.S)
    assert re.search(r'id="zapa-users".*?zapa-card-value">3<', html, re.S)
    assert "1 active in the last 24 h" in html
    svg = re.search(r"<svg class=\"zapa-chart\".*?</svg>", html, re.S).group(0)
    assert 'role="img"' in svg
    assert '<title id="zapa-chart-title">Messages per day, last 30 days</title>' in svg
    titles = BAR.findall(svg)
    assert len(titles) == 30
    assert titles[-1].endswith(": 3 messages")
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no CDN
    assert "KeyError: &lt;data&gt; 1h ago" in html  # escaped
    assert "?state__exact=failed" in html
    assert "?status__exact=qr_pending" in html
    # Django's own index is still there.
    assert 'id="recent-actions-module"' in html
    assert "app-messaging module" in html


def test_index_of_an_empty_database(admin_client_logged_in):
    html = index(admin_client_logged_in)
    assert re.search(r'id="zapa-messages-today".*?zapa-card-value">0<', html, re.S)
    assert len(BAR.findall(html)) == 30
    assert "No failed webhook events." in html


def test_dashboard_query_count_is_constant(admin_client_logged_in):
    empty = queries_of_index(admin_client_logged_in)
    make_data(timezone.now())
    MessageFactory.create_batch(40)
    WebhookEventFactory.create_batch(
        15, state=WebhookEvent.State.FAILED, received_at=factory.LazyFunction(timezone.now)
    )
    assert queries_of_index(admin_client_logged_in) == empty


def test_no_count_over_the_whole_message_table(admin_client_logged_in):
    make_data(timezone.now())
    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        index(admin_client_logged_in)
    message_queries = [q["sql"] for q in ctx.captured_queries if "messaging_message" in q["sql"]]
    assert len(message_queries) == 2  # past days (then cached) and today
    for sql in message_queries:
        assert '"messaging_message"."timestamp" >=' in sql
        assert '"messaging_message"."timestamp" <' in sql


def test_staff_see_only_what_they_may_view(client):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_message"))
    client.force_login(viewer)
    make_data(timezone.now())

    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        html = index(client)

    assert 'id="zapa-messages-chart"' in html
    for hidden in ("zapa-users", "zapa-sessions", "zapa-llm-configs", "zapa-webhook-failures"):
        assert f'id="{hidden}"' not in html
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    for table in ("llm_llmconfig", "messaging_webhookevent", "messaging_whatsappsession"):
        assert table not in sql


# --- the chart ------------------------------------------------------------------


def test_chart_bars_scale_to_a_round_top():
    days = [
        dashboard.DayCount(NOW.date() - timedelta(days=2 - n), c) for n, c in enumerate([0, 7, 3])
    ]
    svg = str(dashboard.messages_chart_svg(days))
    heights = [float(h) for h in re.findall(r'class="zapa-chart-bar"[^>]*height="([\d.]+)"', svg)]
    assert heights[0] == 0
    assert heights[1] / heights[2] == pytest.approx(7 / 3)
    assert ">10<" in svg  # the axis tops out at 10, not 7
    assert "1 message<" not in svg
    assert ": 7 messages<" in svg


@pytest.mark.parametrize(
    ("value", "top"), [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (11, 20), (4999, 5000)]
)
def test_nice_ceiling(value, top):
    assert dashboard._nice_ceiling(value) == top


def test_chart_of_nothing_is_empty():
    assert dashboard.messages_chart_svg([]) == ""


# --- PostgreSQL: the indexes ------------------------------------------------------


@pytest.mark.postgres
def test_messages_per_day_runs_on_the_timestamp_index(staff_user):
    """With a year of messages and fresh statistics, the 30-day range uses the index."""
    session = WhatsAppSessionFactory()
    start = NOW - timedelta(days=365)
    rows = MessageFactory.build_batch(
        20_000,
        session=session,
        user=session.user,
        timestamp=factory.Iterator(start + timedelta(minutes=26 * n) for n in range(20_000)),
    )
    Message.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_message")

    with CaptureQueriesContext(connection) as ctx:
        series = dashboard.messages_per_day(now=NOW)
    assert sum(day.count for day in series) > 0

    for query in ctx.captured_queries:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + query["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "message_timestamp_idx" in plan, plan
        assert "Seq Scan on messaging_message" not in plan, plan


@pytest.mark.postgres
def test_user_total_is_estimated_once_the_table_is_big(staff_user, monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_user")
    monkeypatch.setattr(dashboard, "ESTIMATE_THRESHOLD", -1)
    count, estimated = dashboard._table_count(type(staff_user))
    assert estimated
    assert count >= 0
    monkeypatch.setattr(dashboard, "ESTIMATE_THRESHOLD", 10**9)
    assert dashboard._table_count(type(staff_user)) == (1, False)
