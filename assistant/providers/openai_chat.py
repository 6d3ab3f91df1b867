"""OpenAI Chat Completions through the official `openai` SDK, with native tool calling.

- Base URL: the setting as is, `/v1` included (`https://api.openai.com/v1`); the SDK
  appends `chat/completions`. The key travels as `Authorization: Bearer`.
- The SDK's own retries are off (`max_retries=0`): `assistant.providers.chat` retries.
- `max_tokens` goes out as `max_completion_tokens` (the SDK marks `max_tokens` deprecated
  and o-series models refuse it).
- The request goes out through the SDK client's `post` (the SDK's documented way to call
  an endpoint with a body of your own), with the SDK's own response model.
- Tool calls come back with `arguments` as a JSON string the model wrote; invalid JSON
  becomes {} with `arguments_error` set, never an exception.
"""

import json
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    Failure,
    ToolCall,
    sdk_failure,
)
from assistant.providers.http import sdk_http_client

LABEL = "OpenAI"


def parse_arguments(raw: Any) -> tuple[dict, str]:
    """The arguments as a dict, and why they are {} when they could not be read."""
    if isinstance(raw, dict):
        return raw, ""
    if not raw:
        return {}, ""
    try:
        value = json.loads(raw)
    except (TypeError, ValueError) as exc:
        return {}, f"arguments are not valid JSON ({type(exc).__name__}: {exc})"
    if not isinstance(value, dict):
        return {}, f"arguments are a JSON {type(value).__name__}, not an object"
    return value, ""


def _message(message: ChatMessage) -> dict:
    if message.role == "user":
        return {"role": "user", "content": message.text}
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.text}
    if message.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": message.text or None}
        if message.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": call.name,
                        "arguments": json.dumps(call.arguments, ensure_ascii=False),
                    },
                }
                for call in message.tool_calls
            ]
        return out
    raise ValueError(f"unknown message role {message.role!r}")


def build_params(request: ChatRequest) -> dict[str, Any]:
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages += [_message(message) for message in request.messages]
    params: dict[str, Any] = {"model": request.model, "messages": messages}
    if request.tools:
        params["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
            for tool in request.tools
        ]
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.max_tokens is not None:
        params["max_completion_tokens"] = request.max_tokens
    return params


def read_completion(completion: Any, request: ChatRequest) -> ChatResponse:
    if not completion.choices:
        raise ValueError("the completion has no choices")
    message = completion.choices[0].message
    calls = []
    for tool_call in message.tool_calls or ():
        function = getattr(tool_call, "function", None)
        if function is None:  # a custom (non-function) tool call: Zapa declares none
            continue
        arguments, problem = parse_arguments(function.arguments)
        calls.append(ToolCall(tool_call.id, function.name, arguments, arguments_error=problem))
    usage = completion.usage
    return ChatResponse(
        text=message.content or message.refusal or "",
        tool_calls=tuple(calls),
        input_tokens=(usage.prompt_tokens or 0) if usage else 0,
        output_tokens=(usage.completion_tokens or 0) if usage else 0,
        model=completion.model or request.model,
        attempts=1,
        latency_ms=0,
    )


class Adapter:
    label = LABEL

    def __init__(self, *, api_key: str, base_url: str, timeout: float):
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=sdk_http_client(),
        )

    @staticmethod
    def prepare(request: ChatRequest) -> dict[str, Any]:
        return build_params(request)

    def send(self, params: dict[str, Any], request: ChatRequest) -> ChatResponse:
        # What `chat.completions.create(**params)` ends up doing, without its first step: a
        # typed walk over the whole body, ~5 ms of CPU for 20 messages and 7 tools, which
        # changes nothing in a body `build_params` already wrote in wire form.
        completion = self._client.post(
            "/chat/completions",
            body=params,
            cast_to=ChatCompletion,
            options={"security": {"bearer_auth": True}},
        )
        return read_completion(completion, request)

    @staticmethod
    def failure(exc: Exception) -> Failure | None:
        return sdk_failure(exc, openai, "a chat completion", openai.OpenAIError)
