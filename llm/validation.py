"""Per-provider validation of API key formats and model settings, and of a config
as a whole (`validate_config`), for the API serializers, the admin form and the
services alike.

Errors are Django `ValidationError`s so the API serializers and the admin forms can
both show them. No message ever repeats the key it rejects.
"""

import math
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from llm.models import LLMConfig, Provider
from llm.providers import (
    API_KEY_MAX_LENGTH,
    CUSTOM_INSTRUCTIONS_MAX_LENGTH,
    ProviderSpec,
    provider_spec,
)

SETTINGS_KEYS = ("model", "temperature", "max_tokens", "custom_instructions")
NEW_PROVIDER_NEEDS_KEY = "A new provider needs its own API key: send api_key too."


def validate_provider(provider: Any) -> ProviderSpec:
    if provider not in Provider.values:
        raise ValidationError(
            f"Unknown provider. Choose one of: {', '.join(Provider.values)}.", code="invalid"
        )
    return provider_spec(provider)


def validate_api_key(*, provider: str, api_key: Any) -> str:
    """The key with surrounding whitespace removed, if it fits the provider's format."""
    spec = validate_provider(provider)
    if not isinstance(api_key, str):
        raise ValidationError("The API key must be a string.", code="invalid")
    key = api_key.strip()
    if not key:
        raise ValidationError("The API key is required.", code="required")
    if len(key) > API_KEY_MAX_LENGTH:
        raise ValidationError(
            f"The API key is too long (at most {API_KEY_MAX_LENGTH} characters).",
            code="max_length",
        )
    if provider == Provider.OPENAI and key.startswith(provider_spec(Provider.ANTHROPIC).key_prefix):
        raise ValidationError(
            'This looks like an Anthropic key; choose the provider "anthropic" for it.',
            code="wrong_provider",
        )
    if not spec.key_matches(key):
        raise ValidationError(
            f"This is not a valid {spec.display_name} API key. {spec.key_format_hint}",
            code="invalid_format",
        )
    return key


def validate_model_settings(*, provider: str, model_settings: Any) -> dict[str, Any]:
    """Checked and normalised settings: the default model filled in, `null` values dropped.

    Raises a ValidationError whose error_dict maps each bad setting to its messages
    (a plain message when the settings are not an object at all).
    """
    spec = validate_provider(provider)
    if not isinstance(model_settings, dict):
        raise ValidationError("Model settings must be a JSON object.", code="invalid")
    settings = {name: value for name, value in model_settings.items() if value is not None}
    errors: dict[str, list[ValidationError]] = {}

    for name in settings:
        if name not in SETTINGS_KEYS:
            errors[str(name)[:50]] = [
                ValidationError(
                    f"Unknown setting. Allowed settings: {', '.join(SETTINGS_KEYS)}.",
                    code="unknown",
                )
            ]

    model = settings.setdefault("model", spec.default_model)
    if not isinstance(model, str) or model not in spec.models:
        errors["model"] = [
            ValidationError(
                f"Not a known {spec.display_name} model. Choose one of: {', '.join(spec.models)}.",
                code="unknown_model",
            )
        ]

    if "temperature" in settings:
        temperature = settings["temperature"]
        low, high = spec.temperature.minimum, spec.temperature.maximum
        if not _is_number(temperature) or temperature not in spec.temperature:
            errors["temperature"] = [
                ValidationError(
                    f"Must be a number from {low:g} to {high:g} for {spec.display_name}.",
                    code="out_of_range",
                )
            ]
        else:
            settings["temperature"] = float(temperature)

    if "max_tokens" in settings:
        max_tokens = settings["max_tokens"]
        if (
            not isinstance(max_tokens, int)
            or isinstance(max_tokens, bool)
            or max_tokens not in spec.max_tokens
        ):
            errors["max_tokens"] = [
                ValidationError(
                    f"Must be a whole number from {spec.max_tokens.minimum} "
                    f"to {spec.max_tokens.maximum} for {spec.display_name}.",
                    code="out_of_range",
                )
            ]

    if "custom_instructions" in settings:
        instructions = settings["custom_instructions"]
        if not isinstance(instructions, str):
            errors["custom_instructions"] = [ValidationError("Must be a string.", code="invalid")]
        elif len(instructions) > CUSTOM_INSTRUCTIONS_MAX_LENGTH:
            errors["custom_instructions"] = [
                ValidationError(
                    f"Too long ({len(instructions)} characters; "
                    f"at most {CUSTOM_INSTRUCTIONS_MAX_LENGTH}).",
                    code="max_length",
                )
            ]

    if errors:
        raise ValidationError(errors)
    return settings


