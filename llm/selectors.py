"""Reads of LLM configs shared by the API and the admin."""

from django.db.models import QuerySet

from accounts.models import User
from llm.models import LLMConfig


def llm_configs_for_user(*, user: User) -> QuerySet[LLMConfig]:
    """A user's configs, newest first (id breaks ties). The ciphertext is not loaded."""
    return (
        LLMConfig.objects.filter(user=user)
        .defer("api_key_encrypted")
        .order_by("-created_at", "-id")
    )


def llm_config_for_user(*, user: User, config_id: int, with_key: bool = False) -> LLMConfig:
    """One of the user's configs; LLMConfig.DoesNotExist for anyone else's (or none)."""
    configs = LLMConfig.objects.filter(user=user) if with_key else llm_configs_for_user(user=user)
    return configs.get(pk=config_id)


def llm_active_config(*, user: User) -> LLMConfig | None:
    """The config the user's assistant uses, if any (key loaded: callers need it)."""
    return LLMConfig.objects.filter(user=user, is_active=True).first()
