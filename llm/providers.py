"""The provider catalogue: which providers Zapa supports, their models, setting ranges
and key formats.

Ranges are per provider and always inside the API-wide bounds (temperature 0-2,
max_tokens >= 1):

- OpenAI and Google accept a temperature from 0 to 2; Anthropic's Messages API
  stops at 1, so its range is 0-1.
- The max_tokens ceiling is the largest output the provider's biggest listed
  model can produce (OpenAI gpt-5: 128k; Anthropic Claude Sonnet 4.x: 64k; Gemini
  2.5: 65,536). A smaller model may cap lower; the provider then reports it.

Key formats are the documented prefixes plus a lenient body (letters, digits, `-`
and `_`), so keys in newer styles (e.g. OpenAI `sk-proj-…`, `sk-svcacct-…`) pass:

- OpenAI: `sk-` then at least 20 characters (an Anthropic `sk-ant-` key is refused
  with a hint, since it would only ever fail at OpenAI).
- Anthropic: `sk-ant-` then at least 20 characters.
- Google (Gemini API): `AIza` then exactly 35 characters (39 in all).
"""

import re
from dataclasses import dataclass

from llm.models import Provider

API_KEY_MAX_LENGTH = 256
CUSTOM_INSTRUCTIONS_MAX_LENGTH = 4000
TEMPERATURE_BOUNDS = (0.0, 2.0)


@dataclass(frozen=True)
class NumberRange:
    minimum: float | int
    maximum: float | int
    default: float | int

    def __contains__(self, value: float | int) -> bool:
        return self.minimum <= value <= self.maximum


@dataclass(frozen=True)
class ProviderSpec:
    id: str
    display_name: str
    models: tuple[str, ...]
    default_model: str
    temperature: NumberRange
    max_tokens: NumberRange
    key_prefix: str
    key_pattern: re.Pattern[str]
    key_format_hint: str

    def key_matches(self, api_key: str) -> bool:
        return bool(self.key_pattern.fullmatch(api_key))


CATALOGUE: dict[str, ProviderSpec] = {
    Provider.OPENAI: ProviderSpec(
        id=Provider.OPENAI,
        display_name="OpenAI",
        models=(
            "gpt-5",
            "gpt-5-mini",
            "gpt-5-nano",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4.1-nano",
            "gpt-4o",
            "gpt-4o-mini",
            "o3",
            "o3-mini",
            "o4-mini",
        ),
        default_model="gpt-4o-mini",
        temperature=NumberRange(0.0, 2.0, 1.0),
        max_tokens=NumberRange(1, 128_000, 1024),
        key_prefix="sk-",
        key_pattern=re.compile(r"sk-[A-Za-z0-9_-]{20,}"),
        key_format_hint='Starts with "sk-" (e.g. "sk-proj-…"); from platform.openai.com/api-keys.',
    ),
    Provider.ANTHROPIC: ProviderSpec(
        id=Provider.ANTHROPIC,
        display_name="Anthropic",
        models=(
            "claude-opus-4-1-20250805",
            "claude-opus-4-20250514",
            "claude-sonnet-4-5-20250929",
            "claude-sonnet-4-20250514",
            "claude-3-7-sonnet-20250219",
            "claude-haiku-4-5-20251001",
            "claude-3-5-haiku-20241022",
        ),
        default_model="claude-sonnet-4-20250514",
        temperature=NumberRange(0.0, 1.0, 1.0),
        max_tokens=NumberRange(1, 64_000, 1024),
        key_prefix="sk-ant-",
        key_pattern=re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}"),
        key_format_hint=(
            'Starts with "sk-ant-" (e.g. "sk-ant-api03-…"); from console.anthropic.com.'
        ),
    ),
    Provider.GOOGLE: ProviderSpec(
        id=Provider.GOOGLE,
        display_name="Google",
        models=(
            "gemini-2.5-pro",
            "gemini-2.5-flash",
            "gemini-2.5-flash-lite",
            "gemini-2.0-flash",
            "gemini-2.0-flash-lite",
        ),
        default_model="gemini-2.5-flash",
        temperature=NumberRange(0.0, 2.0, 1.0),
        max_tokens=NumberRange(1, 65_536, 1024),
        key_prefix="AIza",
        key_pattern=re.compile(r"AIza[0-9A-Za-z_-]{35}"),
        key_format_hint='Starts with "AIza", 39 characters in all; from aistudio.google.com.',
    ),
}


def provider_spec(provider: str) -> ProviderSpec:
    """The catalogue entry; KeyError for a provider Zapa does not support."""
    return CATALOGUE[provider]


def all_providers() -> list[ProviderSpec]:
    return [CATALOGUE[p] for p in Provider.values]
