"""The webhook's per-IP flood guard: a counter per window, the same cost at any rate."""

import uuid

import pytest
import redis
from django.core.cache import cache

from messaging.api.webhook_views import WebhookRateThrottle
from messaging.models import WebhookEvent
from messaging.tests import bridge_payloads as bp

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture
def webhook_rate(settings):
    def set_rate(rate: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                "webhook": rate,
            },
        }

    return set_rate


@pytest.fixture
def frozen_time(monkeypatch):
    """The throttle's clock, set by the test (seconds since the epoch)."""
    clock = {"now": 1_800_000_000.0}  # the start of a 60 s window
    monkeypatch.setattr(WebhookRateThrottle, "timer", lambda self: clock["now"])
    return clock


@pytest.fixture
def redis_cache(settings):
    """The default cache on the real Redis, under a key prefix of this test's own."""
    prefix = f"h10-test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    server = redis.Redis.from_url(REDIS_URL)
    yield server, prefix
    keys = list(server.scan_iter(match=f"{prefix}:*"))
    if keys:
        server.delete(*keys)
    server.close()


def _deliver(client, address="203.0.113.10"):
    return client.post(
        bp.webhook_path(),
        data=b'{"eventType": "presence.update", "sessionId": "main", "data": {}}',
        content_type="application/json",
        REMOTE_ADDR=address,
    )


def test_deliveries_over_the_rate_get_429_and_are_not_stored(client, webhook_rate, frozen_time):
    webhook_rate("3/minute")
    frozen_time["now"] += 20  # 40 s left in this window

    statuses = [_deliver(client).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    response = _deliver(client)
    assert response.json()["error"]["code"] == "throttled"
    assert response["Retry-After"] == "40"
    assert WebhookEvent.objects.count() == 3


def test_each_address_has_its_own_count(client, webhook_rate, frozen_time):
    webhook_rate("2/minute")

    first = [_deliver(client, "203.0.113.10").status_code for _ in range(3)]
    other = [_deliver(client, "203.0.113.11").status_code for _ in range(2)]

    assert first == [200, 200, 429]
    assert other == [200, 200]


def test_a_new_window_starts_a_new_count(client, webhook_rate, frozen_time):
    webhook_rate("2/minute")
    assert [_deliver(client).status_code for _ in range(3)] == [200, 200, 429]

    frozen_time["now"] += 60

    assert [_deliver(client).status_code for _ in range(3)] == [200, 200, 429]


def test_the_count_is_one_number_whatever_the_rate(client, webhook_rate, frozen_time):
    """DRF's throttles cache a list of every request time; this one keeps a counter."""
    webhook_rate("100000/minute")

    for _ in range(25):
        assert _deliver(client).status_code == 200

    window = int(frozen_time["now"] // 60)
    assert cache.get(f"throttle_webhook_203.0.113.10:{window}") == 25


def test_counts_in_redis_shared_by_every_process(client, webhook_rate, frozen_time, redis_cache):
    server, prefix = redis_cache
    webhook_rate("2/minute")

    assert [_deliver(client).status_code for _ in range(3)] == [200, 200, 429]

    window = int(frozen_time["now"] // 60)
    key = f"{prefix}:1:throttle_webhook_203.0.113.10:{window}"
    assert int(server.get(key)) == 3
    assert 0 < server.ttl(key) <= 61


def test_no_rate_means_no_limit(client, webhook_rate, frozen_time):
    webhook_rate(None)

    assert {_deliver(client).status_code for _ in range(5)} == {200}
