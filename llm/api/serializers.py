"""Input and output shapes of the LLM API. The API key is write-only everywhere."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from llm.models import LLMConfig, Provider
from llm.providers import API_KEY_MAX_LENGTH, CUSTOM_INSTRUCTIONS_MAX_LENGTH
from llm.validation import ConfigInvalid, ValidConfig, validate_config

PROVIDER_ERROR_MESSAGES = {
    "invalid_choice": f"Unknown provider. Choose one of: {', '.join(Provider.values)}.",
}


def drf_detail(exc: DjangoValidationError) -> Any:
    return exc.message_dict if hasattr(exc, "error_dict") else exc.messages


def _validated(**kwargs: Any) -> ValidConfig:
    """llm.validation.validate_config, its errors as the API reports them: per field,
    and per setting within model_settings."""
    try:
        return validate_config(**kwargs)
    except ConfigInvalid as exc:
        raise serializers.ValidationError(
            {field: drf_detail(error) for field, error in exc.by_field.items()}
        ) from None


# -- documentation-only shapes ---------------------------------------------------------


class ModelSettingsSerializer(serializers.Serializer):
    """The settings object (schema only; validated per provider in llm.validation)."""

    model = serializers.CharField(help_text="A model from the provider's catalogue entry.")
    temperature = serializers.FloatField(required=False, help_text="Within the provider's range.")
    max_tokens = serializers.IntegerField(required=False, help_text="1 to the provider's maximum.")
    custom_instructions = serializers.CharField(
        required=False, max_length=CUSTOM_INSTRUCTIONS_MAX_LENGTH
    )


@extend_schema_field(ModelSettingsSerializer)
class ModelSettingsField(serializers.JSONField):
    """Any JSON on the way in (checked per provider later), a settings object on the way out."""


# -- input -------------------------------------------------------------------------------


class StrictInputSerializer(serializers.Serializer):
    """Refuses unknown fields (a misspelt "apikey" must not be silently dropped).

    Fields that only exist in responses are ignored, so a client may send back what
    it read.
    """

    ignored_fields: tuple[str, ...] = (
        "id",
        "masked_api_key",
        "key_rejected_at",
        "created_at",
        "updated_at",
    )

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = [
                name for name in data if name not in self.fields and name not in self.ignored_fields
            ]
            if unknown:
                raise serializers.ValidationError(
                    {str(name)[:50]: ["Unknown field."] for name in unknown}
                )
        return super().to_internal_value(data)


class LLMConfigCreateSerializer(StrictInputSerializer):
    provider = serializers.ChoiceField(
        choices=Provider.choices, error_messages=PROVIDER_ERROR_MESSAGES
    )
    api_key = serializers.CharField(
        write_only=True,
        max_length=API_KEY_MAX_LENGTH,
        style={"input_type": "password"},
        help_text="Write-only; stored encrypted and never returned (only its last 4 characters).",
    )
    model_settings = ModelSettingsField(required=False, default=dict)
    is_active = serializers.BooleanField(
        default=False, help_text="Make this the active config (any other is deactivated)."
    )

    def validate(self, attrs):
        valid = _validated(
            current=None,
            provider=attrs["provider"],
            api_key=attrs["api_key"],
            model_settings=attrs["model_settings"],
        )
        return {**attrs, "api_key": valid.api_key, "model_settings": valid.model_settings}


class LLMConfigUpdateSerializer(StrictInputSerializer):
    """PATCH: any of provider, api_key, model_settings.

    `model_settings` is merged into the stored settings (a JSON merge patch: a
    `null` value removes that setting). Changing the provider needs `api_key` in
    the same request; the old model is dropped then, so the new provider's default
    applies unless a model is given.
    """

    provider = serializers.ChoiceField(
        choices=Provider.choices, required=False, error_messages=PROVIDER_ERROR_MESSAGES
    )
    api_key = serializers.CharField(
        write_only=True,
        required=False,
        max_length=API_KEY_MAX_LENGTH,
        style={"input_type": "password"},
    )
    model_settings = ModelSettingsField(required=False)
    is_active = serializers.BooleanField(
        required=False, help_text="Read-only here: use the activate/deactivate endpoints."
    )

    def validate(self, attrs):
        config: LLMConfig = self.context["config"]
        if "is_active" in attrs and attrs.pop("is_active") != config.is_active:
            raise serializers.ValidationError(
                {
                    "is_active": [
                        "Use POST …/activate/ or …/deactivate/ to change which config is active."
                    ]
                }
            )
        valid = _validated(
            current=config,
            provider=attrs.get("provider", config.provider),
            api_key=attrs.get("api_key"),
            model_settings=attrs.get("model_settings"),
            merge_settings=True,
        )
        if valid.api_key is not None:
            attrs["api_key"] = valid.api_key
        if valid.model_settings is not None:
            attrs["model_settings"] = valid.model_settings
        return attrs


# -- output ------------------------------------------------------------------------------


class LLMConfigSerializer(serializers.ModelSerializer):
    masked_api_key = serializers.CharField(
        read_only=True, help_text='The key\'s last 4 characters, e.g. "…abcd".'
    )
    model_settings = ModelSettingsField(read_only=True)
    key_rejected_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the provider last refused this key (401/403); null once a new key is set.",
    )

    class Meta:
        model = LLMConfig
        fields = [
            "id",
            "provider",
            "masked_api_key",
            "model_settings",
            "is_active",
            "key_rejected_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class NumberRangeSerializer(serializers.Serializer):
    min = serializers.FloatField(source="minimum")
    max = serializers.FloatField(source="maximum")
    default = serializers.FloatField()


class IntegerRangeSerializer(serializers.Serializer):
    min = serializers.IntegerField(source="minimum")
    max = serializers.IntegerField(source="maximum")
    default = serializers.IntegerField()


class ProviderSerializer(serializers.Serializer):
    id = serializers.CharField()
    display_name = serializers.CharField()
    models = serializers.ListField(child=serializers.CharField())
    default_model = serializers.CharField()
    temperature = NumberRangeSerializer()
    max_tokens = IntegerRangeSerializer()
    custom_instructions_max_length = serializers.SerializerMethodField()
    key_prefix = serializers.CharField()
    key_format_hint = serializers.CharField()

    def get_custom_instructions_max_length(self, spec) -> int:
        return CUSTOM_INSTRUCTIONS_MAX_LENGTH


class KeyCheckResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    outcome = serializers.CharField()
    message = serializers.CharField()
    provider = serializers.CharField()
    models_available = serializers.IntegerField(
        help_text="Models on the provider's first page of results."
    )
    more_available = serializers.BooleanField(help_text="The provider has more pages of models.")
    configured_model_listed = serializers.BooleanField(
        allow_null=True, help_text="Whether the configured model is in that list."
    )
    execution_time_ms = serializers.IntegerField()
    action_log_id = serializers.IntegerField()
    checked_at = serializers.DateTimeField()
