"""Key rotation: `manage.py rotate_encryption_keys` and the llm_keys_rotate service."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import StaffUserFactory
from core.models import AuditLog
from llm import crypto
from llm.models import LLMConfig
from llm.services import (
    KeyRotationIncomplete,
    KeyRotationResult,
    llm_keys_rotate,
    llm_keys_rotation_run,
)
from llm.tests.factories import LLMConfigFactory

pytestmark = pytest.mark.django_db

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
KEY_C = Fernet.generate_key().decode()
PLAINTEXTS = [f"sk-rotation-test-{n:02d}-{'x' * 20}{n:04d}" for n in range(5)]


def stored_values() -> dict[int, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, api_key_encrypted FROM llm_llmconfig ORDER BY id")
        return dict(cursor.fetchall())


def rotate(*args) -> str:
    out = io.StringIO()
    call_command("rotate_encryption_keys", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def configs_under_key_a(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    configs = [LLMConfigFactory(api_key=plaintext) for plaintext in PLAINTEXTS]
    assert {v.split("$")[1] for v in stored_values().values()} == {crypto.key_id(KEY_A)}
    return {config.pk: plaintext for config, plaintext in zip(configs, PLAINTEXTS, strict=True)}


def assert_all_decrypt(expected: dict[int, str]) -> None:
    for config in LLMConfig.objects.all():
        assert config.get_api_key() == expected[config.pk]


def test_rotation_re_encrypts_everything_under_the_new_key(settings, configs_under_key_a):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    output = rotate()

    assert "Re-encrypted 5 of 5 keys" in output
    assert crypto.key_id(KEY_B) in output
    values = stored_values()
    assert {v.split("$")[1] for v in values.values()} == {crypto.key_id(KEY_B)}
    for value in values.values():
        assert not any(plaintext in value for plaintext in PLAINTEXTS)
    assert_all_decrypt(configs_under_key_a)

    # The old key can now be dropped.
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]
    assert_all_decrypt(configs_under_key_a)
    assert (
        LLMConfig.objects.get(pk=min(configs_under_key_a)).api_key_last4
        == (configs_under_key_a[min(configs_under_key_a)][-4:])
    )


def test_rotation_is_idempotent(settings, configs_under_key_a):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    rotate()
    after_first = stored_values()

    output = rotate()

    assert "Re-encrypted 0 of 5 keys" in output
    assert "5 already under it" in output
    assert stored_values() == after_first
    assert AuditLog.objects.filter(action="llm_keys_rotated").count() == 2


def test_rotation_in_small_batches_covers_every_row(settings, configs_under_key_a):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    output = rotate("--batch-size", "2")
    assert "Re-encrypted 5 of 5 keys" in output
    assert {v.split("$")[1] for v in stored_values().values()} == {crypto.key_id(KEY_B)}
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]
    assert_all_decrypt(configs_under_key_a)


def test_partially_rotated_ring_rotates_only_what_is_needed(settings, configs_under_key_a):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    newer = LLMConfigFactory(api_key="sk-already-under-key-b-00000000000000")
    before = stored_values()[newer.pk]

    output = rotate()

    assert "Re-encrypted 5 of 6 keys" in output
    assert "1 already under it" in output
    assert stored_values()[newer.pk] == before


def test_dry_run_writes_nothing(settings, configs_under_key_a):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    before = stored_values()

    output = rotate("--dry-run")

    assert "Would re-encrypt 5 of 5 keys" in output
    assert "nothing was written" in output
    assert stored_values() == before
    assert not AuditLog.objects.filter(action="llm_keys_rotated").exists()


def test_undecryptable_values_fail_the_command_and_are_listed_by_id(settings, configs_under_key_a):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_C]
    lost_plaintext = "sk-written-under-a-forgotten-key-000000lost"
    lost = LLMConfigFactory(api_key=lost_plaintext)
    lost_value = stored_values()[lost.pk]
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    out = io.StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("rotate_encryption_keys", stdout=out)

    message = str(excinfo.value)
    assert excinfo.value.returncode == 1
    assert f"LLM config ids: {lost.pk}" in message
    assert "could not be decrypted" in message
    for secret in [lost_plaintext, lost_value, lost_value.split("$")[2], KEY_A, KEY_B, KEY_C]:
        assert secret not in message
        assert secret not in out.getvalue()
    assert "Re-encrypted 5 of 6 keys" in out.getvalue()
    assert "1 undecryptable" in out.getvalue()
    # The others were still rotated; the lost one is untouched.
    values = stored_values()
    assert values[lost.pk] == lost_value
    assert {values[pk].split("$")[1] for pk in configs_under_key_a} == {crypto.key_id(KEY_B)}


def test_dry_run_also_reports_undecryptable_values(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_C]
    lost = LLMConfigFactory()
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    with pytest.raises(CommandError, match=rf"LLM config ids: {lost.pk}\b"):
        rotate("--dry-run")


def test_invalid_batch_size_is_refused():
    with pytest.raises(CommandError, match="at least 1"):
        rotate("--batch-size", "0")


def test_empty_table(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]
    assert "Re-encrypted 0 of 0 keys" in rotate()


def test_service_returns_count_and_writes_one_audit_row_with_counts_only(
    settings, configs_under_key_a
):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    admin = StaffUserFactory()

    assert llm_keys_rotate(actor=admin, batch_size=3) == 5

    entry = AuditLog.objects.get(action="llm_keys_rotated")
    assert entry.actor == admin
    assert entry.changes == {"total": 5, "rotated": 5, "already_current": 0, "undecryptable": 0}
    assert llm_keys_rotate() == 0


def test_service_raises_after_rotating_what_it_can(settings, configs_under_key_a):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_C]
    lost = LLMConfigFactory()
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    with pytest.raises(KeyRotationIncomplete) as excinfo:
        llm_keys_rotate()

    assert excinfo.value.result.undecryptable_ids == (lost.pk,)
    assert excinfo.value.result.rotated == 5
    entry = AuditLog.objects.get(action="llm_keys_rotated")
    assert entry.changes["undecryptable"] == 1


def test_long_id_lists_are_shortened():
    result = KeyRotationResult(
        total=80, rotated=0, already_current=0, undecryptable_ids=tuple(range(1, 81))
    )
    message = str(KeyRotationIncomplete(result))
    assert "1, 2, 3" in message
    assert "and 30 more" in message
    assert ", 51," not in message


@pytest.mark.postgres
def test_rows_are_locked_while_rewritten(settings, configs_under_key_a):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    with CaptureQueriesContext(connection) as queries:
        llm_keys_rotation_run(batch_size=2)
    selects = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    batch_reads = [sql for sql in selects if "llm_llmconfig" in sql]
    assert len(batch_reads) == 4  # 2 + 2 + 1 rows, then an empty batch
    assert all(sql.rstrip().endswith("FOR UPDATE") for sql in batch_reads)
