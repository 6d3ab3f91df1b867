import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.models import AuditLog
from llm import crypto
from llm.models import ActionLog, Agent, LLMConfig
from llm.tests.ciphertext import stored_ciphertext
from llm.tests.factories import ActionLogFactory, AgentFactory, LLMConfigFactory

pytestmark = pytest.mark.django_db

PLAINTEXT_KEY = "sk-admin-PLAINTEXT-7f3c9a51e2d4b6c8wxyz"
NEW_KEY = "sk-admin-REPLACED-0a1b2c3d4e5f6a7b8c9dqrst"
SECRET_COLUMNS = ("api_key_encrypted", "code_hash")


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def assert_no_key_material(text: str, *, plaintext: str, ciphertext: str) -> None:
    assert plaintext not in text
    assert plaintext[3:-4] not in text  # not even the middle of it
    assert ciphertext not in text
    assert ciphertext.split("$", 2)[2][:24] not in text
    assert "api_key_encrypted" not in text


def key_input(html: str) -> str:
    (tag,) = re.findall(r'<input[^>]*name="api_key"[^>]*>', html)
    return tag


def add_config(client, user, **overrides):
    data = {
        "user": str(user.pk),
        "provider": "openai",
        "api_key": PLAINTEXT_KEY,
        "model_settings": '{"model": "gpt-4o-mini", "temperature": 0.5}',
        "is_active": "on",
    }
    data.update(overrides)
    return client.post(url("llm_llmconfig_add"), data)


def change_data(config: LLMConfig, **overrides) -> dict:
    data = {
        "provider": config.provider,
        "api_key": "",
        "model_settings": '{"model": "gpt-4o-mini", "temperature": 0.7}',
        "is_active": "on" if config.is_active else "",
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value != ""}


# --- LLM configs ------------------------------------------------------------


def test_llm_config_pages_render(admin_client_logged_in):
    config = LLMConfigFactory(api_key="sk-test-00000000000000000000abcd")
    client = admin_client_logged_in
    response = client.get(url("llm_llmconfig_changelist"))
    assert response.status_code == 200
    assert "…abcd" in response.text
    response = client.get(url("llm_llmconfig_change", config.pk))
    assert response.status_code == 200
    assert "…abcd" in response.text
    assert client.get(url("llm_llmconfig_add")).status_code == 200


def test_add_form_stores_the_key_encrypted_and_never_shows_it(admin_client_logged_in, user):
    client = admin_client_logged_in
    response = add_config(client, user)
    assert response.status_code == 302, response.context["adminform"].form.errors
    config = LLMConfig.objects.get(user=user)
    assert (config.provider, config.is_active, config.api_key_last4) == ("openai", True, "wxyz")
    assert config.model_settings["model"] == "gpt-4o-mini"

    ciphertext = stored_ciphertext(config.pk)
    assert ciphertext.startswith("zf1$")
    assert PLAINTEXT_KEY not in ciphertext
    assert crypto.decrypt(ciphertext) == PLAINTEXT_KEY

    pages = {
        "changelist": client.get(url("llm_llmconfig_changelist")),
        "change": client.get(url("llm_llmconfig_change", config.pk)),
        "history": client.get(url("llm_llmconfig_history", config.pk)),
        "delete": client.get(url("llm_llmconfig_delete", config.pk)),
        "audit": client.get(url("core_auditlog_changelist")),
        "user": client.get(url("accounts_user_change", user.pk)),
    }
    for name, page in pages.items():
        assert page.status_code == 200, name
        assert_no_key_material(page.text, plaintext=PLAINTEXT_KEY, ciphertext=ciphertext)
    assert "…wxyz" in pages["change"].text

    audit = AuditLog.objects.get(action="llm_key_created")
    assert PLAINTEXT_KEY not in str(audit.changes)
    assert audit.actor is not None and audit.actor.is_staff


def test_the_key_box_never_renders_a_value(admin_client_logged_in, user):
    config = LLMConfigFactory(user=user, api_key=PLAINTEXT_KEY)
    client = admin_client_logged_in
    tag = key_input(client.get(url("llm_llmconfig_change", config.pk)).text)
    assert 'type="password"' in tag
    assert "value=" not in tag

    # Re-shown after a validation error, the typed key is not echoed either.
    response = add_config(client, user, model_settings='{"temperature": 99}')
    assert response.status_code == 200
    assert "temperature" in response.text
    assert "value=" not in key_input(response.text)
    assert PLAINTEXT_KEY not in response.text


