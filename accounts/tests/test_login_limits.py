"""The limits that keep a login code unguessable: per code, per number, per IP."""

import threading
import uuid
from datetime import timedelta

import pytest
import redis
from django.db import connections
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts import codes, limits, services
from accounts.models import AuthCode, User
from accounts.tests.auth_helpers import (
    REQUEST_CODE_URL,
    VERIFY_URL,
    code_sent_to,
    fresh_cache,  # noqa: F401 (fixture)
    request_code,
    verify,
    wrong_code,
)
from accounts.tests.factories import AuthCodeFactory, UserFactory
from core.audit import AuditAction
from core.models import AuditLog

pytestmark = pytest.mark.usefixtures("fresh_cache")

PHONE = "+14155550123"


def _error_code(response) -> str:
    return response.json()["error"]["code"]


def test_the_numbers_keep_a_days_guessing_below_one_in_ten_thousand():
    # A number has one live code at a time, so guesses in any 24 h hit the codes
    # issued in that window plus at most one still live at its start.
    live_codes = limits.MAX_CODES_PER_DAY + 1
    guesses = live_codes * limits.MAX_ATTEMPTS_PER_CODE
    assert guesses / 10**codes.CODE_DIGITS < 1 / 10_000
    assert timedelta(minutes=5) >= limits.CODE_TTL
    assert limits.LOCK_AFTER_FAILURES > limits.MAX_ATTEMPTS_PER_CODE


@pytest.mark.django_db
def test_a_code_dies_after_five_wrong_attempts(api_client, outbox):
    request_code(api_client, PHONE)
    code = code_sent_to(outbox, PHONE)

    for attempt in range(1, limits.MAX_ATTEMPTS_PER_CODE + 1):
        response = verify(api_client, PHONE, wrong_code(code))
        assert _error_code(response) == "invalid_code"
        assert AuthCode.objects.get().attempts == attempt

    response = verify(api_client, PHONE, code)

    assert response.status_code == 400
    assert _error_code(response) == "invalid_code"
    assert not AuthToken.objects.exists()
    # A dead code is not worth counting against: the sixth try left no trace on it.
    assert AuthCode.objects.get().attempts == limits.MAX_ATTEMPTS_PER_CODE


@pytest.mark.django_db
def test_hourly_cap_on_codes_per_number(api_client, outbox):
    for _ in range(limits.MAX_CODES_PER_HOUR):
        assert request_code(api_client, PHONE).status_code == 202

    response = request_code(api_client, PHONE)

    assert response.status_code == 429
    assert _error_code(response) == "code_request_limited"
    assert len(outbox) == limits.MAX_CODES_PER_HOUR
    assert AuthCode.objects.count() == limits.MAX_CODES_PER_HOUR
    refused = AuditLog.objects.get(action=AuditAction.LOGIN_CODE_REFUSED)
    assert refused.changes == {"reason": "too_many_codes"}
    # An hour later the number may have a code again.
    AuthCode.objects.update(created_at=timezone.now() - timedelta(hours=1, seconds=1))
    assert request_code(api_client, PHONE).status_code == 202


@pytest.mark.django_db
def test_daily_cap_on_codes_per_number(api_client, outbox):
    user = UserFactory(phone_number=PHONE)
    now = timezone.now()
    issued = [
        AuthCodeFactory(user=user, created_at=now - timedelta(hours=2 + 2 * i), expires_at=now)
        for i in range(limits.MAX_CODES_PER_DAY)
    ]

    response = request_code(api_client, PHONE)

    assert response.status_code == 429
    assert _error_code(response) == "code_request_limited"
    assert outbox == []
    # Once the oldest falls out of the 24 hours, one more code may go out.
    AuthCode.objects.filter(pk=issued[-1].pk).update(
        created_at=now - timedelta(hours=24, minutes=1)
    )
    assert request_code(api_client, PHONE).status_code == 202
    assert len(outbox) == 1


