"""The LLM config services (the admin calls these too): validation, audit rows,
the one-active-config invariant under concurrency, and key check reports."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from accounts.tests.factories import UserFactory
from core.models import AuditLog
from llm import services
from llm.key_check import Outcome
from llm.models import ActionLog, LLMConfig
from llm.tests.factories import LLMConfigFactory
from llm.tests.fake_provider import FakeProviderServer, fake_key, leaked_keys

pytestmark = pytest.mark.django_db


def test_create_encrypts_and_audits_without_the_key(staff_user):
    user = UserFactory()
    key = fake_key("google")

    config = services.llm_config_create(
        user=user,
        provider="google",
        api_key=key,
        model_settings={"temperature": 0.4},
        actor=staff_user,
    )

    config.refresh_from_db()
    assert config.get_api_key() == key
    assert config.model_settings == {"model": "gemini-2.5-flash", "temperature": 0.4}
    log = AuditLog.objects.get(action="llm_key_created")
    assert log.actor == staff_user
    assert log.resource_type == "llmconfig" and log.resource_id == str(config.pk)
    assert log.changes == {
        "provider": "google",
        "api_key_last4": key[-4:],
        "model": "gemini-2.5-flash",
        "is_active": False,
    }


def test_create_reports_every_bad_field_by_name():
    with pytest.raises(ValidationError) as caught:
        services.llm_config_create(
            user=UserFactory(),
            provider="anthropic",
            api_key="sk-nope",
            model_settings={"temperature": 3, "tone": "warm"},
        )
    errors = caught.value.message_dict
    assert set(errors) == {"api_key", "model_settings"}
    assert any(m.startswith("temperature: ") for m in errors["model_settings"])
    assert any(m.startswith("tone: Unknown setting") for m in errors["model_settings"])
    assert not LLMConfig.objects.exists()


def test_create_refuses_an_unknown_provider():
    with pytest.raises(ValidationError) as caught:
        services.llm_config_create(
            user=UserFactory(), provider="mistral", api_key="x", model_settings={}
        )
    assert set(caught.value.message_dict) == {"provider"}


def test_update_with_a_new_provider_needs_a_key():
    config = LLMConfigFactory(api_key=fake_key("openai"))
    with pytest.raises(ValidationError) as caught:
        services.llm_config_update(config=config, provider="anthropic")
    assert set(caught.value.message_dict) == {"api_key"}


def test_update_replaces_settings_and_audits_only_changes():
    config = LLMConfigFactory(
        api_key=fake_key("openai"),
        model_settings={"model": "gpt-4o", "custom_instructions": "Short answers."},
    )

    services.llm_config_update(
        config=config,
        model_settings={"model": "gpt-4.1", "custom_instructions": "Long answers."},
    )

    config.refresh_from_db()
    assert config.model_settings == {"model": "gpt-4.1", "custom_instructions": "Long answers."}
    log = AuditLog.objects.get(action="llm_config_updated")
    assert log.changes == {
        "model_settings": [
            {"setting": "custom_instructions", "changed": True},
            {"setting": "model", "old": "gpt-4o", "new": "gpt-4.1"},
        ]
    }


def test_an_update_that_changes_nothing_writes_nothing():
    config = LLMConfigFactory(api_key=fake_key("openai"), model_settings={"model": "gpt-4o"})
    updated_at = config.updated_at

    services.llm_config_update(config=config, model_settings={"model": "gpt-4o"})

    config.refresh_from_db()
    assert config.updated_at == updated_at
    assert not AuditLog.objects.exists()


def test_set_key_keeps_the_provider_and_audits_last4_only():
    old_key, new_key = fake_key("anthropic"), fake_key("anthropic")
    config = LLMConfigFactory(
        provider="anthropic",
        api_key=old_key,
        model_settings={"model": "claude-3-5-haiku-20241022"},
    )

    services.llm_config_set_key(config=config, api_key=new_key)

    config.refresh_from_db()
    assert config.get_api_key() == new_key
    log = AuditLog.objects.get(action="llm_key_changed")
    assert log.changes["api_key_last4"] == {"old": old_key[-4:], "new": new_key[-4:]}
    with pytest.raises(ValidationError):
        services.llm_config_set_key(config=config, api_key=fake_key("openai"))
    assert not leaked_keys(str(list(AuditLog.objects.values_list("changes", flat=True))))


def test_activate_and_deactivate_audit():
    user = UserFactory()
    first = LLMConfigFactory(user=user, api_key=fake_key("openai"), is_active=True)
    second = LLMConfigFactory(user=user, api_key=fake_key("openai"))

    services.llm_config_activate(config=second)
    services.llm_config_deactivate(config=second)

    assert not LLMConfig.objects.filter(user=user, is_active=True).exists()
    actions = list(AuditLog.objects.order_by("id").values_list("action", "changes"))
    assert actions == [
        ("llm_config_activated", {"provider": "openai", "deactivated_config_ids": [first.pk]}),
        ("llm_config_deactivated", {"provider": "openai"}),
    ]


def test_activating_a_deleted_config_raises_does_not_exist():
    config = LLMConfigFactory(api_key=fake_key("openai"))
    LLMConfig.objects.filter(pk=config.pk).delete()
    with pytest.raises(LLMConfig.DoesNotExist):
        services.llm_config_activate(config=config)


def test_check_key_report_is_readable_for_the_admin(settings):
    key = fake_key("openai")
    config = LLMConfigFactory(api_key=key)
    with FakeProviderServer() as fake:
        settings.LLM_PROVIDER_BASE_URLS = fake.base_urls()
        fake.valid_keys.add(key)
        report = services.llm_config_check_key(config=config)

    assert report.valid and report.outcome == Outcome.VALID
    assert report.message == "The key works: OpenAI lists 4 models."
    assert report.action_log.status == ActionLog.Status.SUCCESS
    assert report.action_log.response_summary["configured_model_listed"] is True


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_activations_leave_exactly_one_active():
    user = UserFactory()
    configs = [LLMConfigFactory(user=user, api_key=fake_key("openai")) for _ in range(6)]
    barrier = threading.Barrier(len(configs))
    errors: list[BaseException] = []

    def activate(config):
        try:
            barrier.wait()
            services.llm_config_activate(config=config)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=activate, args=(c,)) for c in configs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert LLMConfig.objects.filter(user=user, is_active=True).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_active_creates_for_a_user_without_configs_queue_up():
    user = UserFactory()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def create():
        try:
            barrier.wait()
            services.llm_config_create(
                user=user,
                provider="openai",
                api_key=fake_key("openai"),
                model_settings={},
                is_active=True,
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert LLMConfig.objects.filter(user=user).count() == 4
    assert LLMConfig.objects.filter(user=user, is_active=True).count() == 1


def test_the_database_refuses_two_active_configs():
    user = UserFactory()
    LLMConfigFactory(user=user, api_key=fake_key("openai"), is_active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        LLMConfigFactory(user=user, api_key=fake_key("openai"), is_active=True)
