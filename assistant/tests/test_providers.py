"""assistant.providers.chat through the official SDKs, against a fake of the three
providers speaking their wire formats over real HTTP (fake_llm.py)."""

import base64
import itertools
import json
import logging
import time

import pytest

from assistant.providers import (
    ChatMessage,
    ChatRequest,
    ProviderError,
    ToolCall,
    ToolSpec,
    chat,
)
from assistant.providers.anthropic_messages import sdk_base_url
from assistant.providers.google_gemini import split_base_url
from assistant.tests.fake_llm import PREFIXES, Fail, Garbage, Slow, Text, tool_use
from core.testing.ports import unused_port_url

PROVIDERS = ["openai", "anthropic", "google"]
MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-sonnet-4-5",
    "google": "gemini-2.5-flash",
}
SYSTEM = "You are Zapa, a helpful WhatsApp assistant. Answer briefly."
HELLO = (ChatMessage("user", "Hello!"),)
WEATHER = ToolSpec(
    name="get_weather",
    description="The current weather in a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
CLOCK = ToolSpec(
    name="get_time",
    description="The local time in a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
SDK_LOGGERS = ("assistant", "openai", "anthropic", "google_genai", "httpx", "httpx2")


@pytest.fixture(autouse=True)
def no_key_in_any_log(caplog, fake_llm):
    """Every log record of every test, SDKs' and HTTP clients' included, at DEBUG level,
    is free of every key the fake handed out."""
    caplog.set_level(logging.DEBUG)
    for name in (*SDK_LOGGERS, "httpcore", "httpcore2"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield
    # At teardown `caplog.text` is the teardown's: read the test's own records.
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    records = caplog.get_records("setup") + caplog.get_records("call")
    if fake_llm.requests:
        assert records, "no log record at all: the leak check would prove nothing"
    text = "\n".join(formatter.format(record) for record in records)
    for key in fake_llm.valid_keys:
        assert key[:-4] not in text, "an API key reached the logs"


def ask(fake, provider, key, *, messages=HELLO, timeout=5.0, sleep=time.sleep, **kwargs):
    request = ChatRequest(model=MODELS[provider], system=SYSTEM, messages=messages, **kwargs)
    return chat(
        provider,
        api_key=key,
        request=request,
        base_url=fake.url(provider),
        timeout=timeout,
        sleep=sleep,
    )


def failing(fake, provider, key, **kwargs) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        ask(fake, provider, key, **kwargs)
    return caught.value


def key_sent(provider, recorded) -> str:
    """The key as the provider reads it from the request."""
    headers = recorded.headers
    bearer = headers.get("authorization", "").removeprefix("Bearer ")
    if provider == "openai":
        return bearer
    if provider == "anthropic":
        return headers.get("x-api-key") or bearer
    return headers.get("x-goog-api-key", "")


def gaps(requests) -> list[float]:
    return [b.received_at - a.received_at for a, b in itertools.pairwise(requests)]


# -- answers ------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_plain_text_answer_with_its_token_counts(fake_llm, provider):
    key = fake_llm.issue_key(provider)
    fake_llm.script(provider, Text("Hi! I am Zapa.", input_tokens=21, output_tokens=5))

    answer = ask(fake_llm, provider, key)

    assert answer.text == "Hi! I am Zapa."
    assert answer.tool_calls == ()
    assert (answer.input_tokens, answer.output_tokens) == (21, 5)
    assert answer.model == MODELS[provider]
    assert answer.attempts == 1
    assert 0 <= answer.latency_ms < 5000
    (recorded,) = fake_llm.requests_for(provider)
    assert recorded.path.startswith(PREFIXES[provider])
    assert key_sent(provider, recorded) == key
    assert "key" not in recorded.query  # never in a URL that could reach a log
    body = recorded.body
    if provider == "openai":
        assert body["model"] == MODELS[provider]
        assert body["messages"][-1] == {"role": "user", "content": "Hello!"}
    elif provider == "anthropic":
        assert recorded.headers["anthropic-version"]
        assert body["model"] == MODELS[provider]
        assert body["messages"] == [{"role": "user", "content": "Hello!"}]
    else:
        assert recorded.path == f"/google/v1beta/models/{MODELS[provider]}:generateContent"
        assert body["contents"] == [{"role": "user", "parts": [{"text": "Hello!"}]}]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_system_prompt_temperature_and_max_tokens_reach_the_provider(fake_llm, provider):
    key = fake_llm.issue_key(provider)

    ask(fake_llm, provider, key, temperature=0.2, max_tokens=300)

    (recorded,) = fake_llm.requests_for(provider)
    body = recorded.body
    if provider == "openai":
        assert body["messages"][0] == {"role": "system", "content": SYSTEM}
        assert body["temperature"] == 0.2
        assert body.get("max_completion_tokens", body.get("max_tokens")) == 300
    elif provider == "anthropic":
        assert body["system"] == SYSTEM
        assert all(m["role"] != "system" for m in body["messages"])
        assert body["max_tokens"] == 300
        # SDK 2.x has no sampling parameters: API version 2026-10-21 refuses them (400).
        assert "temperature" not in body
    else:
        assert body["systemInstruction"]["parts"] == [{"text": SYSTEM}]
        assert body["generationConfig"]["temperature"] == 0.2
        assert body["generationConfig"]["maxOutputTokens"] == 300


def test_anthropic_gets_a_default_max_tokens(fake_llm):
    key = fake_llm.issue_key("anthropic")

    ask(fake_llm, "anthropic", key)

    assert fake_llm.requests_for("anthropic")[0].body["max_tokens"] == 1024


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_tool_call_round_trip(fake_llm, provider):
    key = fake_llm.issue_key(provider)
    fake_llm.script(
        provider,
        tool_use(("get_weather", {"city": "Paris"}), ("get_time", {"city": "Paris"})),
        Text("Sunny, 21 °C; it is 14:05 in Paris.", input_tokens=60, output_tokens=14),
    )

    first = ask(fake_llm, provider, key, tools=(WEATHER, CLOCK))

    assert [(call.name, call.arguments) for call in first.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"city": "Paris"}),
    ]
    weather, clock = first.tool_calls
    assert weather.id and clock.id and weather.id != clock.id
    assert weather.arguments_error == clock.arguments_error == ""
    assert (first.input_tokens, first.output_tokens) == (31, 12)

    history = (
        *HELLO,
        ChatMessage("assistant", first.text, tool_calls=first.tool_calls),
        ChatMessage("tool", "sunny, 21 °C", tool_call_id=weather.id, tool_name="get_weather"),
        ChatMessage("tool", "14:05", tool_call_id=clock.id, tool_name="get_time"),
    )
    final = ask(fake_llm, provider, key, messages=history, tools=(WEATHER, CLOCK))

    assert final.text == "Sunny, 21 °C; it is 14:05 in Paris."
    assert final.tool_calls == ()
    assert (final.input_tokens, final.output_tokens) == (60, 14)
    asked, answered = (r.body for r in fake_llm.requests_for(provider))
    if provider == "openai":
        assert asked["tools"] == [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
            for tool in (WEATHER, CLOCK)
        ]
        assistant, *results = answered["messages"][2:]
        assert assistant["role"] == "assistant"
        assert [
            (c["id"], c["type"], c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in assistant["tool_calls"]
        ] == [
            (weather.id, "function", "get_weather", {"city": "Paris"}),
            (clock.id, "function", "get_time", {"city": "Paris"}),
        ]
        assert results == [
            {"role": "tool", "tool_call_id": weather.id, "content": "sunny, 21 °C"},
            {"role": "tool", "tool_call_id": clock.id, "content": "14:05"},
        ]
    elif provider == "anthropic":
        assert asked["tools"] == [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in (WEATHER, CLOCK)
        ]
        assistant, results = answered["messages"][1:]
        assert assistant["role"] == "assistant"
        thinking, *uses = assistant["content"]
        assert thinking["type"] == "thinking" and thinking["signature"]  # given back as got
        assert uses == [
            {
                "type": "tool_use",
                "id": weather.id,
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
            {"type": "tool_use", "id": clock.id, "name": "get_time", "input": {"city": "Paris"}},
        ]
        assert results == {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": weather.id, "content": "sunny, 21 °C"},
                {"type": "tool_result", "tool_use_id": clock.id, "content": "14:05"},
            ],
        }
    else:
        (tool,) = asked["tools"]
        assert [
            (
                d["name"],
                d["description"],
                d.get("parametersJsonSchema", d.get("parameters_json_schema")),
            )
            for d in tool["functionDeclarations"]
        ] == [(t.name, t.description, t.parameters) for t in (WEATHER, CLOCK)]
        model, results = answered["contents"][1:]
        assert model["role"] == "model"
        assert [part["functionCall"] for part in model["parts"]] == [
            {"name": "get_weather", "args": {"city": "Paris"}},
            {"name": "get_time", "args": {"city": "Paris"}},
        ]
        assert "thoughtSignature" in model["parts"][0]  # given back as got
        assert weather.id.startswith("call_")  # Gemini gave no id: made up, never sent
        assert results == {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "response": {"output": "sunny, 21 °C"},
                    }
                },
                {"functionResponse": {"name": "get_time", "response": {"output": "14:05"}}},
            ],
        }