def _fail_until_locked(client, outbox):
    """Two codes' worth of wrong guesses: the tenth locks the number."""
    codes_seen = []
    for _ in range(limits.LOCK_AFTER_FAILURES // limits.MAX_ATTEMPTS_PER_CODE):
        assert request_code(client, PHONE).status_code == 202
        code = code_sent_to(outbox, PHONE)
        codes_seen.append(code)
        for _ in range(limits.MAX_ATTEMPTS_PER_CODE):
            assert _error_code(verify(client, PHONE, wrong_code(code))) == "invalid_code"
    return codes_seen


@pytest.mark.django_db
def test_consecutive_failures_lock_the_number_and_tell_its_owner(api_client, outbox):
    before = timezone.now()
    last_code = _fail_until_locked(api_client, outbox)[-1]

    user = User.objects.get(phone_number=PHONE)
    assert user.login_locked_until is not None
    assert user.login_locked_until >= before + limits.LOCK_DURATION
    assert user.failed_login_attempts == 0
    notice = outbox[-1]
    assert notice.to == PHONE.lstrip("+")
    assert "too many wrong login attempts" in notice.text
    assert (
        AuditLog.objects.filter(action=AuditAction.LOGIN_LOCKED, resource_id=user.pk).count() == 1
    )

    # While locked: the right code is refused with the same generic answer...
    AuthCode.objects.filter(user=user).update(
        attempts=0, expires_at=timezone.now() + timedelta(minutes=5)
    )
    response = verify(api_client, PHONE, last_code)
    assert response.status_code == 400
    assert _error_code(response) == "invalid_code"
    # ...and no new code is sent.
    sent = len(outbox)
    response = request_code(api_client, PHONE)
    assert response.status_code == 429
    assert len(outbox) == sent

    # After the lock a fresh code works again.
    User.objects.filter(pk=user.pk).update(login_locked_until=timezone.now() - timedelta(seconds=1))
    AuthCode.objects.update(created_at=timezone.now() - timedelta(hours=2))
    assert request_code(api_client, PHONE).status_code == 202
    assert verify(api_client, PHONE, code_sent_to(outbox, PHONE)).status_code == 200


@pytest.mark.django_db
def test_locking_kills_the_live_code(api_client, outbox):
    """The attacker's current code cannot be finished off after the lock ends."""
    user = UserFactory(phone_number=PHONE, failed_login_attempts=limits.LOCK_AFTER_FAILURES - 1)
    request_code(api_client, PHONE)
    code = code_sent_to(outbox, PHONE)

    verify(api_client, PHONE, wrong_code(code))

    User.objects.filter(pk=user.pk).update(login_locked_until=None)
    assert _error_code(verify(api_client, PHONE, code)) == "invalid_code"


@pytest.mark.django_db
def test_a_success_resets_the_consecutive_failure_count(api_client, outbox):
    UserFactory(phone_number=PHONE, failed_login_attempts=limits.LOCK_AFTER_FAILURES - 2)
    request_code(api_client, PHONE)
    code = code_sent_to(outbox, PHONE)
    verify(api_client, PHONE, wrong_code(code))
    assert verify(api_client, PHONE, code).status_code == 200
    user = User.objects.get(phone_number=PHONE)
    assert user.failed_login_attempts == 0
    assert user.login_locked_until is None


@pytest.mark.django_db(transaction=True)
def test_failed_attempts_are_committed_despite_the_error_answer(outbox):
    client = APIClient()
    client.post(REQUEST_CODE_URL, {"phone_number": PHONE})  # autocommit: sent at once
    code = code_sent_to(outbox, PHONE)

    response = client.post(VERIFY_URL, {"phone_number": PHONE, "code": wrong_code(code)})

    assert response.status_code == 400
    assert AuthCode.objects.get().attempts == 1
    assert User.objects.get(phone_number=PHONE).failed_login_attempts == 1
    assert AuditLog.objects.filter(action=AuditAction.LOGIN_FAILED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_lock_notice_goes_out_after_commit(outbox):
    UserFactory(phone_number=PHONE, failed_login_attempts=limits.LOCK_AFTER_FAILURES - 1)
    services.auth_code_request(phone_number=PHONE)
    code = code_sent_to(outbox, PHONE)
    with pytest.raises(services.LoginCodeInvalid):
        services.auth_code_verify(phone_number=PHONE, code=wrong_code(code))
    assert "too many wrong login attempts" in outbox[-1].text
    assert User.objects.get(phone_number=PHONE).login_locked_until > timezone.now()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_verifies_with_the_right_code_yield_one_token(outbox):
    services.auth_code_request(phone_number=PHONE)
    code = code_sent_to(outbox, PHONE)
    workers = 20
    barrier = threading.Barrier(workers)
    statuses: list[int] = []
    lock = threading.Lock()

    def attempt():
        try:
            client = APIClient()
            barrier.wait(timeout=30)
            response = client.post(VERIFY_URL, {"phone_number": PHONE, "code": code})
            with lock:
                statuses.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [200] + [400] * (workers - 1)
    assert AuthToken.objects.count() == 1
    assert AuthCode.objects.get().used_at is not None
    assert AuditLog.objects.filter(action=AuditAction.LOGIN_SUCCEEDED).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_guesses_are_all_counted(outbox):
    """Row locks serialise the counters: no lost updates under concurrency."""
    services.auth_code_request(phone_number=PHONE)
    code = code_sent_to(outbox, PHONE)
    workers = limits.MAX_ATTEMPTS_PER_CODE + 3
    barrier = threading.Barrier(workers)

    def attempt():
        try:
            barrier.wait(timeout=30)
            APIClient().post(VERIFY_URL, {"phone_number": PHONE, "code": wrong_code(code)})
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert AuthCode.objects.get().attempts == limits.MAX_ATTEMPTS_PER_CODE
    assert User.objects.get(phone_number=PHONE).failed_login_attempts == (
        limits.MAX_ATTEMPTS_PER_CODE
    )


REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture
def redis_cache(settings):
    """The default cache on a real Redis, under a key prefix of this test's own."""
    prefix = f"h3-test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    server = redis.Redis.from_url(REDIS_URL)
    yield server
    keys = list(server.scan_iter(match=f"{prefix}:*"))
    if keys:
        server.delete(*keys)
    server.close()


def _num_proxies(settings, count: int) -> None:
    settings.NUM_PROXIES = count
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}


def _request_code_limit(settings) -> int:
    return int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth_request_code"].split("/")[0])


@pytest.mark.django_db
def test_ip_throttle_ignores_a_spoofed_forwarded_for_without_proxies(settings, redis_cache):
    _num_proxies(settings, 0)
    client = APIClient()
    limit = _request_code_limit(settings)
    # Malformed numbers are cheap: the throttle counts every request all the same.
    for i in range(limit):
        response = client.post(
            REQUEST_CODE_URL, {"phone_number": "bad"}, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}"
        )
        assert response.status_code == 400

    response = client.post(
        REQUEST_CODE_URL, {"phone_number": PHONE}, HTTP_X_FORWARDED_FOR="198.51.100.77"
    )

    assert response.status_code == 429
    assert _error_code(response) == "throttled"
    assert "message" in response.json()["error"]
    assert not User.objects.exists()
    assert any(key.startswith(b"h3-test-") for key in redis_cache.scan_iter())