def test_add_needs_a_key(admin_client_logged_in, user):
    response = add_config(admin_client_logged_in, user, api_key="")
    assert response.status_code == 200
    assert "This field is required." in response.text
    assert not LLMConfig.objects.exists()


def test_add_with_a_malformed_key_explains_without_echoing_it(admin_client_logged_in, user):
    response = add_config(admin_client_logged_in, user, api_key="not-a-key-at-all-123456")
    assert response.status_code == 200
    assert "API key" in response.text
    assert "not-a-key-at-all-123456" not in response.text
    assert not LLMConfig.objects.exists()


def test_blank_key_on_change_keeps_the_key(admin_client_logged_in, user):
    config = LLMConfigFactory(user=user, api_key=PLAINTEXT_KEY)
    before = stored_ciphertext(config.pk)
    response = admin_client_logged_in.post(
        url("llm_llmconfig_change", config.pk), change_data(config)
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    config.refresh_from_db()
    assert stored_ciphertext(config.pk) == before
    assert config.get_api_key() == PLAINTEXT_KEY
    assert config.model_settings["temperature"] == 0.7
    assert not AuditLog.objects.filter(action="llm_key_changed").exists()


def test_typed_key_on_change_replaces_the_key(admin_client_logged_in, user):
    config = LLMConfigFactory(user=user, api_key=PLAINTEXT_KEY)
    response = admin_client_logged_in.post(
        url("llm_llmconfig_change", config.pk), change_data(config, api_key=NEW_KEY)
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    config.refresh_from_db()
    assert config.get_api_key() == NEW_KEY
    assert config.api_key_last4 == "qrst"
    audit = AuditLog.objects.get(action="llm_key_changed")
    assert NEW_KEY not in str(audit.changes) and PLAINTEXT_KEY not in str(audit.changes)

    page = admin_client_logged_in.get(url("llm_llmconfig_history", config.pk)).text
    assert NEW_KEY not in page and PLAINTEXT_KEY not in page


def test_provider_change_needs_a_new_key(admin_client_logged_in, user):
    config = LLMConfigFactory(user=user, api_key=PLAINTEXT_KEY)
    response = admin_client_logged_in.post(
        url("llm_llmconfig_change", config.pk),
        change_data(config, provider="anthropic", model_settings="{}"),
    )
    assert response.status_code == 200
    assert "A new provider needs its own API key" in response.text
    config.refresh_from_db()
    assert config.provider == "openai"


def test_activating_a_config_deactivates_the_users_others(admin_client_logged_in, user):
    active = LLMConfigFactory(user=user, is_active=True)
    other = LLMConfigFactory(user=user, is_active=False)
    response = admin_client_logged_in.post(
        url("llm_llmconfig_change", other.pk), change_data(other, is_active="on")
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    active.refresh_from_db()
    other.refresh_from_db()
    assert (active.is_active, other.is_active) == (False, True)


def test_delete_removes_the_config(admin_client_logged_in, user):
    config = LLMConfigFactory(user=user)
    response = admin_client_logged_in.post(url("llm_llmconfig_delete", config.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not LLMConfig.objects.filter(pk=config.pk).exists()


@pytest.mark.parametrize(
    ("changelist", "params"),
    [
        ("llm_llmconfig_changelist", {"api_key_encrypted__startswith": "zf1"}),
        ("llm_llmconfig_changelist", {"api_key_encrypted": "zf1"}),
        ("llm_llmconfig_changelist", {"api_key_encrypted__isnull": "False"}),
        ("llm_llmconfig_changelist", {"api_key_encrypted__regex": "^zf1"}),
        ("llm_actionlog_changelist", {"config__api_key_encrypted__startswith": "zf1"}),
        ("accounts_user_changelist", {"llm_configs__api_key_encrypted__startswith": "zf1"}),
    ],
)
def test_encrypted_column_lookups_are_refused(admin_client_logged_in, changelist, params):
    LLMConfigFactory()
    ActionLogFactory()
    response = admin_client_logged_in.get(url(changelist), params)
    assert response.status_code == 400  # refused: neither filtered nor a server error


def test_search_and_ordering_do_not_touch_the_key(admin_client_logged_in):
    config = LLMConfigFactory()
    ciphertext = stored_ciphertext(config.pk)
    client = admin_client_logged_in
    response = client.get(url("llm_llmconfig_changelist"), {"q": ciphertext[:10]})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    response = client.get(url("llm_llmconfig_changelist"), {"o": "4"})  # the masked key column
    assert response.status_code == 200


def test_llm_config_changelist_query_count_is_constant(admin_client_logged_in):
    path = url("llm_llmconfig_changelist")
    LLMConfigFactory()
    with CaptureQueriesContext(connection) as one:
        admin_client_logged_in.get(path)
    LLMConfigFactory.create_batch(49)
    with CaptureQueriesContext(connection) as fifty:
        response = admin_client_logged_in.get(path)
    assert len(response.context["cl"].result_list) == 50
    assert len(fifty) == len(one)


def test_no_admin_exposes_a_secret_column(staff_user):
    request = RequestFactory().get("/admin/")
    request.user = staff_user
    for model, model_admin in admin.site._registry.items():
        names = [
            *model_admin.get_list_display(request),
            *model_admin.get_fields(request),
            *model_admin.get_readonly_fields(request),
            *model_admin.get_search_fields(request),
            *model_admin.get_ordering(request),
            *(model_admin.get_sortable_by(request) or ()),
            *(
                item if isinstance(item, str) else getattr(item, "parameter_name", str(item))
                for item in model_admin.get_list_filter(request)
            ),
        ]
        for secret in SECRET_COLUMNS:
            assert not [name for name in names if secret in str(name)], (model, secret)


# --- Agents -----------------------------------------------------------------

TOOLS = '["search_messages", "create_reminder"]'


def test_agent_pages_render(admin_client_logged_in):
    agent = AgentFactory(functions=["search_messages", "list_reminders"])
    client = admin_client_logged_in
    response = client.get(url("llm_agent_changelist"))
    assert response.status_code == 200
    assert agent.name in response.text
    response = client.get(url("llm_agent_change", agent.pk))
    assert response.status_code == 200
    assert "\n  &quot;search_messages&quot;," in response.text  # indented JSON
    assert client.get(url("llm_agent_add")).status_code == 200


def test_add_agent_with_functions(admin_client_logged_in):
    response = admin_client_logged_in.post(
        url("llm_agent_add"),
        {
            "name": "History bot",
            "model": "gpt-4o-mini",
            "system_prompt": "Answer about the user's history.",
            "functions": TOOLS,
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    agent = Agent.objects.get(name="History bot")
    assert agent.functions == ["search_messages", "create_reminder"]


@pytest.mark.parametrize(
    ("functions", "message"),
    [
        ('{"name": "x"}', "must be a JSON list of tool names"),
        ('[{"name": "search_messages"}]', "Item 1 must be a tool name"),
        ('["get_weather"]', "Unknown tool &#x27;get_weather&#x27;: choose from cancel_reminder"),
        ('["list_reminders", "list_reminders"]', "listed twice"),
        ("[{not json", "Enter a valid JSON"),
    ],
)
def test_agent_functions_are_validated(admin_client_logged_in, functions, message):
    response = admin_client_logged_in.post(
        url("llm_agent_add"), {"name": "Bad", "model": "gpt-4o-mini", "functions": functions}
    )
    assert response.status_code == 200
    assert message in response.text
    assert not Agent.objects.filter(name="Bad").exists()


# --- Provider call log ------------------------------------------------------


def test_action_log_pages_render(admin_client_logged_in):
    log = ActionLogFactory(
        request_summary={"endpoint": "models", "api_key_last4": "abcd"},
        response_summary={"http_status": 200},
    )
    client = admin_client_logged_in
    response = client.get(url("llm_actionlog_changelist"))
    assert response.status_code == 200
    assert log.user.phone_number in response.text
    response = client.get(url("llm_actionlog_change", log.pk))
    assert response.status_code == 200
    assert "&quot;http_status&quot;: 200" in response.text
    assert_no_key_material(
        response.text,
        plaintext=log.config.get_api_key(),
        ciphertext=stored_ciphertext(log.config_id),
    )


def test_action_logs_are_read_only(admin_client_logged_in):
    log = ActionLogFactory()
    client = admin_client_logged_in
    assert client.get(url("llm_actionlog_add")).status_code == 403
    assert client.post(url("llm_actionlog_change", log.pk), {}).status_code == 403
    assert ActionLog.objects.filter(pk=log.pk).exists()


def test_action_log_changelist_query_count_is_constant(admin_client_logged_in):
    path = url("llm_actionlog_changelist")
    ActionLogFactory()
    with CaptureQueriesContext(connection) as one:
        admin_client_logged_in.get(path)
    ActionLogFactory.create_batch(49)
    with CaptureQueriesContext(connection) as fifty:
        response = admin_client_logged_in.get(path)
    assert len(response.context["cl"].result_list) == 50
    assert len(fifty) == len(one)