def test_call_ids_gemini_gives_are_echoed_back(fake_llm):
    key = fake_llm.issue_key("google")
    fake_llm.script("google", tool_use(("get_weather", {"city": "Lima"}), native_ids=True))
    first = ask(fake_llm, "google", key, tools=(WEATHER,))
    (call,) = first.tool_calls
    sent_part = json.loads(fake_llm.responses[-1][1])["candidates"][0]["content"]["parts"][0]
    assert call.id == sent_part["functionCall"]["id"]

    history = (
        *HELLO,
        ChatMessage("assistant", tool_calls=first.tool_calls),
        ChatMessage("tool", "cloudy", tool_call_id=call.id, tool_name="get_weather"),
    )
    ask(fake_llm, "google", key, messages=history, tools=(WEATHER,))

    contents = fake_llm.requests_for("google")[-1].body["contents"]
    assert contents[1]["parts"][0]["functionCall"]["id"] == call.id
    assert contents[2]["parts"][0]["functionResponse"]["id"] == call.id


def test_a_gemini_call_from_elsewhere_gets_the_signature_bypass(fake_llm):
    """History Zapa rebuilt itself has no thought signature: Gemini 3 would refuse it,
    so the first call carries Google's documented bypass value."""
    key = fake_llm.issue_key("google")
    call = ToolCall("call_1", "get_weather", {"city": "Oslo"})
    history = (
        *HELLO,
        ChatMessage("assistant", tool_calls=(call,)),
        ChatMessage("tool", "snow", tool_call_id="call_1", tool_name="get_weather"),
    )

    answer = ask(fake_llm, "google", key, messages=history, tools=(WEATHER,))

    assert answer.text
    (part,) = fake_llm.requests_for("google")[0].body["contents"][1]["parts"]
    raw = part["thoughtSignature"]
    assert base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)) == (
        b"skip_thought_signature_validator"
    )


