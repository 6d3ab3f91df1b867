"""Provider-neutral types for one LLM call with tools, and the error every failure becomes.

The assistant speaks only these types; `assistant.providers.chat` maps them to the
user's provider through its official SDK (one module per provider) and back.
"""

import email.utils
import re
import time
from dataclasses import dataclass, field
from typing import Any

ERROR_KINDS = (
    "rejected_key",  # 401/403, or Google's 400 API_KEY_INVALID
    "rate_limited",  # 429
    "unavailable",  # 5xx, connection refused/reset
    "timeout",  # no answer within the timeout
    "bad_request",  # any other 4xx: the request itself is wrong, retrying cannot help
    "bad_response",  # an answer the SDK or Zapa cannot read
)
RETRYABLE_KINDS = frozenset({"rate_limited", "unavailable", "timeout"})
DETAIL_MAX_LENGTH = 300


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call."""

    name: str
    description: str
    parameters: dict  # JSON schema: {"type": "object", "properties": ..., "required": [...]}


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for. Pass it back unchanged in the assistant message that
    carries it: `provider_state` holds what the provider needs to see again (Anthropic's
    thinking blocks, Gemini's thought signature and call id)."""

    id: str  # the provider's call id; Gemini may give none, then one is made up
    name: str
    arguments: dict
    # Why `arguments` is {} although the model sent something (invalid JSON, not an
    # object); empty when the arguments were read fine.
    arguments_error: str = ""
    provider_state: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "user" | "assistant" | "tool"
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()  # on assistant messages that called tools
    tool_call_id: str = ""  # on tool results
    tool_name: str = ""  # on tool results (Gemini needs the name)


@dataclass(frozen=True)
class ChatRequest:
    model: str
    system: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True)
class ChatResponse:
    text: str
    tool_calls: tuple[ToolCall, ...]
    input_tokens: int
    output_tokens: int
    model: str
    attempts: int  # how many HTTP attempts it took
    latency_ms: int  # the whole call, waits between attempts included


class ProviderError(Exception):
    """A call that failed. `message` is safe for logs and users' eyes: it never holds
    the API key (it is scrubbed even when the provider echoes the key back)."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status_code: int | None = None,
        provider: str = "",
        attempts: int = 0,
    ):
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown ProviderError kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status_code = status_code
        self.provider = provider
        self.attempts = attempts

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"ProviderError(kind={self.kind!r}, status_code={self.status_code!r}, "
            f"provider={self.provider!r}, attempts={self.attempts}, message={self.message!r})"
        )

    def __reduce__(self):
        kwargs = {
            "status_code": self.status_code,
            "provider": self.provider,
            "attempts": self.attempts,
        }
        return _rebuild_error, (self.kind, self.message, kwargs)


def _rebuild_error(kind: str, message: str, kwargs: dict) -> ProviderError:
    return ProviderError(kind, message, **kwargs)


@dataclass(frozen=True)
class Failure:
    """What one attempt's exception meant, as a provider module reads it. `detail` may
    hold provider text (even the key): the caller scrubs it before it goes anywhere."""

    kind: str
    status_code: int | None = None
    detail: str = ""
    retry_after: float | None = None  # seconds the provider asked to wait (429)


def kind_for_status(status: int) -> str:
    if status in (401, 403):
        return "rejected_key"
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "unavailable"
    if 400 <= status < 500:
        return "bad_request"
    return "bad_response"


# Anything shaped like a provider key, masked echoes ("sk-proj-****abcd") included.
_KEY_LIKE = re.compile(r"(sk-|AIza)[A-Za-z0-9_\-*.]{4,}")


def scrub(text: str, api_key: str) -> str:
    """`text` without the key, its first part (all but the last 4), or anything key-shaped."""
    if api_key:
        text = text.replace(api_key, "[redacted]")
        if len(api_key) > 12:
            text = text.replace(api_key[:-4], "[redacted]")
    return _KEY_LIKE.sub("[redacted]", text)


def short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= DETAIL_MAX_LENGTH else text[: DETAIL_MAX_LENGTH - 1] + "…"


def error_message(body: Any) -> str:
    """The `error.message` of a provider's JSON error body (all three use that shape)."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
    return ""


def retry_after_seconds(headers: Any) -> float | None:
    """The wait a response asks for: `retry-after-ms`, else `Retry-After` (seconds or an
    HTTP date). None when absent or unreadable."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(float(raw_ms) / 1000, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def sdk_failure(
    exc: Exception, sdk: Any, answer_name: str, base_error: type[Exception]
) -> Failure | None:
    """The Failure for an exception of the OpenAI or Anthropic SDK (both generated by
    Stainless, with the same exception classes), or None when it is not the SDK's."""
    if isinstance(exc, sdk.APITimeoutError):
        return Failure("timeout")
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc
        return Failure("unavailable", detail=type(cause).__name__)
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        return Failure(
            kind_for_status(status),
            status,
            error_message(exc.body) or f"HTTP {status}",
            retry_after_seconds(exc.response.headers) if status == 429 else None,
        )
    if isinstance(exc, sdk.APIResponseValidationError):
        return Failure("bad_response", exc.status_code, f"the answer is not {answer_name}")
    # An unreadable body: JSONDecodeError is a ValueError; a body of the wrong shape
    # (the SDKs build models without validating) fails on attribute access.
    if isinstance(exc, (base_error, ValueError, AttributeError, TypeError)):
        return Failure("bad_response", detail=f"not {answer_name}: {type(exc).__name__}")
    return None
