"""API keys are encrypted at rest under the FIELD_ENCRYPTION_KEYS ring."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Lower

from accounts.models import User
from llm import crypto
from llm.models import LLMConfig
from llm.tests.ciphertext import stored_ciphertext
from llm.tests.factories import LLMConfigFactory

pytestmark = pytest.mark.django_db

PLAINTEXT = "sk-proj-test-only-4f9a2c7e1b3d5f6a8c0e2d4fwxyz"
KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def raw_last4(config_pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key_last4 FROM llm_llmconfig WHERE id = %s", [config_pk])
        return cursor.fetchone()[0]


def test_column_holds_ciphertext_under_the_first_key(settings):
    config = LLMConfigFactory(api_key=PLAINTEXT)
    raw = stored_ciphertext(config.pk)

    assert PLAINTEXT not in raw
    assert PLAINTEXT[3:-4] not in raw
    prefix, kid, token = raw.split("$", 2)
    assert prefix == "zf1"
    assert kid == crypto.key_id(settings.FIELD_ENCRYPTION_KEYS[0])
    assert Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode()).decrypt(token).decode() == PLAINTEXT
    assert raw_last4(config.pk) == "wxyz"


@pytest.mark.parametrize(
    "plaintext", [PLAINTEXT, "sk-ant-api03-" + "a" * 95, "AIza" + "B" * 35, "ключ-🔑-$zf1$"]
)
def test_round_trip(plaintext):
    config = LLMConfigFactory(api_key=plaintext)
    assert LLMConfig.objects.get(pk=config.pk).get_api_key() == plaintext


def test_same_key_encrypts_differently_each_time():
    first = LLMConfigFactory(api_key=PLAINTEXT)
    second = LLMConfigFactory(api_key=PLAINTEXT)
    assert stored_ciphertext(first.pk) != stored_ciphertext(second.pk)


def test_every_key_in_the_ring_decrypts(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    config = LLMConfigFactory(api_key=PLAINTEXT)
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    assert LLMConfig.objects.get(pk=config.pk).get_api_key() == PLAINTEXT
    assert crypto.needs_rotation(stored_ciphertext(config.pk))


def test_unknown_key_raises_decryption_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    config = LLMConfigFactory(api_key=PLAINTEXT)
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]

    with pytest.raises(crypto.DecryptionError) as excinfo:
        LLMConfig.objects.get(pk=config.pk).get_api_key()
    message = str(excinfo.value)
    assert crypto.key_id(KEY_A) in message
    assert "FIELD_ENCRYPTION_KEYS" in message
    assert PLAINTEXT not in message
    assert KEY_A not in message and KEY_B not in message


def test_wrong_key_with_a_forged_key_id_raises(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    config = LLMConfigFactory(api_key=PLAINTEXT)
    token = stored_ciphertext(config.pk).split("$", 2)[2]
    forged = f"zf1${crypto.key_id(KEY_B)}${token}"
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]
    with pytest.raises(crypto.DecryptionError, match="corrupted or tampered"):
        crypto.decrypt(forged)


@pytest.mark.parametrize("position", [0, 20, 60, -5, -1])
def test_tampered_token_raises(position):
    config = LLMConfigFactory(api_key=PLAINTEXT)
    raw = stored_ciphertext(config.pk)
    prefix, kid, token = raw.split("$", 2)
    index = position % len(token)
    replacement = "A" if token[index] != "A" else "B"
    tampered = token[:index] + replacement + token[index + 1 :]
    LLMConfig.objects.filter(pk=config.pk).update(api_key_encrypted=f"{prefix}${kid}${tampered}")

    with pytest.raises(crypto.DecryptionError) as excinfo:
        LLMConfig.objects.get(pk=config.pk).get_api_key()
    assert PLAINTEXT not in str(excinfo.value)


@pytest.mark.parametrize("value", ["", "zf1$short$token", "zf2$abcdef12$gAAAA", "not-encrypted"])
def test_values_not_in_zapa_format_raise(value):
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(value)


def test_saving_plaintext_in_the_encrypted_column_is_refused():
    config = LLMConfigFactory(api_key=PLAINTEXT)
    before = stored_ciphertext(config.pk)

    config.api_key_encrypted = "sk-plaintext-by-mistake-000000000000"
    with pytest.raises(ValueError, match="only stores ciphertext"), transaction.atomic():
        config.save()
    with pytest.raises(ValueError, match="only stores ciphertext"), transaction.atomic():
        LLMConfig.objects.filter(pk=config.pk).update(
            api_key_encrypted="sk-plaintext-by-mistake-000000000000"
        )
    with pytest.raises(ValueError, match="only stores ciphertext"), transaction.atomic():
        LLMConfig.objects.bulk_create(
            [LLMConfig(user=config.user, provider="openai", api_key_encrypted="sk-plain-0000")]
        )
    assert stored_ciphertext(config.pk) == before


@pytest.mark.parametrize(
    "build",
    [
        lambda: LLMConfig.objects.filter(api_key_encrypted="zf1$x$y"),
        lambda: LLMConfig.objects.filter(api_key_encrypted__startswith="zf1$"),
        lambda: LLMConfig.objects.filter(api_key_encrypted__contains="sk-"),
        lambda: LLMConfig.objects.filter(api_key_encrypted__isnull=False),
        lambda: LLMConfig.objects.filter(api_key_encrypted__in=["zf1$x$y"]),
        lambda: LLMConfig.objects.filter(api_key_encrypted__lower="x"),
        lambda: LLMConfig.objects.exclude(api_key_encrypted="zf1$x$y"),
        lambda: LLMConfig.objects.exclude(api_key_encrypted__icontains="x"),
        lambda: LLMConfig.objects.filter(api_key_encrypted=F("api_key_last4")),
        lambda: User.objects.filter(llm_configs__api_key_encrypted="zf1$x$y"),
        lambda: LLMConfig.objects.order_by("api_key_encrypted"),
        lambda: LLMConfig.objects.order_by("-api_key_encrypted"),
        lambda: LLMConfig.objects.order_by("user", "api_key_encrypted"),
        lambda: LLMConfig.objects.order_by(F("api_key_encrypted").desc()),
        lambda: LLMConfig.objects.order_by(Lower("api_key_encrypted")),
        lambda: LLMConfig.objects.filter(is_active=True).order_by("api_key_encrypted"),
    ],
)
def test_lookups_and_ordering_on_the_encrypted_column_raise(build):
    LLMConfigFactory(api_key=PLAINTEXT)
    with pytest.raises(FieldError):
        list(build())


def test_ordering_and_filtering_on_other_columns_still_work():
    config = LLMConfigFactory(api_key=PLAINTEXT)
    assert list(LLMConfig.objects.filter(api_key_last4="wxyz").order_by("-created_at")) == [config]
    assert list(LLMConfig.objects.order_by(F("created_at").desc(), "pk")) == [config]
