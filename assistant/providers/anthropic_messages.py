"""Anthropic Messages through the official `anthropic` SDK, with native tool calling.

- Base URL: the SDK's is the host WITHOUT `/v1` (it posts to `/v1/messages`), so the
  setting's trailing `/v1` is cut off.
- The SDK (2.x) sends the key as `Authorization: Bearer <key>` (no `x-api-key`) and
  `anthropic-version: 2026-10-21`. It has no `temperature` (nor top_p/top_k) any more:
  API version 2026-10-21 answers 400 to any sampling parameter, so
  `ChatRequest.temperature` is not sent to Anthropic.
- `max_tokens` is required: 1024 when the request gives none.
- The SDK's own retries are off (`max_retries=0`): `assistant.providers.chat` retries.
- Tool calls are `tool_use` blocks; results go back as `tool_result` blocks in a user
  message (consecutive results share one message). Thinking blocks that came with tool
  calls ride on the first ToolCall's `provider_state` and are sent back first in that
  assistant message, as the API demands when thinking is on.
"""

import json
from typing import Any

import anthropic

from assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    Failure,
    ToolCall,
    sdk_failure,
)
from assistant.providers.http import sdk_http_client

LABEL = "Anthropic"
DEFAULT_MAX_TOKENS = 1024
_THINKING_TYPES = ("thinking", "redacted_thinking")


def sdk_base_url(base_url: str) -> str:
    """`https://api.anthropic.com/v1` -> `https://api.anthropic.com` (the SDK adds /v1)."""
    base_url = base_url.rstrip("/")
    return base_url.removesuffix("/v1")


def _thinking_blocks(call: ToolCall) -> list[dict]:
    if not call.provider_state:
        return []
    try:
        blocks = json.loads(call.provider_state).get("thinking", [])
    except (ValueError, AttributeError):
        return []
    return [b for b in blocks if isinstance(b, dict) and b.get("type") in _THINKING_TYPES]


def _content(message: ChatMessage) -> tuple[str, list[dict]]:
    if message.role == "user":
        return "user", [{"type": "text", "text": message.text}] if message.text else []
    if message.role == "tool":
        return "user", [
            {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.text}
        ]
    if message.role == "assistant":
        blocks = _thinking_blocks(message.tool_calls[0]) if message.tool_calls else []
        if message.text:
            blocks.append({"type": "text", "text": message.text})
        blocks += [
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
            for call in message.tool_calls
        ]
        return "assistant", blocks
    raise ValueError(f"unknown message role {message.role!r}")


def build_messages(messages: tuple[ChatMessage, ...]) -> list[dict]:
    """The Messages API's list: consecutive same-role messages merge into one (tool
    results of one turn must share a user message), plain text stays a string."""
    out: list[dict] = []
    for message in messages:
        role, blocks = _content(message)
        if out and out[-1]["role"] == role:
            out[-1]["content"] += blocks
        else:
            out.append({"role": role, "content": blocks})
    for item in out:
        blocks = item["content"]
        if all(block["type"] == "text" for block in blocks):
            item["content"] = "\n\n".join(block["text"] for block in blocks)
    return out


def build_params(request: ChatRequest) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": build_messages(request.messages),
    }
    if request.system:
        params["system"] = request.system
    if request.tools:
        params["tools"] = [
            {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
            for tool in request.tools
        ]
    return params


def read_message(message: Any, request: ChatRequest) -> ChatResponse:
    texts, calls, thinking = [], [], []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type in _THINKING_TYPES:
            thinking.append(block.model_dump(mode="json", exclude_none=True))
        elif block.type == "tool_use":
            arguments, problem = block.input, ""
            if not isinstance(arguments, dict):
                arguments, problem = {}, "tool input is not a JSON object"
            calls.append(ToolCall(block.id, block.name, arguments, arguments_error=problem))
    if calls and thinking:
        first = calls[0]
        state = json.dumps({"thinking": thinking})
        calls[0] = ToolCall(
            first.id, first.name, first.arguments, first.arguments_error, provider_state=state
        )
    usage = message.usage
    return ChatResponse(
        text="".join(texts),
        tool_calls=tuple(calls),
        input_tokens=usage.input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
        model=message.model or request.model,
        attempts=1,
        latency_ms=0,
    )


class Adapter:
    label = LABEL

    def __init__(self, *, api_key: str, base_url: str, timeout: float):
        self._client = anthropic.Anthropic(
            api_key=api_key,
            base_url=sdk_base_url(base_url),
            timeout=timeout,
            max_retries=0,
            http_client=sdk_http_client(),
        )

    @staticmethod
    def prepare(request: ChatRequest) -> dict[str, Any]:
        return build_params(request)

    def send(self, params: dict[str, Any], request: ChatRequest) -> ChatResponse:
        return read_message(self._client.messages.create(**params), request)

    @staticmethod
    def failure(exc: Exception) -> Failure | None:
        return sdk_failure(exc, anthropic, "a message", anthropic.AnthropicError)
