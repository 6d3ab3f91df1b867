"""Writes for LLM configs and their stored keys. Keyword-only arguments; each service
owns its transaction.

Validation errors are Django `ValidationError`s keyed by field (`provider`,
`api_key`, `model_settings`), usable by the API and the admin alike. Audit rows
record only what is not secret: provider, the key's last 4 characters, the model.
"""

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.audit import AuditAction, audit_log_record
from llm import crypto
from llm.key_check import Outcome, ProviderCheck, check_api_key
from llm.models import ActionLog, LLMConfig
from llm.validation import validate_config

ACTION_CHECK_KEY = "check_key"


def _lock_user_configs(user_id: int) -> list[LLMConfig]:
    """Serialise every change to a user's active config.

    The user row is locked too: with no configs yet there is nothing else to lock,
    and two concurrent "create active" requests must still queue.
    """
    list(User.objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True))
    return list(
        LLMConfig.objects.select_for_update()
        .filter(user_id=user_id)
        .only("id", "is_active")
        .order_by("id")
    )


def _deactivate_others(user_id: int, keep_id: int | None) -> list[int]:
    others = [c.pk for c in _lock_user_configs(user_id) if c.is_active and c.pk != keep_id]
    if others:
        LLMConfig.objects.filter(pk__in=others).update(is_active=False, updated_at=timezone.now())
    return others


def llm_config_create(
    *,
    user: User,
    provider: str,
    api_key: str,
    model_settings: dict[str, Any] | None,
    is_active: bool = False,
    actor: User | None = None,
    request=None,
) -> LLMConfig:
    valid = validate_config(
        current=None, provider=provider, api_key=api_key, model_settings=model_settings
    )
    config = LLMConfig(
        user=user,
        provider=valid.provider,
        model_settings=valid.model_settings,
        is_active=is_active,
    )
    config.set_api_key(valid.api_key)
    with transaction.atomic():
        if is_active:
            _deactivate_others(user.pk, keep_id=None)
        config.save()
        audit_log_record(
            action=AuditAction.LLM_KEY_CREATED,
            actor=actor,
            resource=config,
            changes={
                "provider": config.provider,
                "api_key_last4": config.api_key_last4,
                "model": config.model_settings["model"],
                "is_active": is_active,
            },
            request=request,
        )
    return config


def llm_config_set_key(
    *, config: LLMConfig, api_key: str, actor: User | None = None, request=None
) -> LLMConfig:
    """Replace the key (same provider), encrypted under the current primary key."""
    key = validate_config(current=config, provider=config.provider, api_key=api_key).api_key
    old_last4 = config.api_key_last4
    config.set_api_key(key)
    with transaction.atomic():
        config.save(
            update_fields=["api_key_encrypted", "api_key_last4", "key_rejected_at", "updated_at"]
        )
        audit_log_record(
            action=AuditAction.LLM_KEY_CHANGED,
            actor=actor,
            resource=config,
            changes={
                "provider": config.provider,
                "api_key_last4": {"old": old_last4, "new": config.api_key_last4},
            },
            request=request,
        )
    return config


