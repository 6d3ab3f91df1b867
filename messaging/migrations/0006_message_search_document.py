"""Search reads a stored document: `messaging_message.search_document` (PostgreSQL only).

The column is `GENERATED ALWAYS AS (<DOCUMENT_SQL>) STORED`, the same tsvector the
GIN index of migration 0002 was built on, so PostgreSQL keeps it up to date on every
INSERT and UPDATE (the ingest, `seed_bulk`'s COPY and the ORM need no change, and
the model does not list it). The GIN index `message_search_gin_idx` moves from the
expression to the column. What it buys (messaging/search.py): a row is matched by
reading its stored tsvector instead of parsing its text again, about 0.5 µs instead
of 6 µs, which makes walking a user's newest rows cheap for common terms and the GIN
index's rechecks cheap for rare ones.

Cost, measured on 1M messages (289 MB table, 9 indexes; 2 shared CPUs, stock
PostgreSQL 15 settings): the ALTER TABLE rewrites the table and rebuilds its btree
indexes in 14.7 s, then the GIN index is built from the stored column in 2.3 s:
17 s per million rows, `manage.py migrate` 19 s in all, so about 3 minutes for 10M
rows. (Dropping the expression index first saves parsing every message a second
time: the same ALTER with it still in place took 23.6 s.) The table grows by the
documents, about 76 bytes a row (289 MB to 365 MB per million); the GIN index stays
19 MB, and seeding runs at the same speed (18.0k rows/s with the column, 18.2k
without). The ALTER holds an ACCESS EXCLUSIVE lock on messaging_message the whole
time: history pages, search and message writes wait for it. On a big table switch
the webhook to queued ingest first (WEBHOOK_INGEST=queued: the webhook then stores
only webhook events and answers at once; the worker catches up afterwards), or
migrate in a quiet hour. Reversing it drops the column (instant) and rebuilds the
expression index, 8.3 s per million rows.

SQLite has neither tsvector nor GIN; there search matches substrings, so this
migration does nothing on other databases.
"""

from django.db import migrations

# Frozen copies of messaging.search's names and document as of this migration.
INDEX_NAME = "message_search_gin_idx"
COLUMN = "search_document"
DOCUMENT_SQL = (
    "to_tsvector('simple'::regconfig, COALESCE(content, '') || ' ' || COALESCE(caption, ''))"
)


def store_the_document(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # Minutes on a big table: the web's statement_timeout (30 s) must not cancel it.
    schema_editor.execute("SET LOCAL statement_timeout = 0")
    # The old index first, so the table rewrite does not parse every message again
    # to rebuild an index that is dropped anyway.
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX_NAME}")
    schema_editor.execute(
        f"ALTER TABLE messaging_message ADD COLUMN {COLUMN} tsvector "
        f"GENERATED ALWAYS AS ({DOCUMENT_SQL}) STORED"
    )
    schema_editor.execute(f"CREATE INDEX {INDEX_NAME} ON messaging_message USING gin ({COLUMN})")


def index_the_expression_again(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("SET LOCAL statement_timeout = 0")
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX_NAME}")
    schema_editor.execute(f"ALTER TABLE messaging_message DROP COLUMN IF EXISTS {COLUMN}")
    schema_editor.execute(
        f"CREATE INDEX {INDEX_NAME} ON messaging_message USING gin ({DOCUMENT_SQL})"
    )


class Migration(migrations.Migration):
    dependencies = [("messaging", "0005_webhookevent_claimed_at")]

    operations = [migrations.RunPython(store_the_document, index_the_expression_again)]