def test_anthropic_refuses_a_tool_call_given_back_without_its_thinking(fake_llm):
    """Why ToolCall.provider_state exists: the real API answers 400 without it."""
    key = fake_llm.issue_key("anthropic")
    fake_llm.script("anthropic", tool_use(("get_weather", {"city": "Rome"})))
    (call,) = ask(fake_llm, "anthropic", key, tools=(WEATHER,)).tool_calls
    stripped = ToolCall(call.id, call.name, call.arguments)
    history = (
        *HELLO,
        ChatMessage("assistant", tool_calls=(stripped,)),
        ChatMessage("tool", "hot", tool_call_id=call.id, tool_name="get_weather"),
    )

    error = failing(fake_llm, "anthropic", key, messages=history, tools=(WEATHER,))

    assert error.kind == "bad_request"
    assert "thinking" in error.message


def test_invalid_json_arguments_become_an_empty_dict_with_the_reason(fake_llm):
    key = fake_llm.issue_key("openai")
    fake_llm.script(
        "openai",
        tool_use(("get_weather", '{"city": "Par'), ("get_time", '["Paris"]'), thinking=False),
    )

    answer = ask(fake_llm, "openai", key, tools=(WEATHER, CLOCK))

    broken, listed = answer.tool_calls
    assert (broken.name, broken.arguments) == ("get_weather", {})
    assert "not valid JSON" in broken.arguments_error
    assert (listed.name, listed.arguments) == ("get_time", {})
    assert "not an object" in listed.arguments_error


