"""dumpdata never writes an API key in clear, and a dump restores under the same key ring."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from llm import crypto
from llm.models import LLMConfig
from llm.tests.factories import ActionLogFactory, LLMConfigFactory
from messaging.models import ChatSummary, MessageCount
from messaging.tests.factories import MessageFactory

pytestmark = pytest.mark.django_db

# The dump → flush → load tests run outside a test transaction, as the commands do for real
# (PostgreSQL refuses to TRUNCATE tables with deferred constraint checks still pending).

PLAINTEXTS = {
    "openai": "sk-proj-dumpdata-test-7c1e9a3b5d2f4e6a8b0cwxyz",
    "anthropic": "sk-ant-api03-dumpdata-test-1f3e5a7c9b2d4f6aabcd",
    "google": "AIzaSyDumpdataTest0123456789abcdefghij",
}


def dump(*args) -> str:
    out = io.StringIO()
    call_command("dumpdata", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def configs():
    created = {}
    for provider, plaintext in PLAINTEXTS.items():
        config = LLMConfigFactory(
            provider=provider, api_key=plaintext, is_active=provider == "openai"
        )
        ActionLogFactory(user=config.user, config=config, provider=provider)
        MessageFactory(session__user=config.user)
        created[config.pk] = plaintext
    return created


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("llm",),
        ("llm.llmconfig",),
        ("accounts", "messaging", "llm", "--indent", "2"),
        ("llm", "--format", "xml"),
        ("llm", "--format", "jsonl"),
        ("llm", "--natural-foreign", "--natural-primary"),
    ],
)
def test_dumpdata_never_contains_a_plaintext_key(configs, args):
    output = dump(*args)
    assert "zf1$" in output
    for plaintext in PLAINTEXTS.values():
        assert plaintext not in output
        assert plaintext[:-4] not in output


def config_state() -> dict:
    return {
        config.pk: (
            config.user.phone_number,
            config.provider,
            config.is_active,
            config.api_key_last4,
            config.api_key_encrypted,
        )
        for config in LLMConfig.objects.select_related("user")
    }


@pytest.mark.django_db(transaction=True)
def test_dump_flush_load_keeps_every_key(configs, tmp_path):
    dump_file = tmp_path / "backup.json"
    call_command("dumpdata", "accounts", "messaging", "llm", output=str(dump_file), verbosity=0)
    before = config_state()
    assert len(before) == len(PLAINTEXTS)

    call_command("flush", interactive=False, verbosity=0)
    assert not LLMConfig.objects.exists()

    call_command("loaddata", str(dump_file), verbosity=0)

    assert config_state() == before
    for config in LLMConfig.objects.all():
        assert config.get_api_key() == configs[config.pk]


def summary_state() -> set:
    """Every summary row; times to the millisecond, as far as a JSON dump keeps them."""
    chats = ChatSummary.objects.values_list(
        "user__phone_number", "chat_jid", "message_count", "last_message_at"
    )
    counts = MessageCount.objects.values_list(
        "user__phone_number", "direction", "message_type", "message_count", "last_message_at"
    )
    rows = {("chat", *row) for row in chats} | {("count", *row) for row in counts}
    return {(*row[:-1], to_milliseconds(row[-1])) for row in rows}


def to_milliseconds(moment):
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def test_dump_leaves_out_the_summaries_the_database_derives(configs):
    assert ChatSummary.objects.exists()
    output = dump("accounts", "messaging", "llm")
    assert '"messaging.message"' in output
    assert "messaging.chatsummary" not in output
    assert "messaging.messagecount" not in output
    assert '"messaging.chatsummary"' in dump("messaging.ChatSummary")


@pytest.mark.django_db(transaction=True)
def test_a_loaded_dump_rebuilds_the_summaries(configs, tmp_path):
    before = summary_state()
    assert len(before) == 2 * len(PLAINTEXTS)
    dump_file = tmp_path / "backup.json"
    call_command("dumpdata", "accounts", "messaging", "llm", output=str(dump_file), verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    assert summary_state() == set()

    call_command("loaddata", str(dump_file), verbosity=0)

    assert summary_state() == before


@pytest.mark.django_db(transaction=True)
def test_an_older_dump_carrying_the_summaries_still_loads(configs, tmp_path):
    before = summary_state()
    dump_file = tmp_path / "backup.json"
    dump_file.write_text(
        dump("accounts", "messaging", "llm", "messaging.ChatSummary", "messaging.MessageCount")
    )
    assert "messaging.chatsummary" in dump_file.read_text()
    call_command("flush", interactive=False, verbosity=0)

    call_command("loaddata", str(dump_file), verbosity=0)

    assert summary_state() == before


@pytest.mark.django_db(transaction=True)
def test_dump_restores_under_a_rotated_ring(configs, tmp_path, settings):
    """A dump taken before a key rotation still loads once the old key is kept in the ring."""
    dump_file = tmp_path / "backup.json"
    call_command("dumpdata", "accounts", "messaging", "llm", output=str(dump_file), verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    settings.FIELD_ENCRYPTION_KEYS = [
        Fernet.generate_key().decode(),
        *settings.FIELD_ENCRYPTION_KEYS,
    ]

    call_command("loaddata", str(dump_file), verbosity=0)

    for config in LLMConfig.objects.all():
        assert crypto.needs_rotation(config.api_key_encrypted)
        assert config.get_api_key() == configs[config.pk]


@pytest.mark.django_db(transaction=True)
def test_dump_loaded_under_a_different_ring_is_refused_loudly(configs, tmp_path, settings):
    dump_file = tmp_path / "backup.json"
    call_command("dumpdata", "accounts", "messaging", "llm", output=str(dump_file), verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    call_command("loaddata", str(dump_file), verbosity=0)

    for config in LLMConfig.objects.all():
        with pytest.raises(crypto.DecryptionError, match="not in FIELD_ENCRYPTION_KEYS"):
            config.get_api_key()