def _settings_changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per changed setting. A list, not a dict keyed by setting name: the audit
    scrubber redacts keys that merely look secret (e.g. "max_tokens")."""
    changes = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            if name == "custom_instructions":
                # Can be long; the audit row only notes the change.
                changes.append({"setting": name, "changed": True})
            else:
                changes.append({"setting": name, "old": old.get(name), "new": new.get(name)})
    return changes


def llm_config_update(
    *,
    config: LLMConfig,
    api_key: str | None = None,
    provider: str | None = None,
    model_settings: dict[str, Any] | None = None,
    actor: User | None = None,
    request=None,
) -> LLMConfig:
    """Change the provider, key and/or settings (settings are replaced as a whole).

    A new provider needs a new key in the same call; with a new provider and no
    settings, the old ones carry over minus the model (llm.validation.validate_config).
    """
    valid = validate_config(
        current=config,
        provider=config.provider if provider is None else provider,
        api_key=api_key,
        model_settings=model_settings,
    )
    new_provider, key, clean_settings = valid.provider, valid.api_key, valid.model_settings
    provider_changed = new_provider != config.provider

    old_provider, old_last4, old_settings = (
        config.provider,
        config.api_key_last4,
        dict(config.model_settings),
    )
    fields = ["updated_at"]
    if provider_changed:
        config.provider = new_provider
        fields.append("provider")
    if key is not None:
        config.set_api_key(key)
        fields += ["api_key_encrypted", "api_key_last4", "key_rejected_at"]
    if clean_settings is not None and clean_settings != old_settings:
        config.model_settings = clean_settings
        fields.append("model_settings")
    if fields == ["updated_at"]:
        return config

    with transaction.atomic():
        config.save(update_fields=fields)
        changes: dict[str, Any] = {}
        if provider_changed:
            changes["provider"] = {"old": old_provider, "new": new_provider}
        if "model_settings" in fields:
            changes["model_settings"] = _settings_changes(old_settings, clean_settings)
        if changes:
            audit_log_record(
                action=AuditAction.LLM_CONFIG_UPDATED,
                actor=actor,
                resource=config,
                changes=changes,
                request=request,
            )
        if key is not None:
            audit_log_record(
                action=AuditAction.LLM_KEY_CHANGED,
                actor=actor,
                resource=config,
                changes={
                    "provider": new_provider,
                    "api_key_last4": {"old": old_last4, "new": config.api_key_last4},
                },
                request=request,
            )
    return config


def llm_config_activate(*, config: LLMConfig, actor: User | None = None, request=None) -> LLMConfig:
    """Make `config` the user's one active config, deactivating the others atomically."""
    with transaction.atomic():
        deactivated = _deactivate_others(config.user_id, keep_id=config.pk)
        now = timezone.now()
        if not LLMConfig.objects.filter(pk=config.pk).update(is_active=True, updated_at=now):
            raise LLMConfig.DoesNotExist("The config was deleted meanwhile.")
        config.is_active, config.updated_at = True, now
        audit_log_record(
            action=AuditAction.LLM_CONFIG_ACTIVATED,
            actor=actor,
            resource=config,
            changes={"provider": config.provider, "deactivated_config_ids": deactivated},
            request=request,
        )
    return config


def llm_config_deactivate(
    *, config: LLMConfig, actor: User | None = None, request=None
) -> LLMConfig:
    with transaction.atomic():
        now = timezone.now()
        LLMConfig.objects.filter(pk=config.pk).update(is_active=False, updated_at=now)
        config.is_active, config.updated_at = False, now
        audit_log_record(
            action=AuditAction.LLM_CONFIG_DEACTIVATED,
            actor=actor,
            resource=config,
            changes={"provider": config.provider},
            request=request,
        )
    return config


def llm_config_delete(*, config: LLMConfig, actor: User | None = None, request=None) -> None:
    config_id = config.pk
    with transaction.atomic():
        audit_log_record(
            action=AuditAction.LLM_KEY_DELETED,
            actor=actor,
            resource_type=config._meta.model_name,
            resource_id=config_id,
            changes={
                "provider": config.provider,
                "api_key_last4": config.api_key_last4,
                "was_active": config.is_active,
            },
            request=request,
        )
        config.delete()


@dataclass(frozen=True)
class KeyCheckReport:
    """What a key check found, for the API (status mapping) and the admin (message)."""

    outcome: Outcome
    message: str
    action_log: ActionLog
    check: ProviderCheck

    @property
    def valid(self) -> bool:
        return self.outcome == Outcome.VALID


_LOG_STATUS = {
    Outcome.VALID: ActionLog.Status.SUCCESS,
    Outcome.REJECTED: ActionLog.Status.FAILURE,
    Outcome.PROVIDER_ERROR: ActionLog.Status.FAILURE,
    Outcome.TIMEOUT: ActionLog.Status.TIMEOUT,
    Outcome.UNREADABLE_KEY: ActionLog.Status.FAILURE,
}

UNREADABLE_KEY_MESSAGE = (
    "The stored API key cannot be decrypted with the server's current encryption keys. "
    "Enter the key again."
)


