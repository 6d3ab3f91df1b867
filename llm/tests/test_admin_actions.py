"""LLM config admin actions (check the key with the provider, deactivate) and the key
being nowhere on any admin page, against a fake provider over real HTTP."""

import logging

import pytest
from django.core.cache import cache
from django.urls import reverse

from core.models import AuditLog
from core.testing.ports import unused_port_url
from llm.models import ActionLog, LLMConfig
from llm.tests.factories import LLMConfigFactory
from llm.tests.fake_provider import (
    FakeProviderServer,
    ResponseRecorder,
    fake_key,
    leaked_keys,
)

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:llm_llmconfig_changelist")


@pytest.fixture
def provider(settings):
    with FakeProviderServer() as server:
        settings.LLM_PROVIDER_BASE_URLS = server.base_urls()
        settings.LLM_PROVIDER_TIMEOUT = 5.0
        yield server


@pytest.fixture
def recorded(admin_client_logged_in, caplog):
    """The logged-in admin client; afterwards no response or log line may hold a key."""
    cache.clear()
    caplog.set_level(logging.DEBUG)
    recorder = ResponseRecorder(admin_client_logged_in)
    yield admin_client_logged_in
    recorder.assert_no_key_leaked()
    assert not leaked_keys(caplog.text), "an API key leaked into the logs"


def run_action(client, action: str, configs, **extra):
    return client.post(
        CHANGELIST,
        {"action": action, "index": 0, "_selected_action": [c.pk for c in configs], **extra},
        follow=True,
    )


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def test_check_keys_reports_each_configs_outcome(provider, recorded, user):
    good_key, bad_key = fake_key("openai"), fake_key("anthropic")
    provider.valid_keys.add(good_key)
    good = LLMConfigFactory(user=user, provider="openai", api_key=good_key)
    bad = LLMConfigFactory(
        user=user,
        provider="anthropic",
        api_key=bad_key,
        model_settings={"model": "claude-3-5-haiku-20241022"},
    )

    response = run_action(recorded, "check_keys", [good, bad])

    assert response.status_code == 200
    outcome = dict((message.split(":")[0], level) for level, message in messages_of(response))
    assert outcome[f"OpenAI {good.masked_api_key} of {user}"] == "success"
    assert outcome[f"Anthropic {bad.masked_api_key} of {user}"] == "error"
    assert [r.provider for r in provider.requests] == ["openai", "anthropic"]
    logs = ActionLog.objects.order_by("id")
    assert [(log.config_id, log.status) for log in logs] == [
        (good.pk, "success"),
        (bad.pk, "failure"),
    ]
    assert AuditLog.objects.filter(action="llm_key_checked").count() == 2
    # The pages that show the outcome keep the key out too.
    for page in (
        reverse("admin:llm_actionlog_changelist"),
        reverse("admin:llm_actionlog_change", args=[logs[1].pk]),
        reverse("admin:core_auditlog_changelist"),
    ):
        assert recorded.get(page).status_code == 200


def test_check_keys_with_the_provider_unreachable_is_a_message(settings, recorded, user):
    settings.LLM_PROVIDER_BASE_URLS = {
        name: unused_port_url() for name in ("openai", "anthropic", "google")
    }
    config = LLMConfigFactory(user=user, api_key=fake_key("openai"))
    response = run_action(recorded, "check_keys", [config])
    assert response.status_code == 200
    [(level, message)] = messages_of(response)
    assert level == "error"
    assert ActionLog.objects.get().status == "failure"
    assert message.startswith(f"OpenAI {config.masked_api_key} of {user}: ")


def test_check_keys_refuses_too_many_at_once(provider, recorded, monkeypatch):
    from llm import admin as llm_admin

    monkeypatch.setattr(llm_admin, "MAX_KEY_CHECKS", 2)
    configs = [LLMConfigFactory(api_key=fake_key("openai")) for _ in range(3)]
    response = run_action(recorded, "check_keys", configs)
    assert messages_of(response) == [("error", "Select at most 2 configs at a time.")]
    assert provider.requests == []


def test_deactivate_configs(recorded, user):
    active = LLMConfigFactory(user=user, is_active=True, api_key=fake_key("openai"))
    inactive = LLMConfigFactory(user=user, is_active=False, api_key=fake_key("openai"))

    response = run_action(recorded, "deactivate_configs", [active, inactive])

    assert messages_of(response) == [("success", "Deactivated 1 config(s).")]
    assert not LLMConfig.objects.filter(is_active=True).exists()
    assert list(
        AuditLog.objects.filter(action="llm_config_deactivated").values_list(
            "resource_id", flat=True
        )
    ) == [str(active.pk)]


def test_key_is_nowhere_on_any_admin_page(recorded, user):
    """Add a config through the admin, then visit every page that could show it."""
    key = fake_key("google")
    response = recorded.post(
        reverse("admin:llm_llmconfig_add"),
        {
            "user": str(user.pk),
            "provider": "google",
            "api_key": key,
            "model_settings": '{"model": "gemini-2.5-flash"}',
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    config = LLMConfig.objects.get(user=user)
    assert config.get_api_key() == key

    pages = [
        "/admin/",
        CHANGELIST,
        f"{CHANGELIST}?q={user.phone_number}",
        reverse("admin:llm_llmconfig_change", args=[config.pk]),
        reverse("admin:llm_llmconfig_history", args=[config.pk]),
        reverse("admin:llm_llmconfig_delete", args=[config.pk]),
        reverse("admin:accounts_user_change", args=[user.pk]),
        reverse("admin:core_auditlog_changelist"),
        reverse(
            "admin:core_auditlog_change",
            args=[AuditLog.objects.filter(action="llm_key_created").get().pk],
        ),
    ]
    for page in pages:  # the `recorded` fixture checks every body for the key
        assert recorded.get(page).status_code == 200, page
    change = recorded.get(reverse("admin:llm_llmconfig_change", args=[config.pk])).text
    assert f"…{key[-4:]}" in change
    assert 'name="api_key"' in change
    assert 'value="' + key not in change
