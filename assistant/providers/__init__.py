"""One call to the user's LLM provider, with tools, through the provider's official SDK.

    chat("openai", api_key=key, request=ChatRequest(...)) -> ChatResponse

The neutral types live in `base`; `openai_chat`, `anthropic_messages` and
`google_gemini` map them to each SDK. Retries are done here, the same for all three
(the SDKs' own are off): up to 3 attempts; 429 waits `Retry-After` (at most 20 s, a
longer wait gives up at once) or backs off 0.5 s then 1 s like 5xx, connection errors
and timeouts; 400/401/403 are raised at once. Every failure becomes a `ProviderError`
whose message is scrubbed of the key; it is raised with no exception chained to it, so
no traceback can show the SDK's own error text (which may quote the key).
"""

import importlib
import logging
import time
from collections.abc import Callable

from assistant.providers.base import (
    RETRYABLE_KINDS,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    Failure,
    ProviderError,
    ToolCall,
    ToolSpec,
    scrub,
    short,
)

__all__ = [
    "PROVIDERS",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "ProviderError",
    "ToolCall",
    "ToolSpec",
    "chat",
]

logger = logging.getLogger(__name__)

PROVIDERS = {
    "openai": "assistant.providers.openai_chat",
    "anthropic": "assistant.providers.anthropic_messages",
    "google": "assistant.providers.google_gemini",
}
MAX_ATTEMPTS = 3
BACKOFF_SECONDS = (0.5, 1.0)  # before the 2nd and the 3rd attempt
MAX_RETRY_AFTER_SECONDS = 20.0


def _describe(failure: Failure, label: str, timeout: float, api_key: str) -> str:
    if failure.kind == "timeout":
        return f"{label} did not answer within {timeout:g} s"
    detail = short(scrub(failure.detail, api_key))
    if failure.status_code is None:
        if failure.kind == "unavailable":
            return f"cannot reach {label} ({detail or 'connection error'})"
        return f"{label} sent an answer Zapa cannot read ({detail or 'unreadable'})"
    text = f"{label} answered HTTP {failure.status_code}"
    return f"{text}: {detail}" if detail else text


def chat(
    provider: str,
    *,
    api_key: str,
    request: ChatRequest,
    base_url: str | None = None,
    timeout: float | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> ChatResponse:
    """Send `request` to `provider` and return its answer; raise ProviderError if it fails."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown LLM provider {provider!r}")
    if base_url is None or timeout is None:
        from django.conf import settings

        base_url = base_url or settings.LLM_PROVIDER_BASE_URLS[provider]
        timeout = settings.LLM_PROVIDER_TIMEOUT if timeout is None else timeout
    module = importlib.import_module(PROVIDERS[provider])
    label = module.LABEL
    if not api_key or not (api_key.isascii() and api_key.isprintable()):
        # No key, or one that cannot travel in an HTTP header: no provider can accept it.
        raise ProviderError(
            "rejected_key",
            f"The API key for {label} is empty or holds characters no provider accepts.",
            provider=provider,
        )
    prepared = module.Adapter.prepare(request)  # a malformed request raises here, once
    started = time.monotonic()
    adapter = module.Adapter(api_key=api_key, base_url=base_url, timeout=timeout)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            answer = adapter.send(prepared, request)
        except Exception as exc:
            failure = module.Adapter.failure(exc)
            if failure is None:
                raise
        else:
            latency_ms = round((time.monotonic() - started) * 1000)
            logger.debug(
                "LLM %s %s: %d+%d tokens, %d attempt(s), %d ms",
                provider,
                answer.model,
                answer.input_tokens,
                answer.output_tokens,
                attempt,
                latency_ms,
            )
            return ChatResponse(
                text=answer.text,
                tool_calls=answer.tool_calls,
                input_tokens=answer.input_tokens,
                output_tokens=answer.output_tokens,
                model=answer.model,
                attempts=attempt,
                latency_ms=latency_ms,
            )
        # Outside the `except` block: the ProviderError raised below chains nothing.
        message = _describe(failure, label, timeout, api_key)
        wait = _wait_before_retry(failure, attempt)
        if wait is None:
            if failure.kind == "rate_limited" and attempt < MAX_ATTEMPTS:
                message += f" (asked to wait {failure.retry_after:g} s, more than allowed)"
            logger.warning(
                "LLM %s %s failed for good: %s after %d attempt(s): %s",
                provider,
                request.model,
                failure.kind,
                attempt,
                message,
            )
            raise ProviderError(
                failure.kind,
                message,
                status_code=failure.status_code,
                provider=provider,
                attempts=attempt,
            )
        logger.info(
            "LLM %s %s attempt %d/%d failed (%s: %s); retrying in %.2g s",
            provider,
            request.model,
            attempt,
            MAX_ATTEMPTS,
            failure.kind,
            message,
            wait,
        )
        sleep(wait)
    raise AssertionError("unreachable")  # the loop returns or raises


def _wait_before_retry(failure: Failure, attempt: int) -> float | None:
    """Seconds to wait before the next attempt, or None to give up now."""
    if failure.kind not in RETRYABLE_KINDS or attempt >= MAX_ATTEMPTS:
        return None
    if failure.kind == "rate_limited" and failure.retry_after is not None:
        if failure.retry_after > MAX_RETRY_AFTER_SECONDS:
            return None
        return failure.retry_after
    return BACKOFF_SECONDS[attempt - 1]
