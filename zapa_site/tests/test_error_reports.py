"""Error reports (the DEBUG page and 500 e-mails) never show an API key."""

import secrets
import sys

import pytest
from django.views.debug import ExceptionReporter

from llm import services
from llm.models import Provider
from llm.tests.factories import LLMConfigFactory


def _report_of(func, http_request, **kwargs) -> str:
    try:
        func(**kwargs)
    except Exception:
        exc_type, exc_value, tb = sys.exc_info()
        # Drop this helper's own frame: it holds the arguments a server frame would not.
        return ExceptionReporter(http_request, exc_type, exc_value, tb.tb_next).get_traceback_html()
    raise AssertionError("expected the call to fail")


@pytest.mark.django_db
def test_a_crash_while_storing_a_key_does_not_show_it(monkeypatch, rf):
    config = LLMConfigFactory(provider=Provider.OPENAI)
    # Built at run time: the report quotes source lines, so a literal would show up there.
    plaintext = "sk-" + secrets.token_urlsafe(24)

    def broken_encrypt(plaintext):
        raise RuntimeError("key ring unavailable")

    monkeypatch.setattr("llm.crypto.encrypt", broken_encrypt)
    request = rf.post("/api/v1/llm/configs/", {"api_key": plaintext, "provider": "openai"})
    report = _report_of(
        services.llm_config_set_key, request, config=config, api_key=plaintext, request=None
    )
    assert "key ring unavailable" in report
    assert "llm_config_set_key" in report
    assert plaintext not in report


def test_nested_secrets_in_frame_variables_and_post_parameters_are_hidden(rf):
    secret = "sk-" + secrets.token_urlsafe(24)
    code = str(secrets.randbelow(900000) + 100000)

    def handler(payload):
        raise ValueError("boom")

    request = rf.post("/x/", {"code": code, "display_name": "Ana"})
    report = _report_of(
        handler,
        request,
        payload={"provider": "openai", "api_key": secret, "inner": {"token": secret}},
    )
    assert "boom" in report
    assert secret not in report
    assert f"&#x27;{code}&#x27;" not in report and f"'{code}'" not in report
    assert "Ana" in report  # ordinary values stay readable
