"""llm models: relations, JSON round trips, lowercase enums and database constraints."""

import pytest
from django.db import IntegrityError, transaction

from accounts.tests.factories import UserFactory
from core.testing.raw_sql import raw_row
from llm.models import ActionLog, Agent, LLMConfig, Provider
from llm.tests.factories import ActionLogFactory, AgentFactory, LLMConfigFactory

pytestmark = pytest.mark.django_db


def test_factories_create_every_model():
    config = LLMConfigFactory(api_key="sk-test-factory-key-0000000000wxyz")
    agent = AgentFactory()
    action = ActionLogFactory(user=config.user, config=config)

    stored = LLMConfig.objects.get(pk=config.pk)
    assert stored.get_api_key() == "sk-test-factory-key-0000000000wxyz"
    assert stored.api_key_last4 == "wxyz"
    assert Agent.objects.get(pk=agent.pk).name == agent.name
    assert ActionLog.objects.get(pk=action.pk).config == config
    for row in (config, agent, action):
        assert row.created_at is not None
        assert str(row)


def test_config_shows_only_the_last_four_characters():
    config = LLMConfigFactory(
        provider=Provider.ANTHROPIC, api_key="sk-ant-api03-secret-value-0000abcd"
    )
    assert config.masked_api_key == "…abcd"
    assert str(config) == "Anthropic …abcd"
    assert "secret-value" not in str(config)
    assert "secret-value" not in repr(config)


def test_json_fields_round_trip():
    model_settings = {
        "model": "claude-sonnet-4-20250514",
        "temperature": 0.5,
        "max_tokens": 2048,
        "custom_instructions": "Réponds en français, s'il te plaît. 🇫🇷",
    }
    functions = [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                },
                "required": ["city"],
            },
        }
    ]
    config = LLMConfigFactory(provider=Provider.ANTHROPIC, model_settings=model_settings)
    agent = AgentFactory(functions=functions)
    action = ActionLogFactory(
        request_summary={"method": "GET", "endpoint": "/v1/models"},
        response_summary={"status_code": 200, "models": 42, "ok": True, "error": None},
    )

    assert LLMConfig.objects.get(pk=config.pk).model_settings == model_settings
    assert Agent.objects.get(pk=agent.pk).functions == functions
    stored = ActionLog.objects.get(pk=action.pk)
    assert stored.request_summary == {"method": "GET", "endpoint": "/v1/models"}
    assert stored.response_summary == {"status_code": 200, "models": 42, "ok": True, "error": None}


def test_enum_values_are_stored_lowercase():
    config = LLMConfigFactory(provider=Provider.GOOGLE, api_key="AIza" + "x" * 35)
    action = ActionLogFactory(
        user=config.user, config=config, provider=Provider.GOOGLE, status=ActionLog.Status.TIMEOUT
    )
    assert raw_row(LLMConfig, config.pk, "provider") == ("google",)
    assert raw_row(ActionLog, action.pk, "provider", "status") == ("google", "timeout")
    for choices in (Provider, ActionLog.Status):
        assert all(value == value.lower() for value in choices.values)


def test_deleting_a_config_keeps_its_action_log():
    action = ActionLogFactory()
    action.config.delete()
    action.refresh_from_db()
    assert action.config is None


def test_one_active_config_per_user_but_many_inactive():
    user = UserFactory()
    LLMConfigFactory(user=user, is_active=True)
    LLMConfigFactory.create_batch(2, user=user, is_active=False)
    LLMConfigFactory(is_active=True)  # another user's active config
    assert LLMConfig.objects.filter(user=user).count() == 3
    assert LLMConfig.objects.filter(is_active=True).count() == 2


# Database constraints: each refuses a bad row even when model validation is bypassed.


def test_db_refuses_two_active_configs_for_one_user():
    user = UserFactory()
    LLMConfigFactory(user=user, is_active=True)
    second = LLMConfigFactory(user=user, is_active=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        LLMConfig.objects.filter(pk=second.pk).update(is_active=True)
    third = LLMConfigFactory.build(user=user, is_active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        LLMConfig.objects.bulk_create([third])
    assert LLMConfig.objects.filter(user=user, is_active=True).count() == 1


def test_db_refuses_duplicate_agent_name():
    AgentFactory(name="Zapa Assistant")
    with pytest.raises(IntegrityError), transaction.atomic():
        Agent.objects.bulk_create([Agent(name="Zapa Assistant", model="gpt-4o-mini")])


@pytest.mark.parametrize(
    "model, factory, field, bad_value",
    [
        (LLMConfig, LLMConfigFactory, "provider", "mistral"),
        (LLMConfig, LLMConfigFactory, "provider", "OpenAI"),
        (ActionLog, ActionLogFactory, "provider", "cohere"),
        (ActionLog, ActionLogFactory, "provider", ""),
        (ActionLog, ActionLogFactory, "status", "error"),
        (ActionLog, ActionLogFactory, "status", "SUCCESS"),
    ],
)
def test_db_refuses_enum_value_outside_its_choices(model, factory, field, bad_value):
    row = factory()
    good_value = getattr(row, field)
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.filter(pk=row.pk).update(**{field: bad_value})
    assert raw_row(model, row.pk, field) == (good_value,)


def test_db_refuses_negative_execution_time():
    action = ActionLogFactory(execution_time_ms=10)
    with pytest.raises(IntegrityError), transaction.atomic():
        ActionLog.objects.filter(pk=action.pk).update(execution_time_ms=-1)
    ActionLog.objects.filter(pk=action.pk).update(execution_time_ms=None)
    assert raw_row(ActionLog, action.pk, "execution_time_ms") == (None,)
