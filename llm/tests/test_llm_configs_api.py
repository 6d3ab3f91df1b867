"""The LLM configs API, as a client uses it: CRUD, validation, activation, isolation,
and the API key never coming back."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from core.models import AuditLog
from llm import crypto
from llm.models import LLMConfig
from llm.providers import CUSTOM_INSTRUCTIONS_MAX_LENGTH, provider_spec
from llm.tests.factories import LLMConfigFactory
from llm.tests.fake_provider import ResponseRecorder, fake_key, leaked_keys

PROVIDERS = ["openai", "anthropic", "google"]
LIST_URL = "/api/v1/llm/configs/"


def detail_url(config_id: int) -> str:
    return f"{LIST_URL}{config_id}/"


@pytest.fixture(autouse=True)
def recorder(auth_client):
    """Every response this module's client receives is checked for API keys."""
    recorder = ResponseRecorder(auth_client)
    yield recorder
    recorder.assert_no_key_leaked(require_responses=False)


def test_the_leak_check_catches_a_key(auth_client, recorder):
    key = fake_key("openai")
    auth_client.get(LIST_URL)
    assert recorder.bodies
    recorder.bodies.append(f'{{"oops": "{key[:-4]}"}}')
    with pytest.raises(AssertionError, match="leaked"):
        recorder.assert_no_key_leaked()
    recorder.bodies.pop()


def make_config(user, provider="openai", **kwargs) -> LLMConfig:
    spec = provider_spec(provider)
    kwargs.setdefault("model_settings", {"model": spec.default_model, "temperature": 0.5})
    return LLMConfigFactory(user=user, provider=provider, api_key=fake_key(provider), **kwargs)


def create(client, provider="openai", **body):
    body.setdefault("api_key", fake_key(provider))
    return client.post(LIST_URL, {"provider": provider, **body}, format="json")


def assert_config_shape(data: dict) -> None:
    assert set(data) == {
        "id",
        "provider",
        "masked_api_key",
        "model_settings",
        "is_active",
        "key_rejected_at",
        "created_at",
        "updated_at",
    }


# -- create / read ------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_create_returns_the_config_with_a_masked_key_only(auth_client, provider):
    key = fake_key(provider)
    model = provider_spec(provider).models[-1]
    response = create(
        auth_client,
        provider,
        api_key=f"  {key}\n",  # pasted with whitespace around it
        model_settings={
            "model": model,
            "temperature": 0.2,
            "max_tokens": 500,
            "custom_instructions": "Answer in Portuguese.",
        },
    )

    assert response.status_code == 201, response.json()
    data = response.json()
    assert_config_shape(data)
    assert data["provider"] == provider
    assert data["masked_api_key"] == f"…{key[-4:]}"
    assert data["model_settings"] == {
        "model": model,
        "temperature": 0.2,
        "max_tokens": 500,
        "custom_instructions": "Answer in Portuguese.",
    }
    assert data["is_active"] is False
    config = LLMConfig.objects.get(pk=data["id"])
    assert config.user == auth_client.user
    assert config.get_api_key() == key


def test_create_fills_in_the_providers_default_model(auth_client):
    response = create(auth_client, "anthropic")

    assert response.status_code == 201
    assert response.json()["model_settings"] == {"model": "claude-sonnet-4-20250514"}


def test_the_key_column_holds_ciphertext(auth_client):
    key = fake_key("openai")
    config_id = create(auth_client, api_key=key).json()["id"]

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key_encrypted, api_key_last4 FROM llm_llmconfig WHERE id = %s",
            [config_id],
        )
        stored, last4 = cursor.fetchone()

    assert key not in stored and key[:-4] not in stored
    assert crypto.is_ciphertext(stored)
    assert crypto.decrypt(stored) == key
    assert last4 == key[-4:]


def test_list_shows_only_my_configs_newest_first(auth_client):
    other = make_config(UserFactory())
    first = make_config(auth_client.user)
    second = make_config(auth_client.user)

    response = auth_client.get(LIST_URL)

    assert response.status_code == 200
    data = response.json()
    assert (data["next"], data["previous"]) == (None, None)
    assert [c["id"] for c in data["results"]] == [second.pk, first.pk]
    assert other.pk not in [c["id"] for c in data["results"]]
    for item in data["results"]:
        assert_config_shape(item)


