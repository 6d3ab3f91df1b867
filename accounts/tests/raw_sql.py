"""Reading rows with raw SQL in tests, to see what the database really holds."""

from django.db import connection


def raw_row(model, pk, *columns):
    """Column values as the database holds them, bypassing the ORM's conversions."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(quote(c) for c in columns)} "
            f"FROM {quote(model._meta.db_table)} WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()


def stored_ciphertext(config_pk: int) -> str:
    """What the LLMConfig's api_key_encrypted column holds."""
    from llm.models import LLMConfig

    return raw_row(LLMConfig, config_pk, "api_key_encrypted")[0]
