"""Users: the ones WhatsApp tells us about, the ones a login code creates, and what a
user may change about themselves."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts import selectors
from accounts.models import User


def whatsapp_users_ensure(*, names_by_phone: dict[str, str]) -> None:
    """Make sure people WhatsApp told us about have users (one INSERT; existing users
    are left as they are; display name: the value). Numbers from WhatsApp are real by
    definition, so they only need the E.164 shape (`core.phone.phone_number_from_bridge`)."""
    if names_by_phone:
        User.objects.create_whatsapp_users(names_by_phone)


def whatsapp_user_ids(*, names_by_phone: dict[str, str]) -> dict[str, int]:
    """User ids by E.164 number, creating the missing users (see whatsapp_users_ensure)."""
    whatsapp_users_ensure(names_by_phone=names_by_phone)
    return dict(
        User.objects.filter(phone_number__in=sorted(names_by_phone)).values_list(
            "phone_number", "pk"
        )
    )


def user_get_or_create(*, phone_number: str) -> User:
    """The user of a normalised number, created when it is new (a code login's first)."""
    user = selectors.user_get_by_phone(phone_number=phone_number)
    if user is not None:
        return user
    try:
        with transaction.atomic():
            return User.objects.create_user(phone_number)
    except (IntegrityError, ValidationError):
        # A concurrent request created the same number first.
        return User.objects.get(phone_number=phone_number)


def user_profile_update(
    *, user: User, display_name: str | None = None, preferences: dict | None = None
) -> User:
    """Change what a user may change about themselves."""
    fields = []
    if display_name is not None:
        user.display_name = display_name
        fields.append("display_name")
    if preferences is not None:
        user.preferences = preferences
        fields.append("preferences")
    if fields:
        user.save(update_fields=[*fields, "updated_at"])
    return user
