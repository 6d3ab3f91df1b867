"""The three providers' wire formats for `fake_llm`: answers, error bodies, keys, and the
400s the real APIs give to a malformed conversation."""

import base64
import itertools
import json
import re
import secrets
import string
import time
from typing import Any

_ALPHANUM = string.ascii_letters + string.digits
_counter = itertools.count()


def random_id(length: int) -> str:
    return "".join(secrets.choice(_ALPHANUM) for _ in range(length))


def new_key(provider: str) -> str:
    """A fresh, well-formed, unique key for `provider`."""
    n = next(_counter)
    if provider == "openai":
        return f"sk-proj-{random_id(40)}{n:06d}"
    if provider == "anthropic":
        return f"sk-ant-api03-{random_id(80)}{n:06d}-AA"
    return f"AIza{random_id(29)}{n:06d}"


def headers(provider: str) -> dict[str, str]:
    if provider == "openai":
        return {"x-request-id": f"req_{secrets.token_hex(16)}", "openai-processing-ms": "321"}
    if provider == "anthropic":
        return {"request-id": f"req_011C{random_id(20)}", "anthropic-organization-id": "org-1"}
    return {"server": "scaffolding on HTTPServer2", "x-gemini-service-tier": "standard"}


# -- answers ------------------------------------------------------------------------------


def _arguments_text(arguments: dict | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def openai_completion(model: str, answer) -> dict:
    calls = getattr(answer, "calls", ())
    message: dict[str, Any] = {
        "role": "assistant",
        "content": answer.text or None,
        "refusal": None,
        "annotations": [],
    }
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{random_id(24)}",
                "type": "function",
                "function": {"name": name, "arguments": _arguments_text(arguments)},
            }
            for name, arguments in calls
        ]
    return {
        "id": f"chatcmpl-{random_id(29)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": answer.input_tokens,
            "completion_tokens": answer.output_tokens,
            "total_tokens": answer.input_tokens + answer.output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": f"fp_{secrets.token_hex(5)}",
    }


def anthropic_message(model: str, answer) -> dict:
    calls = getattr(answer, "calls", ())
    content: list[dict] = []
    if calls and answer.thinking:
        signature = base64.b64encode(secrets.token_bytes(96)).decode()
        content.append(
            {"type": "thinking", "thinking": "I should use the tool.", "signature": signature}
        )
    if answer.text:
        content.append({"type": "text", "text": answer.text})
    for name, arguments in calls:
        content.append(
            {"type": "tool_use", "id": f"toolu_01{random_id(22)}", "name": name, "input": arguments}
        )
    return {
        "id": f"msg_01{random_id(22)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if calls else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": answer.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": answer.output_tokens,
            "service_tier": "standard",
        },
    }


