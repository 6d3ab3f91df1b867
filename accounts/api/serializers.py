import json
import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.views.decorators.debug import sensitive_variables
from rest_framework import serializers

from accounts.codes import CODE_DIGITS
from accounts.models import User
from core.phone import E164_HELP, normalize_phone_number

PREFERENCES_MAX_BYTES = 16 * 1024
_CODE_RE = re.compile(rf"\d{{{CODE_DIGITS}}}")


class PhoneNumberField(serializers.CharField):
    """An E.164 phone number ('+', country code, number), returned normalised."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault(
            "error_messages",
            {
                "blank": "A phone number is required. " + E164_HELP,
                "required": "A phone number is required. " + E164_HELP,
                "null": "A phone number is required. " + E164_HELP,
            },
        )
        kwargs.setdefault("help_text", "E.164 phone number, e.g. +14155550123.")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return normalize_phone_number(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages[0], code=exc.code) from None


class RequestCodeSerializer(serializers.Serializer):
    phone_number = PhoneNumberField()


class RequestCodeResponseSerializer(serializers.Serializer):
    detail = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds a code stays valid.")


class VerifyCodeSerializer(serializers.Serializer):
    phone_number = PhoneNumberField()
    code = serializers.CharField(
        max_length=32, help_text=f"The {CODE_DIGITS}-digit code sent over WhatsApp."
    )

    @sensitive_variables("value")
    def validate_code(self, value: str) -> str:
        value = value.replace(" ", "")
        if not _CODE_RE.fullmatch(value):
            raise serializers.ValidationError(
                f"The code is the {CODE_DIGITS} digits sent to you on WhatsApp."
            )
        return value


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "phone_number", "display_name", "preferences", "first_seen", "last_active"]
        read_only_fields = ["id", "phone_number", "first_seen", "last_active"]

    def validate_preferences(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Preferences must be a JSON object.")
        if len(json.dumps(value).encode()) > PREFERENCES_MAX_BYTES:
            raise serializers.ValidationError(
                f"Preferences may take at most {PREFERENCES_MAX_BYTES} bytes of JSON."
            )
        return value


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as 'Authorization: Token <token>'.")
    expiry = serializers.DateTimeField(allow_null=True)
    user = MeSerializer()
