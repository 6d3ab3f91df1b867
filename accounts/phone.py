"""Phone numbers: E.164 (`+` then up to 15 digits), checked with `phonenumbers`."""

import phonenumbers
from django.core.exceptions import ValidationError

E164_HELP = (
    "Use international E.164 format: '+', the country code, then the number, e.g. +14155550123."
)


def normalize_phone_number(value: str) -> str:
    """Return `value` as E.164, or raise ValidationError saying what is wrong."""
    raw = (value or "").strip()
    if not raw:
        raise ValidationError("A phone number is required. " + E164_HELP, code="required")
    compact = raw.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
    if not compact.startswith("+"):
        raise ValidationError("The phone number must start with '+'. " + E164_HELP, code="no_plus")
    digits = compact[1:]
    if not digits.isdigit() or not digits.isascii():
        raise ValidationError(
            "The phone number may contain only digits after '+'. " + E164_HELP, code="not_digits"
        )
    if digits.startswith("0"):
        raise ValidationError(
            "A country code never starts with 0. " + E164_HELP, code="leading_zero"
        )
    if len(digits) > 15:
        raise ValidationError(
            "The phone number is too long: E.164 allows at most 15 digits.", code="too_long"
        )
    if len(digits) < 7:
        raise ValidationError("The phone number is too short. " + E164_HELP, code="too_short")
    try:
        parsed = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            f"This is not a valid phone number. {E164_HELP}", code="invalid"
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(
            "This is not a valid phone number for its country. " + E164_HELP, code="invalid"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def validate_phone_number(value: str) -> None:
    if normalize_phone_number(value) != value:
        raise ValidationError(
            "Store phone numbers normalised to E.164 (e.g. +14155550123).", code="not_normalised"
        )


def phone_number_from_digits(digits: str) -> str | None:
    """E.164 for a bare digit string from WhatsApp (a JID's user part), or None."""
    try:
        return normalize_phone_number("+" + digits)
    except ValidationError:
        return None
