"""POST /api/v1/llm/configs/{id}/check/ against a fake provider over real HTTP."""

import logging
import time

import pytest
from cryptography.fernet import Fernet
from django.core.cache import cache

from core.models import AuditLog
from core.testing.ports import unused_port_url
from llm.models import ActionLog
from llm.tests.factories import LLMConfigFactory
from llm.tests.fake_provider import (
    MODELS,
    FakeProviderServer,
    ResponseRecorder,
    fake_key,
    leaked_keys,
)

PROVIDERS = ["openai", "anthropic", "google"]
DEFAULT_MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-sonnet-4-20250514",
    "google": "gemini-2.5-flash",
}


@pytest.fixture(autouse=True)
def no_key_anywhere(auth_client, api_client, caplog):
    """No response, log record or ActionLog row of any test here may hold a key."""
    cache.clear()  # the check endpoint is throttled per user
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "llm", "django.request"):
        caplog.set_level(logging.DEBUG, logger=name)
    recorder = ResponseRecorder(auth_client)
    anonymous = ResponseRecorder(api_client)
    yield recorder
    recorder.bodies += anonymous.bodies
    recorder.assert_no_key_leaked()
    assert not leaked_keys(caplog.text), "an API key leaked into the logs"
    rows = list(
        ActionLog.objects.values_list("request_summary", "response_summary", "error_message")
    )
    assert not leaked_keys(str(rows)), "an API key leaked into an ActionLog row"
    assert not leaked_keys(str(list(AuditLog.objects.values_list("changes", flat=True))))


@pytest.fixture
def fake(settings):
    with FakeProviderServer() as server:
        settings.LLM_PROVIDER_BASE_URLS = server.base_urls()
        settings.LLM_PROVIDER_TIMEOUT = 5.0
        yield server


def make_config(user, provider, **kwargs):
    kwargs.setdefault("api_key", fake_key(provider))
    kwargs.setdefault("model_settings", {"model": DEFAULT_MODELS[provider]})
    return LLMConfigFactory(user=user, provider=provider, **kwargs)


