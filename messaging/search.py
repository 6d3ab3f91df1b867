"""Full-text search over message content and caption.

On PostgreSQL a GIN expression index (migration 0002) covers exactly
`DOCUMENT_SQL`; queries must use the same expression for the planner to use it.
The 'simple' configuration does no stemming, which suits multilingual chats.
SQLite falls back to a case-insensitive substring match.
"""

from django.db import connection
from django.db.models import BooleanField, FloatField, Q, QuerySet
from django.db.models.expressions import RawSQL

SEARCH_CONFIG = "simple"
DOCUMENT_SQL = (
    f"to_tsvector('{SEARCH_CONFIG}'::regconfig, "
    "COALESCE(content, '') || ' ' || COALESCE(caption, ''))"
)
INDEX_NAME = "message_search_gin_idx"


def _qualified_document_sql(table: str) -> str:
    return DOCUMENT_SQL.replace("content", f'"{table}"."content"').replace(
        "caption", f'"{table}"."caption"'
    )


def search_messages(queryset: QuerySet, text: str, *, ranked: bool = False) -> QuerySet:
    """Narrow `queryset` to messages matching `text` (words, "phrases", -not)."""
    text = text.strip()
    if not text:
        return queryset
    if connection.vendor != "postgresql":
        return queryset.filter(Q(content__icontains=text) | Q(caption__icontains=text))
    document = _qualified_document_sql(queryset.model._meta.db_table)
    # Only constant SQL is interpolated; the user's text is a bound parameter.
    matches = RawSQL(  # noqa: S611
        f"{document} @@ websearch_to_tsquery('{SEARCH_CONFIG}'::regconfig, %s)",
        (text,),
        output_field=BooleanField(),
    )
    queryset = queryset.filter(matches)
    if ranked:
        queryset = queryset.annotate(
            search_rank=RawSQL(  # noqa: S611
                f"ts_rank_cd({document}, websearch_to_tsquery('{SEARCH_CONFIG}'::regconfig, %s))",
                (text,),
                output_field=FloatField(),
            )
        )
    return queryset
