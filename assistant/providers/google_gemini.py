"""Gemini generateContent through the official `google-genai` SDK, with native function
calling.

- Base URL: the SDK takes the host and the API version apart,
  `HttpOptions(base_url="https://generativelanguage.googleapis.com/", api_version="v1beta")`,
  and posts to `{base_url}{api_version}/models/{model}:generateContent`; both come from
  the one setting (`.../v1beta`). `enterprise=False` so no environment variable can
  switch the client to Vertex AI. The key travels as `x-goog-api-key`.
- The SDK retries only when given `HttpOptions.retry_options`; none is given, so it makes
  one attempt and `assistant.providers.chat` retries. Its timeout is in milliseconds.
- The system prompt is `config.system_instruction`; tools are function declarations with
  `parameters_json_schema` (plain JSON schema); automatic function calling is off.
- Gemini may give calls no id: one is made up (`call_<hex>`) and never sent back; ids
  Gemini gave are echoed in `function_call` and `function_response`.
- Gemini 3 rejects a replayed function call without its `thought_signature`: it rides on
  the ToolCall's `provider_state`. Calls that lack one (history not from this module)
  get Google's documented bypass value, so the request still validates.
"""

import base64
import json
import re
import secrets
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import httpx2
import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    Failure,
    ToolCall,
    error_message,
    kind_for_status,
    retry_after_seconds,
)
from assistant.providers.http import sdk_async_http_client, sdk_http_client

LABEL = "Google Gemini"
DEFAULT_API_VERSION = "v1beta"
SKIP_SIGNATURE = b"skip_thought_signature_validator"
_VERSION = re.compile(r"v\d+(?:(?:alpha|beta)\d*)?")
_TIMEOUTS = (httpx.TimeoutException, httpx2.TimeoutException)
_TRANSPORT_ERRORS = (httpx.TransportError, httpx2.TransportError)


def split_base_url(base_url: str) -> tuple[str, str]:
    """`https://host/v1beta` -> (`https://host/`, `v1beta`); no version -> DEFAULT_API_VERSION."""
    parts = urlsplit(base_url.rstrip("/"))
    head, _, last = parts.path.rpartition("/")
    if _VERSION.fullmatch(last):
        return urlunsplit(parts._replace(path=head + "/")), last
    return urlunsplit(parts._replace(path=parts.path + "/")), DEFAULT_API_VERSION


def _state(call: ToolCall) -> dict:
    try:
        state = json.loads(call.provider_state) if call.provider_state else {}
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def _model_content(message: ChatMessage) -> types.Content | None:
    parts = [types.Part(text=message.text)] if message.text else []
    states = [_state(call) for call in message.tool_calls]
    signed = any(state.get("sig") for state in states)
    for n, (call, state) in enumerate(zip(message.tool_calls, states, strict=True)):
        signature = base64.b64decode(state["sig"]) if state.get("sig") else None
        if n == 0 and not signed and not state:
            signature = SKIP_SIGNATURE  # not from this module: Gemini 3 needs a value
        function_call = types.FunctionCall(id=state.get("id"), name=call.name, args=call.arguments)
        parts.append(types.Part(function_call=function_call, thought_signature=signature))
    return types.Content(role="model", parts=parts) if parts else None


def build_contents(messages: tuple[ChatMessage, ...]) -> list[types.Content]:
    contents: list[types.Content] = []
    calls: dict[str, ToolCall] = {}
    previous_role = ""
    for message in messages:
        if message.role == "user":
            contents.append(types.Content(role="user", parts=[types.Part(text=message.text)]))
        elif message.role == "assistant":
            calls.update((call.id, call) for call in message.tool_calls)
            content = _model_content(message)
            if content is not None:
                contents.append(content)
        elif message.role == "tool":
            call = calls.get(message.tool_call_id)
            response = types.FunctionResponse(
                id=_state(call).get("id") if call else None,
                name=message.tool_name or (call.name if call else ""),
                response={"output": message.text},
            )
            part = types.Part(function_response=response)
            if previous_role == "tool":  # one turn's results share one content
                contents[-1].parts.append(part)
            else:
                contents.append(types.Content(role="user", parts=[part]))
        else:
            raise ValueError(f"unknown message role {message.role!r}")
        previous_role = message.role
    return contents