# -- retries ------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_429_with_retry_after_is_waited_out_then_retried(fake_llm, provider):
    key = fake_llm.issue_key(provider)
    fake_llm.script(provider, Fail(429, retry_after=1), Text("Back again."))

    started = time.monotonic()
    answer = ask(fake_llm, provider, key)

    assert answer.text == "Back again."
    assert answer.attempts == 2
    assert time.monotonic() - started >= 1.0
    requests = fake_llm.requests_for(provider)
    assert len(requests) == 2
    assert gaps(requests)[0] >= 1.0
    assert answer.latency_ms >= 1000


def test_google_retry_info_is_honoured_without_a_retry_after_header(fake_llm):
    key = fake_llm.issue_key("google")
    fake_llm.script("google", Fail(429, retry_after=1, header=False), Text("ok"))
    waits = []

    answer = ask(fake_llm, "google", key, sleep=waits.append)

    assert answer.attempts == 2
    assert waits == [1.0]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_retry_after_above_20_seconds_gives_up_at_once(fake_llm, provider):
    key = fake_llm.issue_key(provider)
    fake_llm.script(provider, Fail(429, retry_after=60))
    waits = []

    error = failing(fake_llm, provider, key, sleep=waits.append)

    assert (error.kind, error.status_code, error.attempts) == ("rate_limited", 429, 1)
    assert waits == []
    assert len(fake_llm.requests_for(provider)) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_two_server_errors_then_success(fake_llm, provider):
    key = fake_llm.issue_key(provider)
    fake_llm.script(provider, Fail(500), Fail(500), Text("Third time lucky."))

    answer = ask(fake_llm, provider, key)

    assert answer.text == "Third time lucky."
    assert answer.attempts == 3
    first_wait, second_wait = gaps(fake_llm.requests_for(provider))
    assert first_wait >= 0.5
    assert second_wait >= 1.0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_three_server_errors_make_it_unavailable(fake_llm, provider):
    key = fake_llm.issue_key(provider)
    fake_llm.script(provider, Fail(500), Fail(500), Fail(500), Text("too late"))

    error = failing(fake_llm, provider, key)

    assert (error.kind, error.status_code, error.attempts) == ("unavailable", 500, 3)
    assert error.provider == provider
    assert len(fake_llm.requests_for(provider)) == 3


@pytest.mark.parametrize(
    ("provider", "script", "waits"),
    [
        ("openai", [Fail(500), Fail(503)], [0.5, 1.0]),
        ("anthropic", [Fail(529), Fail(500)], [0.5, 1.0]),
        ("google", [Fail(503), Fail(500)], [0.5, 1.0]),
        ("openai", [Fail(429, retry_after=2)], [2.0]),
        ("anthropic", [Fail(429)], [0.5]),
        ("google", [Fail(429, retry_after=0)], [0.0]),
    ],
)
def test_the_waits_between_attempts(fake_llm, provider, script, waits):
    key = fake_llm.issue_key(provider)
    fake_llm.script(provider, *script, Text("ok"))
    recorded = []

    answer = ask(fake_llm, provider, key, sleep=recorded.append)

    assert recorded == waits
    assert answer.attempts == len(waits) + 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_unreachable_provider_is_unavailable_after_three_attempts(fake_llm, provider):
    waits = []
    request = ChatRequest(model=MODELS[provider], system=SYSTEM, messages=HELLO)

    with pytest.raises(ProviderError) as caught:
        chat(
            provider,
            api_key=fake_llm.issue_key(provider),
            request=request,
            base_url=unused_port_url() + PREFIXES[provider],
            timeout=2,
            sleep=waits.append,
        )

    assert (caught.value.kind, caught.value.attempts) == ("unavailable", 3)
    assert waits == [0.5, 1.0]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_slow_provider_times_out_on_every_attempt(fake_llm, provider):
    key = fake_llm.issue_key(provider)
    fake_llm.script(provider, Slow(2), Slow(2), Slow(2))

    started = time.monotonic()
    error = failing(fake_llm, provider, key, timeout=0.5)

    assert (error.kind, error.status_code, error.attempts) == ("timeout", None, 3)
    assert "0.5 s" in error.message
    assert len(fake_llm.requests_for(provider)) == 3
    assert time.monotonic() - started >= 2.9  # 3 x 0.5 s of timeout, 0.5 s + 1 s of backoff


