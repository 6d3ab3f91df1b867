"""Full-text search over message content and caption.

On PostgreSQL every message stores its document in `search_document`, a generated
column equal to `DOCUMENT_SQL` (migration 0006), and the GIN index `INDEX_NAME`
covers that column. The 'simple' configuration does no stemming, which suits
multilingual chats. SQLite falls back to a case-insensitive substring match.

Two plans, chosen per search by how common the query's matches are:

- **Walk** (common matches): read the newest rows through the ordered history
  index and test each row's stored document, stopping once the page is full. A
  phrase on 2% of the rows fills a page of 50 after about 2,500 rows, ~1 ms.
- **GIN** (rare matches): the index finds the candidate rows, each is rechecked on
  its stored document (GIN keeps no word positions), then the few matches are
  sorted. Walking instead would read the whole history to find them.

`search_messages` measures first, in one small query (the probe): how many of the
newest `PROBE_ROWS` rows of the queryset match the query itself (a phrase of two
common words can still be rare, so word frequencies would mislead). It walks when
at least `WALK_MIN_MATCHES` of them do (1%), or when the queryset has fewer than
`PROBE_ROWS` rows (walking them all beats the GIN index, whose lookups of common
words cost the same however small the history is); otherwise it uses the GIN
index. Both plans return exactly the rows `document @@ query` selects, so the
choice changes time, never results, and later filters, keyset cursors and orderings
apply to either. A search therefore costs two queries, the probe and the page,
whatever the page.
"""

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import BooleanField, FloatField, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL

SEARCH_CONFIG = "simple"
DOCUMENT_SQL = (
    f"to_tsvector('{SEARCH_CONFIG}'::regconfig, "
    "COALESCE(content, '') || ' ' || COALESCE(caption, ''))"
)
DOCUMENT_COLUMN = "search_document"
INDEX_NAME = "message_search_gin_idx"
QUERY_SQL = f"websearch_to_tsquery('{SEARCH_CONFIG}'::regconfig, %s)"

# The probe reads this many of the newest rows; the walk is chosen when at least
# WALK_MIN_MATCHES of them match (1%: a page of 50 within ~5,000 rows).
PROBE_ROWS = 500
WALK_MIN_MATCHES = 5


def _qualified_document_sql(table: str) -> str:
    return DOCUMENT_SQL.replace("content", f'"{table}"."content"').replace(
        "caption", f'"{table}"."caption"'
    )


def search_messages(queryset: QuerySet, text: str, *, ranked: bool = False) -> QuerySet:
    """Narrow `queryset` to messages matching `text` (words, "phrases", -not).

    On PostgreSQL this runs the probe (one query) unless `ranked`, which annotates
    `search_rank` for ordering by relevance and always uses the GIN index.
    """
    text = text.strip()
    if not text:
        return queryset
    if connection.vendor != "postgresql":
        return queryset.filter(Q(content__icontains=text) | Q(caption__icontains=text))
    table = queryset.model._meta.db_table
    document = f'"{table}"."{DOCUMENT_COLUMN}"'
    # Only constant SQL is interpolated; the user's text is always a bound parameter.
    if ranked:
        return queryset.filter(
            RawSQL(f"{document} @@ {QUERY_SQL}", (text,), output_field=BooleanField())  # noqa: S611
        ).annotate(
            search_rank=RawSQL(  # noqa: S611
                f"ts_rank_cd({document}, {QUERY_SQL})", (text,), output_field=FloatField()
            )
        )
    try:
        walk = _walk_pays(queryset, text)
    except EmptyResultSet:  # queryset.none() and the like: nothing to search
        return queryset
    if walk:
        return queryset.filter(_walk_match(table, text))
    return queryset.filter(_index_match(queryset, table, text))


def _walk_pays(queryset: QuerySet, text: str) -> bool:
    """The probe: whether walking the newest rows finds matches often enough."""
    table = queryset.model._meta.db_table
    newest = (
        queryset.filter(_user_index_hint(table, text))
        .annotate(
            probed_document=RawSQL(  # noqa: S611
                f'"{table}"."{DOCUMENT_COLUMN}"', (), output_field=TextField()
            )
        )
        .order_by("-timestamp", "-id")
        .values("probed_document")[:PROBE_ROWS]
    )
    newest_sql, params = newest.query.sql_with_params()  # placeholders, values apart
    probe = (
        f"SELECT count(*), count(*) FILTER (WHERE newest.probed_document @@ {QUERY_SQL}) "  # noqa: S608
        f"FROM ({newest_sql}) AS newest"
    )
    with connection.cursor() as cursor:
        cursor.execute(probe, (text, *params))
        rows, matches = cursor.fetchone()
    return rows < PROBE_ROWS or matches >= WALK_MIN_MATCHES


def _walk_match(table: str, text: str) -> Q:
    """Each row's stored document, tested as the walk reaches it.

    `ts_match_vq(…)` is the `@@` operator as a function call, which no index
    serves, so the planner keeps the ordered walk instead of the GIN index.
    """
    stored = RawSQL(  # noqa: S611
        f'ts_match_vq("{table}"."{DOCUMENT_COLUMN}", {QUERY_SQL})',
        (text,),
        output_field=BooleanField(),
    )
    return Q(stored) & Q(_user_index_hint(table, text))


def _user_index_hint(table: str, text: str) -> RawSQL:
    """Always true, and priced by the planner as parsing every row it reads.

    The stored document is never NULL, so the parse after OR never runs. The
    planner counts its cost for each row a plan reads, and so walks the index that
    reads the fewest rows: the user's own history (or chat) index, not the
    timestamp index over every user's rows, which it otherwise prefers when one
    user holds a large share of the table (10% in the benchmark: ten times the rows).
    """
    return RawSQL(  # noqa: S611
        f'("{table}"."{DOCUMENT_COLUMN}" IS NOT NULL '
        f"OR ts_match_vq({_qualified_document_sql(table)}, {QUERY_SQL}))",
        (text,),
        output_field=BooleanField(),
    )


def _index_match(queryset: QuerySet, table: str, text: str) -> RawSQL:
    """The ids the GIN index finds among the queryset's rows, fetched by primary key.

    The array is computed once, before the outer query reads any row; the outer
    query then looks those rows up by id and applies its own filters, cursor and
    order. As an ANY(ARRAY(…)) the planner cannot turn it back into a walk.
    """
    document = f'"{table}"."{DOCUMENT_COLUMN}"'
    found = (
        queryset.filter(
            RawSQL(f"{document} @@ {QUERY_SQL}", (text,), output_field=BooleanField())  # noqa: S611
        )
        .order_by()
        .values("pk")
    )
    found_sql, params = found.query.sql_with_params()
    return RawSQL(  # noqa: S611
        f'"{table}"."id" = ANY(ARRAY({found_sql}))', params, output_field=BooleanField()
    )