def build_config(request: ChatRequest) -> types.GenerateContentConfig:
    tools = None
    if request.tools:
        declarations = [
            types.FunctionDeclaration(
                name=tool.name,
                description=tool.description,
                parameters_json_schema=tool.parameters,
            )
            for tool in request.tools
        ]
        tools = [types.Tool(function_declarations=declarations)]
    return types.GenerateContentConfig(
        system_instruction=request.system or None,
        temperature=request.temperature,
        max_output_tokens=request.max_tokens,
        tools=tools,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


def read_response(response: Any, request: ChatRequest) -> ChatResponse:
    texts, calls = [], []
    candidate = response.candidates[0] if response.candidates else None
    parts = (candidate.content.parts if candidate and candidate.content else None) or []
    for part in parts:
        if part.function_call is not None:
            native_id = part.function_call.id
            state: dict[str, Any] = {"id": native_id} if native_id else {"made_up_id": True}
            if part.thought_signature:
                state["sig"] = base64.b64encode(part.thought_signature).decode("ascii")
            arguments = part.function_call.args
            problem = "" if isinstance(arguments, dict) else "arguments are not a JSON object"
            calls.append(
                ToolCall(
                    id=native_id or f"call_{secrets.token_hex(6)}",
                    name=part.function_call.name or "",
                    arguments=arguments if isinstance(arguments, dict) else {},
                    arguments_error=problem if arguments is not None else "",
                    provider_state=json.dumps(state),
                )
            )
        elif part.text and not part.thought:
            texts.append(part.text)
    usage = response.usage_metadata
    output_tokens = 0
    if usage:  # thinking tokens are billed as output, like OpenAI's and Anthropic's
        output_tokens = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
    return ChatResponse(
        text="".join(texts),
        tool_calls=tuple(calls),
        input_tokens=(usage.prompt_token_count or 0) if usage else 0,
        output_tokens=output_tokens,
        model=response.model_version or request.model,
        attempts=1,
        latency_ms=0,
    )


def _key_rejected(body: Any) -> bool:
    """Google answers a bad key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID."""
    error = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return False
    details = error.get("details")
    reasons = {d.get("reason") for d in details if isinstance(d, dict)} if details else set()
    return "API_KEY_INVALID" in reasons or "API key" in str(error.get("message", ""))


def _retry_delay(body: Any) -> float | None:
    """google.rpc.RetryInfo's `retryDelay` ("1s", "37.5s") in a 429 body."""
    error = body.get("error", body) if isinstance(body, dict) else None
    for detail in (error.get("details") or []) if isinstance(error, dict) else []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(float(delay[:-1]), 0.0)
            except ValueError:
                return None
    return None


class Adapter:
    label = LABEL

    def __init__(self, *, api_key: str, base_url: str, timeout: float):
        root, version = split_base_url(base_url)
        options = types.HttpOptions(
            base_url=root,
            api_version=version,
            timeout=max(int(timeout * 1000), 1),
            httpx_client=sdk_http_client(),
            httpx_async_client=sdk_async_http_client(),
        )
        self._client = genai.Client(enterprise=False, api_key=api_key, http_options=options)

    @staticmethod
    def prepare(request: ChatRequest) -> tuple[list[types.Content], types.GenerateContentConfig]:
        return build_contents(request.messages), build_config(request)

    def send(self, prepared: tuple, request: ChatRequest) -> ChatResponse:
        contents, config = prepared
        response = self._client.models.generate_content(
            model=request.model, contents=contents, config=config
        )
        return read_response(response, request)

    @staticmethod
    def failure(exc: Exception) -> Failure | None:
        if isinstance(exc, genai_errors.APIError):
            status = int(exc.code or 0)
            body = exc.details
            kind = kind_for_status(status)
            if status == 400 and _key_rejected(body):
                kind = "rejected_key"
            retry_after = None
            if status == 429:
                headers = getattr(exc.response, "headers", None)
                retry_after = retry_after_seconds(headers)
                if retry_after is None:
                    retry_after = _retry_delay(body)
            detail = error_message(body) or str(exc.message or "") or f"HTTP {status}"
            return Failure(kind, status or None, detail, retry_after)
        if isinstance(exc, _TIMEOUTS):
            return Failure("timeout")
        if isinstance(exc, _TRANSPORT_ERRORS):
            return Failure("unavailable", detail=type(exc).__name__)
        if isinstance(exc, (pydantic.ValidationError, ValueError, AttributeError, TypeError)):
            return Failure("bad_response", detail=f"not a Gemini response: {type(exc).__name__}")
        return None
