"""What the database really holds for an LLM config's encrypted key."""

from core.testing.raw_sql import raw_row
from llm.models import LLMConfig


def stored_ciphertext(config_pk: int) -> str:
    """What the LLMConfig's api_key_encrypted column holds."""
    return raw_row(LLMConfig, config_pk, "api_key_encrypted")[0]