@pytest.mark.parametrize("provider", PROVIDERS)
def test_one_timeout_then_a_quick_answer(fake_llm, provider):
    key = fake_llm.issue_key(provider)
    fake_llm.script(provider, Slow(2), Text("Here now."))

    answer = ask(fake_llm, provider, key, timeout=0.5)

    assert (answer.text, answer.attempts) == ("Here now.", 2)


# -- failures that are not retried --------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_rejected_key_fails_at_once_and_never_shows_the_key(fake_llm, caplog, provider, status):
    key = fake_llm.issue_key(provider)
    fake_llm.script(provider, Fail(status), Text("never asked for"))

    error = failing(fake_llm, provider, key)

    assert error.kind == "rejected_key"
    assert error.attempts == 1
    # Google answers a bad key with 400 API_KEY_INVALID, a suspended one with 403.
    expected = 400 if (provider, status) == ("google", 401) else status
    assert error.status_code == expected
    assert len(fake_llm.requests_for(provider)) == 1
    assert key in fake_llm.responses[-1][1], "the fake must echo the key for this to prove much"
    assert "[redacted]" in error.message
    for text in (error.message, str(error), repr(error), caplog.text):
        assert key not in text
        assert key[:-4] not in text
    assert error.__cause__ is None and error.__context__ is None


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_key_the_provider_does_not_know_is_rejected(fake_llm, provider):
    key = fake_llm.issue_key(provider)
    fake_llm.valid_keys.discard(key)

    error = failing(fake_llm, provider, key)

    assert (error.kind, error.attempts) == ("rejected_key", 1)
    assert key not in repr(error)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_bad_request_fails_at_once(fake_llm, provider):
    key = fake_llm.issue_key(provider)
    fake_llm.script(provider, Fail(400), Text("never asked for"))

    error = failing(fake_llm, provider, key)

    assert (error.kind, error.status_code, error.attempts) == ("bad_request", 400, 1)
    assert "temperature" in error.message  # the provider's own words
    assert len(fake_llm.requests_for(provider)) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_unreadable_answer_is_a_bad_response(fake_llm, provider):
    key = fake_llm.issue_key(provider)
    fake_llm.script(provider, Garbage(), Text("never asked for"))

    error = failing(fake_llm, provider, key)

    assert (error.kind, error.attempts) == ("bad_response", 1)


@pytest.mark.parametrize("key", ["", "sk-proj-é", "AIza\nsecret"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_key_no_provider_can_accept_is_rejected_without_a_request(fake_llm, provider, key):
    error = failing(fake_llm, provider, key)

    assert (error.kind, error.attempts) == ("rejected_key", 0)
    assert fake_llm.requests == []
    if key:
        assert key not in repr(error)


def test_an_unknown_provider_is_a_programming_error(fake_llm):
    request = ChatRequest(model="m", system="", messages=HELLO)
    with pytest.raises(ValueError, match="unknown LLM provider"):
        chat("mistral", api_key="k", request=request, base_url="http://x", timeout=1)


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_base_url_and_timeout_default_to_the_settings(fake_llm, settings, provider):
    settings.LLM_PROVIDER_BASE_URLS = fake_llm.base_urls()
    settings.LLM_PROVIDER_TIMEOUT = 0.5
    key = fake_llm.issue_key(provider)
    fake_llm.script(provider, Slow(2), Slow(2), Slow(2))
    request = ChatRequest(model=MODELS[provider], system=SYSTEM, messages=HELLO)

    with pytest.raises(ProviderError) as caught:
        chat(provider, api_key=key, request=request, sleep=lambda seconds: None)

    assert caught.value.kind == "timeout"
    assert "0.5 s" in caught.value.message
    assert len(fake_llm.requests_for(provider)) == 3


def test_each_sdk_gets_the_base_url_its_way():
    assert sdk_base_url("https://api.anthropic.com/v1") == "https://api.anthropic.com"
    assert sdk_base_url("http://127.0.0.1:9/anthropic/v1/") == "http://127.0.0.1:9/anthropic"
    assert split_base_url("https://generativelanguage.googleapis.com/v1beta") == (
        "https://generativelanguage.googleapis.com/",
        "v1beta",
    )
    assert split_base_url("http://127.0.0.1:9/google/v1") == ("http://127.0.0.1:9/google/", "v1")
    assert split_base_url("https://proxy.example/gemini") == (
        "https://proxy.example/gemini/",
        "v1beta",
    )
