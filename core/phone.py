"""Phone numbers: E.164 (`+` then up to 15 digits).

Two rules, on purpose:

- numbers people type (the login API, the admin's add form, ensure_staff) are checked
  strictly with `phonenumbers` (`normalize_phone_number`): a typo is caught;
- numbers WhatsApp reports (a JID's digits, a bridge session's own number) are real by
  definition, even in ranges libphonenumber does not know yet or for test numbers such
  as the bridge mock's ``1234567890``: any 8 to 15 digits are taken as they are
  (`phone_number_from_bridge`).

A stored number only has to have the E.164 shape (`validate_phone_number`), so a user
created from WhatsApp can still be edited in the admin.
"""

import re

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


BRIDGE_MIN_DIGITS = 8
BRIDGE_MAX_DIGITS = 15
_E164_SHAPE = re.compile(r"\+[1-9][0-9]{6,14}")


def has_e164_shape(value: object) -> bool:
    """`+` and 7-15 digits, no leading zero: the form every stored number has."""
    return isinstance(value, str) and _E164_SHAPE.fullmatch(value) is not None


def validate_phone_number(value: str) -> None:
    """A stored number: E.164 shape; numbers libphonenumber knows in its normal form."""
    if not isinstance(value, str) or not _E164_SHAPE.fullmatch(value):
        normalize_phone_number(value)  # raises, naming the problem
        raise ValidationError(
            "Store phone numbers normalised to E.164 (e.g. +14155550123).", code="not_normalised"
        )
    try:
        normal = normalize_phone_number(value)
    except ValidationError:
        return  # a number WhatsApp reported that libphonenumber does not know
    if normal != value:
        raise ValidationError(
            "Store phone numbers normalised to E.164 (e.g. +14155550123).", code="not_normalised"
        )


def phone_number_from_bridge(digits: str) -> str | None:
    """E.164 for a number WhatsApp reported (a JID's user part, digits), or None.

    Any 8-15 digits not starting with 0 are accepted: see the module docstring.
    """
    if (
        not digits.isascii()
        or not digits.isdigit()
        or digits.startswith("0")
        or not BRIDGE_MIN_DIGITS <= len(digits) <= BRIDGE_MAX_DIGITS
    ):
        return None
    return "+" + digits


def bridge_number_problem(digits: str) -> str:
    """Why `phone_number_from_bridge` refused `digits`, for error messages."""
    if not digits.isascii() or not digits.isdigit():
        return "must be the phone number as digits"
    if digits.startswith("0"):
        return "must start with the country code, not 0"
    return f"has {len(digits)} digits; a phone number has {BRIDGE_MIN_DIGITS}-{BRIDGE_MAX_DIGITS}"