def llm_config_check_key(
    *, config: LLMConfig, actor: User | None = None, request=None
) -> KeyCheckReport:
    """Ask the provider whether the stored key works; log the call as an ActionLog.

    Raises nothing for what the provider or the network does: the outcome is in
    the report. The HTTP call runs outside any transaction.
    """
    model = config.model_settings.get("model", "")
    log = ActionLog.objects.create(
        user_id=config.user_id,
        config=config,
        action=ACTION_CHECK_KEY,
        provider=config.provider,
        status=ActionLog.Status.PENDING,
        request_summary={
            "method": "GET",
            "endpoint": "models",
            "api_key_last4": config.api_key_last4,
            "model": model,
        },
    )
    try:
        api_key = config.get_api_key()
    except crypto.DecryptionError:
        check = ProviderCheck(Outcome.UNREADABLE_KEY, UNREADABLE_KEY_MESSAGE)
    else:
        check = check_api_key(provider=config.provider, api_key=api_key)

    response_summary: dict[str, Any] = {"outcome": str(check.outcome)}
    if check.http_status is not None:
        response_summary["http_status"] = check.http_status
    if check.models_available is not None:
        response_summary["models_available"] = check.models_available
        response_summary["more_available"] = check.more_available
        if model:
            response_summary["configured_model_listed"] = model in check.model_ids
    if check.provider_message:
        response_summary["provider_message"] = check.provider_message

    log.status = _LOG_STATUS[check.outcome]
    log.response_summary = response_summary
    log.error_message = "" if check.valid else check.message
    log.execution_time_ms = check.elapsed_ms
    with transaction.atomic():
        log.save(
            update_fields=[
                "status",
                "response_summary",
                "error_message",
                "execution_time_ms",
                "updated_at",
            ]
        )
        audit_log_record(
            action=AuditAction.LLM_KEY_CHECKED,
            actor=actor,
            resource=config,
            changes={
                "provider": config.provider,
                "api_key_last4": config.api_key_last4,
                "outcome": str(check.outcome),
            },
            request=request,
        )
    return KeyCheckReport(outcome=check.outcome, message=check.message, action_log=log, check=check)


@dataclass(frozen=True)
class KeyRotationResult:
    total: int
    rotated: int
    already_current: int
    undecryptable_ids: tuple[int, ...]
    dry_run: bool = False


_IDS_SHOWN = 50


class KeyRotationIncomplete(Exception):
    """Some stored values could not be decrypted by any configured key."""

    def __init__(self, result: KeyRotationResult):
        self.result = result
        shown = result.undecryptable_ids[:_IDS_SHOWN]
        ids = ", ".join(str(pk) for pk in shown)
        if len(result.undecryptable_ids) > len(shown):
            ids += f" and {len(result.undecryptable_ids) - len(shown)} more"
        super().__init__(
            f"{len(result.undecryptable_ids)} stored API key(s) could not be decrypted by any "
            f"key in FIELD_ENCRYPTION_KEYS (LLM config ids: {ids}). Add the key that wrote them "
            "back to FIELD_ENCRYPTION_KEYS, or have their owners enter the API key again."
        )


def llm_keys_rotation_run(
    *, actor: User | None = None, batch_size: int = 500, dry_run: bool = False
) -> KeyRotationResult:
    """Re-encrypt every stored key under the first key of `FIELD_ENCRYPTION_KEYS` and
    report the counts (`manage.py rotate_encryption_keys`).

    Values no configured key can open are left untouched and reported by id. Each
    batch is rewritten under row locks in its own transaction, so a concurrent
    `llm_config_set_key` is never overwritten with a stale value. A dry run only
    counts; a real run writes one audit row (counts only).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    crypto.key_ring()  # an empty or invalid ring fails here, before any row is read
    total = rotated = already_current = 0
    undecryptable: list[int] = []
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                LLMConfig.objects.select_for_update()
                .filter(pk__gt=last_pk)
                .order_by("pk")
                .only("pk", "api_key_encrypted")[:batch_size]
            )
            if not batch:
                break
            changed = []
            for config in batch:
                try:
                    new_value = crypto.rotate(config.api_key_encrypted or "")
                except crypto.DecryptionError:
                    undecryptable.append(config.pk)
                    continue
                if new_value == config.api_key_encrypted:
                    already_current += 1
                else:
                    config.api_key_encrypted = new_value
                    changed.append(config)
            if changed and not dry_run:
                LLMConfig.objects.bulk_update(changed, ["api_key_encrypted"])
            rotated += len(changed)
            total += len(batch)
            last_pk = batch[-1].pk
    result = KeyRotationResult(
        total=total,
        rotated=rotated,
        already_current=already_current,
        undecryptable_ids=tuple(undecryptable),
        dry_run=dry_run,
    )
    if not dry_run:
        audit_log_record(
            action=AuditAction.LLM_KEYS_ROTATED,
            actor=actor,
            resource_type="llmconfig",
            changes={
                "total": total,
                "rotated": rotated,
                "already_current": already_current,
                "undecryptable": len(undecryptable),
            },
        )
    return result


def llm_keys_rotate(*, actor: User | None = None, batch_size: int = 500) -> int:
    """Re-encrypt every stored key under the first key; return how many were rewritten.

    Raises KeyRotationIncomplete (after rotating every value it could) when some
    value cannot be decrypted by any configured key.
    """
    result = llm_keys_rotation_run(actor=actor, batch_size=batch_size)
    if result.undecryptable_ids:
        raise KeyRotationIncomplete(result)
    return result.rotated
