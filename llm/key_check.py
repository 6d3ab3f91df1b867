"""Checking an API key against the provider's own HTTP API by listing its models.

Each provider authenticates differently (all through headers, so the key is never
part of a URL that could end up in a log or an exception):

- OpenAI:    GET {base}/models, `Authorization: Bearer <key>`
- Anthropic: GET {base}/models?limit=1000, `x-api-key` + `anthropic-version: 2023-06-01`
- Google:    GET {base}/models?pageSize=1000, `x-goog-api-key`

Every outcome comes back as a `ProviderCheck`; nothing here raises for what a
provider or the network does. Messages are built from status codes and exception
class names, and any provider text is scrubbed of key-like strings, so no message
can carry the key.
"""

import logging
import re
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
from django.conf import settings

from llm.models import Provider
from llm.providers import provider_spec

logger = logging.getLogger(__name__)

ANTHROPIC_VERSION = "2023-06-01"
PROVIDER_MESSAGE_MAX_LENGTH = 200
# Anything shaped like a provider key, including masked echoes such as "sk-proj-****abcd".
_KEY_LIKE = re.compile(r"(sk-|AIza)[A-Za-z0-9_\-*.]{4,}")


class Outcome(StrEnum):
    VALID = "valid"
    REJECTED = "rejected"
    PROVIDER_ERROR = "provider_error"
    TIMEOUT = "timeout"
    UNREADABLE_KEY = "unreadable_key"


@dataclass(frozen=True)
class ProviderCheck:
    outcome: Outcome
    message: str
    http_status: int | None = None
    provider_message: str = ""
    models_available: int | None = None
    more_available: bool = False
    model_ids: tuple[str, ...] = field(default=(), repr=False)
    elapsed_ms: int = 0

    @property
    def valid(self) -> bool:
        return self.outcome == Outcome.VALID


def redact(text: str, api_key: str = "") -> str:
    if api_key:
        text = text.replace(api_key, "[redacted]")
    return _KEY_LIKE.sub("[redacted]", text)


def _request_parts(provider: str, api_key: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    base_url = settings.LLM_PROVIDER_BASE_URLS[provider].rstrip("/")
    url = f"{base_url}/models"
    headers = {"Accept": "application/json"}
    if provider == Provider.OPENAI:
        return url, {**headers, "Authorization": f"Bearer {api_key}"}, {}
    if provider == Provider.ANTHROPIC:
        headers |= {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}
        return url, headers, {"limit": 1000}
    return url, {**headers, "x-goog-api-key": api_key}, {"pageSize": 1000}


def _model_ids(provider: str, body: Any) -> tuple[tuple[str, ...], bool] | None:
    """The model ids on the first page and whether there are more; None for a bad body."""
    if not isinstance(body, dict):
        return None
    items = body.get("models" if provider == Provider.GOOGLE else "data")
    if not isinstance(items, list):
        return None
    ids = []
    for item in items:
        if not isinstance(item, dict):
            return None
        raw = item.get("name" if provider == Provider.GOOGLE else "id")
        if isinstance(raw, str):
            ids.append(raw.removeprefix("models/"))
    if provider == Provider.ANTHROPIC:
        more = bool(body.get("has_more"))
    elif provider == Provider.GOOGLE:
        more = bool(body.get("nextPageToken"))
    else:
        more = False
    return tuple(ids), more


def _provider_message(body: Any, api_key: str) -> str:
    message = ""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or "")
        elif isinstance(error, str):
            message = error
    return redact(message, api_key)[:PROVIDER_MESSAGE_MAX_LENGTH]


def _is_rejection(provider: str, status: int, body: Any) -> bool:
    if status in (401, 403):
        return True
    # Google answers a bad key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
    if provider == Provider.GOOGLE and status == 400 and isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            details = error.get("details")
            reasons = (
                {d.get("reason") for d in details if isinstance(d, dict)}
                if isinstance(details, list)
                else set()
            )
            return "API_KEY_INVALID" in reasons or "API key" in str(error.get("message", ""))
    return False


def check_api_key(
    *, provider: str, api_key: str, transport: httpx.BaseTransport | None = None
) -> ProviderCheck:
    """List the provider's models with `api_key`; classify what happened."""
    spec = provider_spec(provider)
    name = spec.display_name
    if not (api_key.isascii() and api_key.isprintable()):
        # Such a key cannot travel in an HTTP header, so no provider could accept it.
        return ProviderCheck(
            Outcome.REJECTED, "The API key holds characters no provider accepts; enter it again."
        )
    try:
        url, headers, params = _request_parts(provider, api_key)
    except KeyError:
        return ProviderCheck(
            Outcome.PROVIDER_ERROR,
            f"No base URL is configured for {name} (LLM_PROVIDER_BASE_URLS).",
        )
    timeout = settings.LLM_PROVIDER_TIMEOUT
    started = time.monotonic()

    def elapsed() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) as http:
            response = http.get(url, headers=headers, params=params)
            body: Any
            try:
                body = response.json()
            except ValueError:
                body = None
    except httpx.TimeoutException as exc:
        result = ProviderCheck(
            Outcome.TIMEOUT,
            f"{name} did not answer within {timeout:g}s.",
            elapsed_ms=elapsed(),
        )
        logger.warning("LLM key check %s: timeout (%s)", provider, type(exc).__name__)
        return result
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        result = ProviderCheck(
            Outcome.PROVIDER_ERROR,
            f"Cannot reach {name} ({type(exc).__name__}).",
            elapsed_ms=elapsed(),
        )
        logger.warning("LLM key check %s: %s", provider, type(exc).__name__)
        return result

    status = response.status_code
    provider_message = _provider_message(body, api_key)
    if 200 <= status < 300:
        parsed = _model_ids(provider, body)
        if parsed is None:
            result = ProviderCheck(
                Outcome.PROVIDER_ERROR,
                f"{name} answered with a body that is not its usual model list.",
                http_status=status,
                elapsed_ms=elapsed(),
            )
        else:
            ids, more = parsed
            result = ProviderCheck(
                Outcome.VALID,
                f"The key works: {name} lists {len(ids)}{'+' if more else ''} models.",
                http_status=status,
                models_available=len(ids),
                more_available=more,
                model_ids=ids,
                elapsed_ms=elapsed(),
            )
    elif _is_rejection(provider, status, body):
        result = ProviderCheck(
            Outcome.REJECTED,
            "The provider rejected this API key.",
            http_status=status,
            provider_message=provider_message,
            elapsed_ms=elapsed(),
        )
    elif status == 429:
        result = ProviderCheck(
            Outcome.PROVIDER_ERROR,
            f"{name} is rate-limiting this key or its quota is used up (HTTP 429).",
            http_status=status,
            provider_message=provider_message,
            elapsed_ms=elapsed(),
        )
    else:
        result = ProviderCheck(
            Outcome.PROVIDER_ERROR,
            f"{name} answered with an error (HTTP {status}).",
            http_status=status,
            provider_message=provider_message,
            elapsed_ms=elapsed(),
        )
    logger.info(
        "LLM key check %s: %s (HTTP %s, %d ms)", provider, result.outcome, status, result.elapsed_ms
    )
    return result
