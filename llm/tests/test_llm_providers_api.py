"""GET /api/v1/llm/providers/: the catalogue, open to anyone."""

import pytest
from rest_framework.test import APIClient

from llm.models import Provider

URL = "/api/v1/llm/providers/"


@pytest.fixture
def catalogue(db) -> dict[str, dict]:
    response = APIClient().get(URL)
    assert response.status_code == 200
    return {entry["id"]: entry for entry in response.json()}


def test_lists_every_supported_provider_in_order(catalogue):
    assert list(catalogue) == ["openai", "anthropic", "google"]
    assert set(catalogue) == set(Provider.values)


def test_entries_describe_models_ranges_and_key_format(catalogue):
    for provider_id, entry in catalogue.items():
        assert set(entry) == {
            "id",
            "display_name",
            "models",
            "default_model",
            "temperature",
            "max_tokens",
            "custom_instructions_max_length",
            "key_prefix",
            "key_format_hint",
        }
        assert entry["display_name"] == Provider(provider_id).label
        assert entry["models"] and len(entry["models"]) == len(set(entry["models"]))
        assert entry["default_model"] in entry["models"]
        temperature, max_tokens = entry["temperature"], entry["max_tokens"]
        assert 0 <= temperature["min"] <= temperature["default"] <= temperature["max"] <= 2
        assert 1 == max_tokens["min"] <= max_tokens["default"] <= max_tokens["max"]
        assert entry["custom_instructions_max_length"] > 0
        assert entry["key_format_hint"].startswith(f'Starts with "{entry["key_prefix"]}"')


def test_realistic_models_and_per_provider_ranges(catalogue):
    assert {"gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini"} <= set(catalogue["openai"]["models"])
    assert "claude-3-5-haiku-20241022" in catalogue["anthropic"]["models"]
    assert any(m.startswith("claude-sonnet-4") for m in catalogue["anthropic"]["models"])
    assert {"gemini-2.5-pro", "gemini-2.5-flash"} <= set(catalogue["google"]["models"])
    assert catalogue["openai"]["temperature"]["max"] == 2
    assert catalogue["anthropic"]["temperature"]["max"] == 1  # Anthropic's real ceiling
    assert catalogue["google"]["temperature"]["max"] == 2
    assert catalogue["anthropic"]["key_prefix"] == "sk-ant-"
    assert catalogue["google"]["key_prefix"] == "AIza"


def test_works_without_login_and_ignores_a_bad_token(db, django_assert_num_queries):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    with django_assert_num_queries(0):
        response = client.get(URL)
    assert response.status_code == 200


def test_is_read_only(db):
    response = APIClient().post(URL, {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_schema_documents_the_llm_endpoints(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    check = paths["/api/v1/llm/configs/{id}/check/"]["post"]["responses"]
    assert {"200", "404", "409", "422", "502", "504"} <= set(check)
    schemas = response.json()["components"]["schemas"]
    assert "api_key" not in schemas["LLMConfig"]["properties"]
    assert "api_key" in schemas["LLMConfigCreateRequest"]["properties"]
    assert "/api/v1/llm/providers/" in paths
