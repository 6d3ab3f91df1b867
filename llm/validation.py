"""Per-provider validation of API key formats and model settings.

Errors are Django `ValidationError`s so the API serializers and the admin forms can
both show them. No message ever repeats the key it rejects.
"""

import math
from typing import Any

from django.core.exceptions import ValidationError

from llm.models import Provider
from llm.providers import (
    API_KEY_MAX_LENGTH,
    CUSTOM_INSTRUCTIONS_MAX_LENGTH,
    ProviderSpec,
    provider_spec,
)

SETTINGS_KEYS = ("model", "temperature", "max_tokens", "custom_instructions")


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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
