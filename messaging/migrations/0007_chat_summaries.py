"""Per-chat and per-user summaries of messages, kept by database triggers.

`messaging_chatsummary` (user, chat: count, newest time) feeds the conversation
list, `messaging_messagecount` (user, direction, type: count, first and last time)
the stats page, so neither reads a user's messages. Triggers on messaging_message keep
them in the same statement as the messages, whoever writes them (the ingest's set-based
INSERT, COPY, the ORM, cascades). On PostgreSQL they are statement-level triggers over
transition tables: one grouped upsert per statement, whatever its size. SQLite gets
row-level triggers with the same effect. Deleting a chat's newest (or a type's first
or last) message looks the new bound up through the history indexes.

The backfill reads the table once (about 5 s per million rows here).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

PG_FUNCTIONS = """
CREATE FUNCTION messaging_summaries_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO messaging_chatsummary AS c (user_id, chat_jid, message_count, last_message_at)
    SELECT user_id, chat_jid, count(*), max(timestamp) FROM new_rows
    GROUP BY user_id, chat_jid ORDER BY user_id, chat_jid
    ON CONFLICT (user_id, chat_jid) DO UPDATE
    SET message_count = c.message_count + EXCLUDED.message_count,
        last_message_at = GREATEST(c.last_message_at, EXCLUDED.last_message_at);
    INSERT INTO messaging_messagecount AS t
        (user_id, direction, message_type, message_count, first_message_at, last_message_at)
    SELECT user_id, direction, message_type, count(*), min(timestamp), max(timestamp)
    FROM new_rows
    GROUP BY user_id, direction, message_type ORDER BY user_id, direction, message_type
    ON CONFLICT (user_id, direction, message_type) DO UPDATE
    SET message_count = t.message_count + EXCLUDED.message_count,
        first_message_at = LEAST(t.first_message_at, EXCLUDED.first_message_at),
        last_message_at = GREATEST(t.last_message_at, EXCLUDED.last_message_at);
    RETURN NULL;
END $$;

CREATE FUNCTION messaging_summaries_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE messaging_chatsummary AS c
    SET message_count = c.message_count - gone.n,
        last_message_at = CASE WHEN gone.newest < c.last_message_at THEN c.last_message_at
            ELSE COALESCE((SELECT max(m.timestamp) FROM messaging_message AS m
                           WHERE m.user_id = c.user_id AND m.chat_jid = c.chat_jid),
                          c.last_message_at) END
    FROM (SELECT user_id, chat_jid, count(*) AS n, max(timestamp) AS newest
          FROM old_rows GROUP BY user_id, chat_jid) AS gone
    WHERE c.user_id = gone.user_id AND c.chat_jid = gone.chat_jid;
    DELETE FROM messaging_chatsummary AS c USING (SELECT DISTINCT user_id, chat_jid FROM old_rows) AS gone
    WHERE c.user_id = gone.user_id AND c.chat_jid = gone.chat_jid AND c.message_count <= 0;
    UPDATE messaging_messagecount AS t
    SET message_count = t.message_count - gone.n,
        first_message_at = CASE WHEN gone.oldest > t.first_message_at THEN t.first_message_at
            ELSE COALESCE((SELECT min(m.timestamp) FROM messaging_message AS m
                           WHERE m.user_id = t.user_id AND m.direction = t.direction
                             AND m.message_type = t.message_type), t.first_message_at) END,
        last_message_at = CASE WHEN gone.newest < t.last_message_at THEN t.last_message_at
            ELSE COALESCE((SELECT max(m.timestamp) FROM messaging_message AS m
                           WHERE m.user_id = t.user_id AND m.direction = t.direction
                             AND m.message_type = t.message_type), t.last_message_at) END
    FROM (SELECT user_id, direction, message_type, count(*) AS n,
                 min(timestamp) AS oldest, max(timestamp) AS newest
          FROM old_rows GROUP BY user_id, direction, message_type) AS gone
    WHERE t.user_id = gone.user_id AND t.direction = gone.direction
      AND t.message_type = gone.message_type;
    DELETE FROM messaging_messagecount AS t
    USING (SELECT DISTINCT user_id, direction, message_type FROM old_rows) AS gone
    WHERE t.user_id = gone.user_id AND t.direction = gone.direction
      AND t.message_type = gone.message_type AND t.message_count <= 0;
    RETURN NULL;
END $$;

CREATE FUNCTION messaging_summaries_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM messaging_chatsummary;
    DELETE FROM messaging_messagecount;
    RETURN NULL;
END $$;

CREATE TRIGGER messaging_message_summaries_add AFTER INSERT ON messaging_message
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION messaging_summaries_add();
CREATE TRIGGER messaging_message_summaries_remove AFTER DELETE ON messaging_message
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION messaging_summaries_remove();
CREATE TRIGGER messaging_message_summaries_clear AFTER TRUNCATE ON messaging_message
    FOR EACH STATEMENT EXECUTE FUNCTION messaging_summaries_clear();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS messaging_message_summaries_add ON messaging_message;
