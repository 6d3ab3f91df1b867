"""GIN index for full-text search over content and caption (PostgreSQL only).

SQLite has no GIN index; there search falls back to a substring match, so this
migration does nothing on other databases.
"""

from django.db import migrations

# Frozen copies of messaging.search.DOCUMENT_SQL / INDEX_NAME as of this migration.
INDEX_NAME = "message_search_gin_idx"
DOCUMENT_SQL = (
    "to_tsvector('simple'::regconfig, COALESCE(content, '') || ' ' || COALESCE(caption, ''))"
)


def create_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON messaging_message USING gin ({DOCUMENT_SQL})"
        )


def drop_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX_NAME}")


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]

    operations = [migrations.RunPython(create_search_index, drop_search_index)]