@pytest.mark.django_db
def test_ip_throttle_uses_the_address_our_proxy_saw(settings, redis_cache, outbox):
    _num_proxies(settings, 1)
    client = APIClient()
    limit = _request_code_limit(settings)
    for _ in range(limit):
        response = client.post(
            REQUEST_CODE_URL, {"phone_number": "bad"}, HTTP_X_FORWARDED_FOR="203.0.113.5"
        )
        assert response.status_code == 400

    # The client prepends an address of its choice; our proxy appended the real one.
    spoofed = client.post(
        REQUEST_CODE_URL,
        {"phone_number": "bad"},
        HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.5",
    )
    assert spoofed.status_code == 429
    # A different client behind the same proxy is not affected.
    other = client.post(
        REQUEST_CODE_URL, {"phone_number": PHONE}, HTTP_X_FORWARDED_FOR="203.0.113.6"
    )
    assert other.status_code == 202
    assert AuthCode.objects.get().requested_ip == "203.0.113.6"


@pytest.mark.django_db
def test_verify_is_throttled_per_ip(settings, redis_cache):
    _num_proxies(settings, 0)
    limit = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth_verify"].split("/")[0])
    client = APIClient()
    for _ in range(limit):
        assert client.post(VERIFY_URL, {"phone_number": PHONE, "code": "000000"}).status_code == 400
    response = client.post(VERIFY_URL, {"phone_number": PHONE, "code": "000000"})
    assert response.status_code == 429
    assert _error_code(response) == "throttled"


@pytest.mark.django_db
def test_throttle_rate_follows_the_setting(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "auth_request_code": "2/hour",
        },
    }
    client = Client()
    statuses = [
        client.post(
            REQUEST_CODE_URL, {"phone_number": "x"}, content_type="application/json"
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [400, 400, 429]