def merge_model_settings(
    *, current: dict[str, Any], changes: Any, provider_changed: bool
) -> dict[str, Any]:
    """Apply a partial update (JSON merge patch: `null` removes a setting).

    On a provider change the old model is dropped (it belongs to the old provider),
    so the new provider's default applies unless the change names a model.
    """
    base = {
        name: value
        for name, value in (current or {}).items()
        if not (provider_changed and name == "model")
    }
    if changes is None:
        return base
    if not isinstance(changes, dict):
        raise ValidationError("Model settings must be a JSON object.", code="invalid")
    return {**base, **changes}


@dataclass(frozen=True)
class ValidConfig:
    """A config's checked values; None where the stored value stays as it is."""

    provider: str
    api_key: str | None
    model_settings: dict[str, Any] | None


class ConfigInvalid(ValidationError):
    """Every problem of a config at once, by field.

    As a ValidationError its messages are flat ("temperature: Must be…" under
    `model_settings`); `by_field` keeps each field's own error, whose settings the
    API reports one by one.
    """

    def __init__(self, by_field: dict[str, ValidationError]):
        self.by_field = by_field
        super().__init__({field: _flat_messages(error) for field, error in by_field.items()})


def validate_config(
    *,
    current: LLMConfig | None,
    provider: Any,
    api_key: Any = None,
    model_settings: Any = None,
    merge_settings: bool = False,
) -> ValidConfig:
    """A new config (`current` None) or a change to `current`, checked as a whole.

    A new config needs a key; its settings default to none (the provider's default
    model). In a change, `api_key` and `model_settings` left None keep the stored
    ones, and `model_settings` replaces the stored settings, or is a JSON merge
    patch onto them with `merge_settings`. A key only works with the provider that
    issued it, so a new provider needs a new key; the stored settings then carry
    over without the model (see merge_model_settings) and are checked against the
    new provider's ranges. Raises ConfigInvalid with every bad field (an unknown
    provider alone: nothing else can be checked without one).
    """
    try:
        provider = validate_provider(provider).id
    except ValidationError as exc:
        raise ConfigInvalid({"provider": exc}) from None
    provider_changed = current is not None and provider != current.provider
    errors: dict[str, ValidationError] = {}

    key = None
    if current is None or api_key is not None:
        try:
            key = validate_api_key(provider=provider, api_key=api_key)
        except ValidationError as exc:
            errors["api_key"] = exc
    elif provider_changed:
        errors["api_key"] = ValidationError(NEW_PROVIDER_NEEDS_KEY, code="required")

    settings = None
    if current is None or model_settings is not None or provider_changed:
        try:
            if current is None:
                candidate = {} if model_settings is None else model_settings
            elif merge_settings or model_settings is None:
                candidate = merge_model_settings(
                    current=current.model_settings,
                    changes=model_settings,
                    provider_changed=provider_changed,
                )
            else:
                candidate = model_settings
            settings = validate_model_settings(provider=provider, model_settings=candidate)
        except ValidationError as exc:
            errors["model_settings"] = exc

    if errors:
        raise ConfigInvalid(errors)
    return ValidConfig(provider=provider, api_key=key, model_settings=settings)


def _flat_messages(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [f"{name}: {m}" for name, messages in error.message_dict.items() for m in messages]
    return error.messages


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