def test_list_ties_on_created_at_are_broken_by_id(auth_client):
    configs = [make_config(auth_client.user) for _ in range(3)]
    LLMConfig.objects.filter(pk__in=[c.pk for c in configs]).update(
        created_at=configs[0].created_at
    )

    ids = [c["id"] for c in auth_client.get(LIST_URL).json()["results"]]

    assert ids == sorted((c.pk for c in configs), reverse=True)


def test_list_pages_by_cursor_newest_first(auth_client):
    configs = [make_config(auth_client.user) for _ in range(5)]
    newest_first = [c.pk for c in reversed(configs)]

    first = auth_client.get(LIST_URL, {"page_size": 2}).json()
    second = auth_client.get(first["next"]).json()
    last = auth_client.get(second["next"]).json()

    pages = [[c["id"] for c in page["results"]] for page in (first, second, last)]
    assert pages == [newest_first[:2], newest_first[2:4], newest_first[4:]]
    assert first["previous"] is None and last["next"] is None
    back = auth_client.get(last["previous"]).json()
    assert [c["id"] for c in back["results"]] == newest_first[2:4]


@pytest.mark.parametrize("params", [{"page_size": "101"}, {"page_size": "0"}, {"cursor": "x"}])
def test_list_refuses_a_bad_page_size_or_cursor(auth_client, params):
    response = auth_client.get(LIST_URL, params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_list_query_count_does_not_grow_with_configs(auth_client):
    make_config(auth_client.user)
    with CaptureQueriesContext(connection) as one:
        assert auth_client.get(LIST_URL).status_code == 200
    for _ in range(49):
        make_config(auth_client.user)
    with CaptureQueriesContext(connection) as fifty:
        response = auth_client.get(LIST_URL)

    assert response.status_code == 200
    assert len(response.json()["results"]) == 50
    assert len(fifty.captured_queries) == len(one.captured_queries)
    # The list never even loads the ciphertext.
    assert not any("api_key_encrypted" in q["sql"] for q in fifty.captured_queries)


def test_retrieve(auth_client):
    config = make_config(auth_client.user, "google")

    response = auth_client.get(detail_url(config.pk))

    assert response.status_code == 200
    assert response.json()["id"] == config.pk
    assert response.json()["masked_api_key"] == config.masked_api_key


def test_login_is_required():
    client = APIClient()
    recorder = ResponseRecorder(client)
    fake_key("openai")
    assert client.get(LIST_URL).status_code == 401
    response = client.post(
        LIST_URL, {"provider": "openai", "api_key": fake_key("openai")}, format="json"
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    recorder.assert_no_key_leaked()


# -- validation -----------------------------------------------------------------------------


def assert_invalid(response, field: str, setting: str | None = None) -> dict:
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["details"], error
    if setting is not None:
        assert setting in error["details"][field], error
    return error


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "bad_key",
    ["", "not-a-key", "sk-short", "AIza-too-short", "sk-ant-short", "x" * 300, "sk-" + "é" * 30],
)
def test_bad_key_format_is_refused(auth_client, provider, bad_key):
    error = assert_invalid(create(auth_client, provider, api_key=bad_key), "api_key")
    assert not LLMConfig.objects.exists()
    if bad_key and len(bad_key) > 8:
        assert bad_key not in str(error)


@pytest.mark.parametrize(
    ("provider", "other_provider"),
    [("openai", "google"), ("anthropic", "openai"), ("google", "anthropic")],
)
def test_a_key_of_another_provider_is_refused(auth_client, provider, other_provider):
    error = assert_invalid(
        create(auth_client, provider, api_key=fake_key(other_provider)), "api_key"
    )
    assert provider_spec(provider).display_name in error["message"]


def test_an_anthropic_key_for_openai_gets_a_hint(auth_client):
    error = assert_invalid(create(auth_client, "openai", api_key=fake_key("anthropic")), "api_key")
    assert "Anthropic" in error["message"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unknown_model_is_refused(auth_client, provider):
    other_model = "gpt-4o" if provider != "openai" else "gemini-2.5-pro"
    for model in ["gpt-9-ultra", other_model, 42]:
        error = assert_invalid(
            create(auth_client, provider, model_settings={"model": model}),
            "model_settings",
            "model",
        )
        assert error["message"].startswith("model_settings: model: Not a known")


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("temperature", [2.5, -1, "0.5", True])
def test_temperature_outside_the_range_is_refused(auth_client, provider, temperature):
    assert_invalid(
        create(auth_client, provider, model_settings={"temperature": temperature}),
        "model_settings",
        "temperature",
    )


def test_anthropic_temperature_stops_at_one(auth_client):
    error = assert_invalid(
        create(auth_client, "anthropic", model_settings={"temperature": 1.5}),
        "model_settings",
        "temperature",
    )
    assert "from 0 to 1 for Anthropic" in error["message"]
    assert create(auth_client, "openai", model_settings={"temperature": 1.5}).status_code == 201
    assert create(auth_client, "anthropic", model_settings={"temperature": 1}).status_code == 201


@pytest.mark.parametrize("provider", PROVIDERS)
def test_max_tokens_must_be_positive_and_within_the_provider_bound(auth_client, provider):
    upper = provider_spec(provider).max_tokens.maximum
    for max_tokens in [0, -5, upper + 1, 10.5, "100"]:
        assert_invalid(
            create(auth_client, provider, model_settings={"max_tokens": max_tokens}),
            "model_settings",
            "max_tokens",
        )
    ok = create(auth_client, provider, model_settings={"max_tokens": upper})
    assert ok.status_code == 201


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unknown_setting_is_refused(auth_client, provider):
    error = assert_invalid(
        create(auth_client, provider, model_settings={"top_k": 3}), "model_settings", "top_k"
    )
    assert "Unknown setting" in error["message"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_custom_instructions_have_a_length_cap(auth_client, provider):
    too_long = "x" * (CUSTOM_INSTRUCTIONS_MAX_LENGTH + 1)
    assert_invalid(
        create(auth_client, provider, model_settings={"custom_instructions": too_long}),
        "model_settings",
        "custom_instructions",
    )
    assert_invalid(
        create(auth_client, provider, model_settings={"custom_instructions": ["a"]}),
        "model_settings",
        "custom_instructions",
    )
    at_cap = "x" * CUSTOM_INSTRUCTIONS_MAX_LENGTH
    assert (
        create(auth_client, provider, model_settings={"custom_instructions": at_cap}).status_code
        == 201
    )


@pytest.mark.parametrize("settings_value", [[], "gpt-4o", 3, None])
def test_settings_must_be_an_object(auth_client, settings_value):
    assert_invalid(create(auth_client, model_settings=settings_value), "model_settings")


def test_all_errors_are_reported_at_once(auth_client):
    response = create(
        auth_client,
        "google",
        api_key="nope",
        model_settings={"model": "gpt-4o", "temperature": 9, "max_tokens": 0, "seed": 1},
    )
    details = assert_invalid(response, "api_key")["details"]
    assert set(details["model_settings"]) == {"model", "temperature", "max_tokens", "seed"}


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "mistral"},
        {"provider": None},
        {"apikey": "sk-whatever"},
        {"is_active": "perhaps"},
    ],
)
def test_bad_top_level_fields_are_refused(auth_client, body):
    response = auth_client.post(
        LIST_URL, {"provider": "openai", "api_key": fake_key("openai"), **body}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", "null"])
def test_malformed_bodies_are_4xx(auth_client, payload):
    response = auth_client.post(LIST_URL, payload, content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()


# -- update -------------------------------------------------------------------------------


def test_patch_merges_settings_and_null_removes_one(auth_client):
    config = make_config(
        auth_client.user,
        model_settings={"model": "gpt-4o", "temperature": 0.5, "custom_instructions": "Be brief."},
    )

    response = auth_client.patch(
        detail_url(config.pk),
        {"model_settings": {"max_tokens": 2000, "temperature": None}},
        format="json",
    )

    assert response.status_code == 200, response.json()
    expected = {"model": "gpt-4o", "max_tokens": 2000, "custom_instructions": "Be brief."}
    assert response.json()["model_settings"] == expected
    config.refresh_from_db()
    assert config.model_settings == expected
    log = AuditLog.objects.get(action="llm_config_updated", resource_id=str(config.pk))
    assert log.actor == auth_client.user
    assert log.changes["model_settings"] == [
        {"setting": "max_tokens", "old": None, "new": 2000},
        {"setting": "temperature", "old": 0.5, "new": None},
    ]


def test_patch_settings_are_validated(auth_client):
    config = make_config(auth_client.user, "anthropic")

    for bad in [{"temperature": 1.2}, {"model": "gpt-4o"}, {"max_tokens": 0}, {"x": 1}]:
        response = auth_client.patch(detail_url(config.pk), {"model_settings": bad}, format="json")
        assert_invalid(response, "model_settings")

    config.refresh_from_db()
    assert config.model_settings["temperature"] == 0.5


def test_patch_api_key_reencrypts_and_changes_the_mask(auth_client):
    config = make_config(auth_client.user, "google")
    old_ciphertext, old_last4 = config.api_key_encrypted, config.api_key_last4
    new_key = fake_key("google")

    response = auth_client.patch(detail_url(config.pk), {"api_key": new_key}, format="json")

    assert response.status_code == 200
    assert response.json()["masked_api_key"] == f"…{new_key[-4:]}"
    config.refresh_from_db()
    assert config.api_key_encrypted != old_ciphertext
    assert config.get_api_key() == new_key
    log = AuditLog.objects.get(action="llm_key_changed", resource_id=str(config.pk))
    assert log.changes["api_key_last4"] == {"old": old_last4, "new": new_key[-4:]}
    assert new_key not in str(log.changes)


def test_patch_api_key_is_checked_against_the_provider_format(auth_client):
    config = make_config(auth_client.user, "openai")

    response = auth_client.patch(
        detail_url(config.pk), {"api_key": fake_key("google")}, format="json"
    )

    assert_invalid(response, "api_key")


def test_changing_provider_needs_a_new_key(auth_client):
    config = make_config(auth_client.user, "openai")

    response = auth_client.patch(detail_url(config.pk), {"provider": "google"}, format="json")

    error = assert_invalid(response, "api_key")
    assert "new provider" in error["message"]
    config.refresh_from_db()
    assert config.provider == "openai"


def test_changing_provider_with_a_key_resets_the_model(auth_client):
    config = make_config(
        auth_client.user, "openai", model_settings={"model": "gpt-4.1", "temperature": 0.3}
    )
    key = fake_key("google")

    response = auth_client.patch(
        detail_url(config.pk), {"provider": "google", "api_key": key}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["provider"] == "google"
    assert response.json()["model_settings"] == {"model": "gemini-2.5-flash", "temperature": 0.3}
    config.refresh_from_db()
    assert config.get_api_key() == key


def test_changing_provider_checks_settings_against_the_new_range(auth_client):
    config = make_config(
        auth_client.user, "openai", model_settings={"model": "gpt-4o", "temperature": 1.8}
    )
    body = {"provider": "anthropic", "api_key": fake_key("anthropic")}

    assert_invalid(auth_client.patch(detail_url(config.pk), body, format="json"), "model_settings")
    body["model_settings"] = {"temperature": 0.9}
    assert auth_client.patch(detail_url(config.pk), body, format="json").status_code == 200


def test_patch_cannot_flip_is_active(auth_client):
    config = make_config(auth_client.user)

    response = auth_client.patch(detail_url(config.pk), {"is_active": True}, format="json")

    error = assert_invalid(response, "is_active")
    assert "activate" in error["message"]
    # Sending back what was read (read-only fields, same is_active) is fine.
    read = auth_client.get(detail_url(config.pk)).json()
    assert auth_client.patch(detail_url(config.pk), read, format="json").status_code == 200


def test_put_is_not_allowed(auth_client):
    config = make_config(auth_client.user)
    response = auth_client.put(detail_url(config.pk), {"provider": "openai"}, format="json")
    assert response.status_code == 405


# -- delete -------------------------------------------------------------------------------


def test_delete(auth_client):
    config = make_config(auth_client.user, is_active=True)

    response = auth_client.delete(detail_url(config.pk))

    assert response.status_code == 204
    assert not LLMConfig.objects.filter(pk=config.pk).exists()
    assert auth_client.get(detail_url(config.pk)).status_code == 404
    log = AuditLog.objects.get(action="llm_key_deleted", resource_id=str(config.pk))
    assert log.changes == {
        "provider": "openai",
        "api_key_last4": config.api_key_last4,
        "was_active": True,
    }


# -- activation -----------------------------------------------------------------------------


def active_ids(user) -> list[int]:
    return list(LLMConfig.objects.filter(user=user, is_active=True).values_list("pk", flat=True))


def test_activate_switches_exactly_one_active(auth_client):
    user = auth_client.user
    a, b, c = (make_config(user, p) for p in PROVIDERS)
    someone_else = make_config(UserFactory(), is_active=True)

    response = auth_client.post(f"{detail_url(a.pk)}activate/")
    assert response.status_code == 200
    assert response.json()["is_active"] is True
    assert active_ids(user) == [a.pk]

    assert auth_client.post(f"{detail_url(c.pk)}activate/").status_code == 200
    assert active_ids(user) == [c.pk]
    log = AuditLog.objects.get(action="llm_config_activated", resource_id=str(c.pk))
    assert log.changes["deactivated_config_ids"] == [a.pk]
    assert auth_client.post(f"{detail_url(c.pk)}activate/").status_code == 200  # idempotent
    assert active_ids(user) == [c.pk]

    someone_else.refresh_from_db()
    assert someone_else.is_active is True
    listed = {x["id"]: x["is_active"] for x in auth_client.get(LIST_URL).json()["results"]}
    assert listed == {a.pk: False, b.pk: False, c.pk: True}


def test_creating_an_active_config_deactivates_the_others(auth_client):
    old = make_config(auth_client.user, is_active=True)

    response = create(auth_client, "google", is_active=True)

    assert response.status_code == 201
    assert response.json()["is_active"] is True
    assert active_ids(auth_client.user) == [response.json()["id"]]
    old.refresh_from_db()
    assert old.is_active is False


def test_deactivate(auth_client):
    config = make_config(auth_client.user, is_active=True)

    response = auth_client.post(f"{detail_url(config.pk)}deactivate/")

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert active_ids(auth_client.user) == []


# -- isolation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"model_settings": {"temperature": 0.1}}),
        ("patch", "", {"provider": "google", "api_key": "AIza" + "A" * 35}),
        ("delete", "", None),
        ("post", "activate/", None),
        ("post", "deactivate/", None),
        ("post", "check/", None),
    ],
)
def test_another_users_config_is_404_and_untouched(auth_client, method, suffix, body):
    config = make_config(UserFactory(), is_active=True)
    before = LLMConfig.objects.values().get(pk=config.pk)

    response = getattr(auth_client, method)(f"{detail_url(config.pk)}{suffix}", body, format="json")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No such LLM config."}}
    assert LLMConfig.objects.values().get(pk=config.pk) == before


@pytest.mark.parametrize("path", ["999999999/", "99999999999999999999999/", "abc/"])
def test_unknown_ids_are_404(auth_client, path):
    response = auth_client.get(f"{LIST_URL}{path}")
    assert response.status_code == 404
    assert "error" in response.json()


def test_no_audit_row_holds_a_key(auth_client):
    config_id = create(auth_client, "anthropic").json()["id"]
    auth_client.patch(detail_url(config_id), {"api_key": fake_key("anthropic")}, format="json")
    auth_client.post(f"{detail_url(config_id)}activate/")
    auth_client.delete(detail_url(config_id))

    rows = list(AuditLog.objects.values_list("action", "changes"))
    assert {action for action, _ in rows} == {
        "llm_key_created",
        "llm_key_changed",
        "llm_config_activated",
        "llm_key_deleted",
    }
    assert not leaked_keys(str(rows))