DROP TRIGGER IF EXISTS messaging_message_summaries_remove ON messaging_message;
DROP TRIGGER IF EXISTS messaging_message_summaries_clear ON messaging_message;
DROP FUNCTION IF EXISTS messaging_summaries_add();
DROP FUNCTION IF EXISTS messaging_summaries_remove();
DROP FUNCTION IF EXISTS messaging_summaries_clear();
"""
SQLITE_TRIGGERS = [
    """CREATE TRIGGER messaging_message_summaries_add AFTER INSERT ON messaging_message
BEGIN
    INSERT INTO messaging_chatsummary (user_id, chat_jid, message_count, last_message_at)
    VALUES (NEW.user_id, NEW.chat_jid, 1, NEW.timestamp)
    ON CONFLICT (user_id, chat_jid) DO UPDATE
    SET message_count = message_count + 1,
        last_message_at = MAX(last_message_at, excluded.last_message_at);
    INSERT INTO messaging_messagecount
        (user_id, direction, message_type, message_count, first_message_at, last_message_at)
    VALUES (NEW.user_id, NEW.direction, NEW.message_type, 1, NEW.timestamp, NEW.timestamp)
    ON CONFLICT (user_id, direction, message_type) DO UPDATE
    SET message_count = message_count + 1,
        first_message_at = MIN(first_message_at, excluded.first_message_at),
        last_message_at = MAX(last_message_at, excluded.last_message_at);
END""",
    """CREATE TRIGGER messaging_message_summaries_remove AFTER DELETE ON messaging_message
BEGIN
    UPDATE messaging_chatsummary
    SET message_count = message_count - 1,
        last_message_at = COALESCE((SELECT MAX(m.timestamp) FROM messaging_message AS m
            WHERE m.user_id = OLD.user_id AND m.chat_jid = OLD.chat_jid), last_message_at)
    WHERE user_id = OLD.user_id AND chat_jid = OLD.chat_jid;
    DELETE FROM messaging_chatsummary
    WHERE user_id = OLD.user_id AND chat_jid = OLD.chat_jid AND message_count <= 0;
    UPDATE messaging_messagecount
    SET message_count = message_count - 1,
        first_message_at = COALESCE((SELECT MIN(m.timestamp) FROM messaging_message AS m
            WHERE m.user_id = OLD.user_id AND m.direction = OLD.direction
              AND m.message_type = OLD.message_type), first_message_at),
        last_message_at = COALESCE((SELECT MAX(m.timestamp) FROM messaging_message AS m
            WHERE m.user_id = OLD.user_id AND m.direction = OLD.direction
              AND m.message_type = OLD.message_type), last_message_at)
    WHERE user_id = OLD.user_id AND direction = OLD.direction
      AND message_type = OLD.message_type;
    DELETE FROM messaging_messagecount
    WHERE user_id = OLD.user_id AND direction = OLD.direction
      AND message_type = OLD.message_type AND message_count <= 0;
END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS messaging_message_summaries_add",
    "DROP TRIGGER IF EXISTS messaging_message_summaries_remove",
]
BACKFILL = [
    """INSERT INTO messaging_chatsummary (user_id, chat_jid, message_count, last_message_at)
    SELECT user_id, chat_jid, count(*), max(timestamp) FROM messaging_message
    GROUP BY user_id, chat_jid""",
    """INSERT INTO messaging_messagecount
        (user_id, direction, message_type, message_count, first_message_at, last_message_at)
    SELECT user_id, direction, message_type, count(*), min(timestamp), max(timestamp)
    FROM messaging_message GROUP BY user_id, direction, message_type""",
]


def summaries_install(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:  # a minute on 10M rows: the web's statement_timeout must not cancel it
        schema_editor.execute("SET LOCAL statement_timeout = 0")
    for statement in BACKFILL:
        schema_editor.execute(statement)
    if postgres:
        schema_editor.execute(PG_FUNCTIONS)
    else:
        for statement in SQLITE_TRIGGERS:
            schema_editor.execute(statement)


def summaries_uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_DROP)
    else:
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0006_message_search_document"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ChatSummary",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("chat_jid", models.CharField(max_length=128)),
                ("message_count", models.BigIntegerField()),
                ("last_message_at", models.DateTimeField()),
                (
                    "user",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["user", "-last_message_at", "chat_jid"],
                        name="chat_summary_latest_idx",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("user", "chat_jid"), name="chat_summary_unique")
                ],
            },
        ),
        migrations.CreateModel(
            name="MessageCount",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                (
                    "direction",
                    models.CharField(
                        choices=[("incoming", "Incoming"), ("outgoing", "Outgoing")], max_length=8
                    ),
                ),
                (
                    "message_type",
                    models.CharField(
                        choices=[
                            ("text", "Text"),
                            ("image", "Image"),
                            ("audio", "Audio"),
                            ("video", "Video"),
                            ("document", "Document"),
                            ("location", "Location"),
                            ("contact", "Contact"),
                            ("unsupported", "A message Zapa cannot display"),
                        ],
                        max_length=11,
                    ),
                ),
                ("message_count", models.BigIntegerField()),
                ("first_message_at", models.DateTimeField()),
                ("last_message_at", models.DateTimeField()),
                (
                    "user",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("user", "direction", "message_type"), name="message_count_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(summaries_install, summaries_uninstall),
    ]