def gemini_response(model: str, answer) -> dict:
    calls = getattr(answer, "calls", ())
    thinking = bool(calls) and answer.thinking
    parts: list[dict] = [{"text": answer.text}] if answer.text else []
    for n, (name, arguments) in enumerate(calls):
        call: dict[str, Any] = {"name": name, "args": arguments}
        if answer.native_ids:
            call["id"] = random_id(8).lower()
        part: dict[str, Any] = {"functionCall": call}
        if thinking and n == 0:  # parallel calls: only the first part carries it
            part["thoughtSignature"] = base64.b64encode(secrets.token_bytes(64)).decode()
        parts.append(part)
    thoughts = 5 if thinking else 0
    usage: dict[str, Any] = {
        "promptTokenCount": answer.input_tokens,
        "candidatesTokenCount": answer.output_tokens - thoughts,
        "totalTokenCount": answer.input_tokens + answer.output_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": answer.input_tokens}],
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return {
        "candidates": [
            {"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": random_id(22),
    }


# -- errors -------------------------------------------------------------------------------


def openai_error(message: str, type_: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def anthropic_error(type_: str, message: str) -> dict:
    return {
        "type": "error",
        "error": {"type": type_, "message": message},
        "request_id": f"req_011C{random_id(20)}",
    }


def google_error(code: int, status: str, message: str, details: list | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def rejection(provider: str, status: int, key: str) -> tuple[int, dict]:
    """The provider's answer to a key it refuses, echoing the key (worst case)."""
    if provider == "openai":
        if status == 403:
            return 403, openai_error(
                f"The API key {key} belongs to a project that has no access to this model.",
                "invalid_request_error",
                "model_not_found",
            )
        return 401, openai_error(
            f"Incorrect API key provided: {key}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        )
    if provider == "anthropic":
        if status == 403:
            return 403, anthropic_error(
                "permission_error", f"API key {key} does not have permission to use this model."
            )
        return 401, anthropic_error("authentication_error", f"invalid x-api-key: {key}")
    if status == 403:
        return 403, google_error(
            403,
            "PERMISSION_DENIED",
            f"Permission denied: Consumer 'api_key:{key}' has been suspended.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "CONSUMER_SUSPENDED",
                    "domain": "googleapis.com",
                    "metadata": {"consumer": f"api_key:{key}"},
                }
            ],
        )
    # Google answers a bad key with 400, never 401.
    return 400, google_error(
        400,
        "INVALID_ARGUMENT",
        f"API key not valid. Please pass a valid API key. (api_key:{key})",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    )


def rate_limited(provider: str, retry_after: float | None) -> dict:
    if provider == "openai":
        return openai_error(
            "Rate limit reached for gpt-4o-mini in organization org-fake on requests per min "
            "(RPM): Limit 3, Used 3, Requested 1. Please try again in 1s.",
            "requests",
            "rate_limit_exceeded",
        )
    if provider == "anthropic":
        return anthropic_error(
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50 requests "
            "per minute. Please reduce the prompt length or the maximum tokens requested.",
        )
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                }
            ],
        }
    ]
    if retry_after is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after:g}s"}
        )
    return google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        details,
    )


def server_error(provider: str, status: int) -> dict:
    if provider == "openai":
        return openai_error(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
        )
    if provider == "anthropic":
        if status == 529:
            return anthropic_error("overloaded_error", "Overloaded")
        return anthropic_error("api_error", "Internal server error")
    if status == 503:
        return google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    return google_error(
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    )


def bad_request(provider: str, message: str) -> dict:
    if provider == "openai":
        return openai_error(message, "invalid_request_error")
    if provider == "anthropic":
        return anthropic_error("invalid_request_error", message)
    return google_error(400, "INVALID_ARGUMENT", message)


# -- what the real APIs refuse ------------------------------------------------------------

_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def check_openai(body: dict) -> str:
    if not body.get("model"):
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "[] is too short - 'messages'"
    pending: list[str] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            if message.get("tool_call_id") not in pending:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'."
                )
            pending.remove(message["tool_call_id"])
            continue
        if pending:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(pending)}"
            )
        if role not in ("system", "developer", "user", "assistant"):
            return f"Invalid value: '{role}'. Supported values are: 'system', 'user', ..."
        for j, call in enumerate(message.get("tool_calls") or []):
            if not isinstance(call.get("function", {}).get("arguments"), str):
                return (
                    f"Invalid type for 'messages[{i}].tool_calls[{j}].function.arguments': "
                    "expected a string, but got an object instead."
                )
            pending.append(call.get("id"))
    if pending:
        return f"The following tool_call_ids did not have response messages: {pending}"
    for i, tool in enumerate(body.get("tools") or []):
        name = tool.get("function", {}).get("name", "")
        if tool.get("type") != "function" or not _TOOL_NAME.fullmatch(name):
            return f"Invalid 'tools[{i}].function.name': string does not match pattern."
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 2:
        return f"Invalid 'temperature': decimal above maximum value. Got {temperature}."
    return ""


def _blocks(message: dict) -> list[dict]:
    content = message.get("content")
    return [{"type": "text", "text": content}] if isinstance(content, str) else content or []


