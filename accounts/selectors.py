"""Reads about accounts shared by the API, the admin and services."""

from accounts.models import AuthCode, User


def user_get_by_phone(*, phone_number: str) -> User | None:
    """The user with this (normalised, E.164) phone number, or None."""
    return User.objects.filter(phone_number=phone_number).first()


def auth_code_newest_unused(*, user: User, lock: bool = False) -> AuthCode | None:
    """The only code of `user` that can still succeed, if any (it may be expired).

    With `lock`, the row stays locked until the surrounding transaction ends.
    """
    codes = AuthCode.objects.filter(user=user, used_at__isnull=True).order_by("-created_at", "-id")
    if lock:
        codes = codes.select_for_update()
    return codes.first()