def check(client, config):
    return client.post(f"/api/v1/llm/configs/{config.pk}/check/")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_valid_key_lists_the_models(auth_client, fake, caplog, provider):
    key = fake_key(provider)
    fake.valid_keys.add(key)
    config = make_config(auth_client.user, provider, api_key=key)

    response = check(auth_client, config)

    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["valid"] is True
    assert data["outcome"] == "valid"
    assert data["provider"] == provider
    assert data["models_available"] == len(MODELS[provider])
    assert data["more_available"] is False
    assert data["configured_model_listed"] is (DEFAULT_MODELS[provider] in MODELS[provider])
    assert data["execution_time_ms"] >= 0

    log = ActionLog.objects.get(pk=data["action_log_id"])
    assert (log.user, log.config, log.action, log.provider) == (
        auth_client.user,
        config,
        "check_key",
        provider,
    )
    assert log.status == ActionLog.Status.SUCCESS
    assert log.execution_time_ms is not None and log.execution_time_ms >= 0
    assert log.response_summary["models_available"] == len(MODELS[provider])
    assert log.request_summary["api_key_last4"] == key[-4:]
    assert log.error_message == ""
    assert AuditLog.objects.filter(action="llm_key_checked", resource_id=str(config.pk)).exists()
    # The logs were captured (so the leak check on them means something).
    assert f"LLM key check {provider}: valid" in caplog.text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_key_travels_in_a_header_never_in_the_url(auth_client, fake, provider):
    key = fake_key(provider)
    fake.valid_keys.add(key)
    config = make_config(auth_client.user, provider, api_key=key)

    assert check(auth_client, config).status_code == 200

    [request] = fake.requests
    assert key not in request.path and key not in str(request.query)
    expected_header = {
        "openai": ("authorization", f"Bearer {key}"),
        "anthropic": ("x-api-key", key),
        "google": ("x-goog-api-key", key),
    }[provider]
    assert request.headers[expected_header[0]] == expected_header[1]
    if provider == "anthropic":
        assert request.headers["anthropic-version"] == "2023-06-01"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_rejected_key_is_422_with_a_clear_message(auth_client, fake, provider):
    config = make_config(auth_client.user, provider)  # not in fake.valid_keys

    response = check(auth_client, config)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "key_rejected"
    assert error["message"] == "The provider rejected this API key."
    assert error["details"]["outcome"] == "rejected"
    assert error["details"]["provider_status"] == (400 if provider == "google" else 401)
    # The fake echoes the key in its error text; what reaches the client is scrubbed.
    assert error["details"]["provider_message"]
    log = ActionLog.objects.get(pk=error["details"]["action_log_id"])
    assert log.status == ActionLog.Status.FAILURE
    assert log.error_message == "The provider rejected this API key."
    assert log.execution_time_ms is not None


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("mode", ["error", "garbage"])
def test_a_failing_provider_is_502(auth_client, fake, provider, mode):
    fake.mode = mode
    config = make_config(auth_client.user, provider)

    response = check(auth_client, config)

    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "provider_error"
    assert ("HTTP 500" in error["message"]) is (mode == "error")
    log = ActionLog.objects.get(pk=error["details"]["action_log_id"])
    assert log.status == ActionLog.Status.FAILURE
    assert log.error_message == error["message"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_slow_provider_is_504(auth_client, fake, settings, provider):
    fake.mode, fake.delay = "slow", 3.0
    settings.LLM_PROVIDER_TIMEOUT = 0.3
    config = make_config(auth_client.user, provider)

    started = time.monotonic()
    response = check(auth_client, config)

    assert time.monotonic() - started < 2.5
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "provider_timeout"
    assert "0.3s" in error["message"]
    log = ActionLog.objects.get(pk=error["details"]["action_log_id"])
    assert log.status == ActionLog.Status.TIMEOUT
    assert log.execution_time_ms >= 250


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_unreachable_provider_is_502(auth_client, settings, provider):
    settings.LLM_PROVIDER_BASE_URLS = {p: f"{unused_port_url()}/v1" for p in PROVIDERS}
    config = make_config(auth_client.user, provider)

    response = check(auth_client, config)

    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "provider_error"
    assert "Cannot reach" in error["message"]
    assert ActionLog.objects.get(pk=error["details"]["action_log_id"]).status == "failure"


@pytest.mark.parametrize(
    "base_urls",
    [
        {"openai": "ftp://127.0.0.1/v1"},
        {"openai": "http://[not-a-host/v1"},
        {"anthropic": "http://127.0.0.1/v1"},  # nothing configured for openai
    ],
)
def test_a_misconfigured_base_url_is_502_not_500(auth_client, settings, base_urls):
    settings.LLM_PROVIDER_BASE_URLS = base_urls
    config = make_config(auth_client.user, "openai")

    response = check(auth_client, config)

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "provider_error"


def test_a_key_that_cannot_be_decrypted_is_409(auth_client, fake, settings):
    # Written under a key that is later removed from FIELD_ENCRYPTION_KEYS.
    current_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    config = make_config(auth_client.user, "openai")
    settings.FIELD_ENCRYPTION_KEYS = current_keys

    response = check(auth_client, config)

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "key_unreadable"
    assert "Enter the key again" in error["message"]
    assert fake.requests == []  # no provider was called
    log = ActionLog.objects.get(pk=error["details"]["action_log_id"])
    assert log.status == ActionLog.Status.FAILURE
    assert log.error_message == error["message"]


def test_checks_are_throttled_per_user(auth_client, fake):
    config = make_config(auth_client.user, "openai")

    statuses = [check(auth_client, config).status_code for _ in range(11)]

    assert statuses[:10] == [422] * 10
    assert statuses[10] == 429
    assert ActionLog.objects.count() == 10


def test_checking_needs_login(api_client, fake):
    config = make_config(LLMConfigFactory().user, "openai")
    assert check(api_client, config).status_code == 401
    assert fake.requests == []