def check_anthropic(body: dict, headers: dict[str, str], issued_thinking: dict) -> str:
    if headers.get("anthropic-version", "") >= "2026-10-21":
        for name in ("temperature", "top_p", "top_k"):
            if name in body:
                return f"{name}: Extra inputs are not permitted"
    if "max_tokens" not in body:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    last_assistant = max(
        (i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1
    )
    previous_uses: list[str] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            return (
                f'messages: Unexpected role "{role}". The Messages API accepts a top-level '
                '`system` parameter, not "system" as an input message role.'
            )
        blocks = _blocks(message)
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        for j, block in enumerate(blocks):
            if block.get("type") == "text" and not block.get("text"):
                return f"messages.{i}.content.{j}: text content blocks must be non-empty"
            if block.get("type") == "tool_result" and block["tool_use_id"] not in previous_uses:
                return (
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                    f"blocks: {block['tool_use_id']}. Each `tool_result` block must have a "
                    "corresponding `tool_use` block in the previous message."
                )
        missing = [use for use in previous_uses if use not in results]
        if missing:
            return (
                f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
        uses = [b.get("id") for b in blocks if b.get("type") == "tool_use"]
        if i == last_assistant and any(use in issued_thinking for use in uses):
            first = blocks[0]
            if first.get("type") not in ("thinking", "redacted_thinking"):
                return (
                    f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, "
                    f"but found `{first.get('type')}`. When `thinking` is enabled, a final "
                    "`assistant` message must start with a thinking block."
                )
            issued = next(issued_thinking[use] for use in uses if use in issued_thinking)
            if first.get("signature") != issued["signature"]:
                return f"messages.{i}.content.0: Invalid `signature` in `thinking` block"
        previous_uses = uses if role == "assistant" else []
    if previous_uses:
        return "the last assistant message has `tool_use` blocks without `tool_result` blocks"
    for i, tool in enumerate(body.get("tools") or []):
        if not _TOOL_NAME.fullmatch(tool.get("name", "")):
            return f"tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
        if (tool.get("input_schema") or {}).get("type") != "object":
            return f"tools.{i}.custom.input_schema.type: Input should be 'object'"
    return ""


def call_key(call: dict) -> str:
    return json.dumps([call.get("name"), call.get("args") or {}], sort_keys=True)


def check_gemini(body: dict, signature_ok, unsigned_calls: set[str]) -> str:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified\n"
    system = body.get("systemInstruction")
    if system is not None and not (system.get("parts") or [{}])[0].get("text"):
        return "* GenerateContentRequest.system_instruction.parts: must not be empty\n"
    previous_calls: list[dict] = []
    for i, content in enumerate(contents):
        role, parts = content.get("role"), content.get("parts") or []
        if role not in ("user", "model"):
            return "Please use a valid role: user, model."
        if not parts:
            return f"* GenerateContentRequest.contents[{i}].parts: must not be empty.\n"
        calls = [p["functionCall"] for p in parts if "functionCall" in p]
        responses = [p["functionResponse"] for p in parts if "functionResponse" in p]
        if responses:
            if len(responses) != len(previous_calls) or sorted(
                r.get("name") for r in responses
            ) != sorted(c.get("name") for c in previous_calls):
                return (
                    "Please ensure that the number of function response parts is equal to the "
                    "number of function call parts of the function call turn."
                )
            if not all(isinstance(r.get("response"), dict) for r in responses):
                return f"* GenerateContentRequest.contents[{i}]: response must be an object\n"
        if calls and not all(call_key(c) in unsigned_calls for c in calls):
            signed = [p for p in parts if "functionCall" in p and "thoughtSignature" in p]
            if not signed:
                n = next(j for j, p in enumerate(parts) if "functionCall" in p)
                return (
                    "Function call is missing a thought_signature in functionCall parts. This "
                    "is required for tools to work correctly, and missing thought_signature "
                    "may lead to degraded model performance. Additional data, function call "
                    f"`default_api:{calls[0].get('name')}` , position {n + 1}. Please refer to "
                    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
                )
            if not all(signature_ok(p["thoughtSignature"]) for p in signed):
                return "Corrupted thought signature."
        previous_calls = calls if role == "model" else []
    for tool in body.get("tools") or []:
        for declaration in tool.get("functionDeclarations") or []:
            if not _TOOL_NAME.fullmatch(declaration.get("name", "")):
                return "* GenerateContentRequest.tools[0].function_declarations: invalid name\n"
    temperature = (body.get("generationConfig") or {}).get("temperature")
    if temperature is not None and not 0 <= temperature <= 2:
        return "* GenerateContentRequest.generation_config.temperature: must be in [0, 2]\n"
    return ""
