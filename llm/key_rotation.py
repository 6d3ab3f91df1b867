"""Re-encrypting stored API keys under the first key of `FIELD_ENCRYPTION_KEYS`.

Rotation: put the new key first and keep the old one after it, run
`manage.py rotate_encryption_keys`, then drop the old key once nothing needs it.
"""

from dataclasses import dataclass

from django.db import transaction

from accounts.models import User
from core.audit import AuditAction, audit_log_record
from llm import crypto
from llm.models import LLMConfig


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
    """Re-encrypt every stored key under the first key and report the counts.

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
