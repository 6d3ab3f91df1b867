"""Writing generated message rows: ids taken from the table's sequence, then COPY on
PostgreSQL or bulk_create elsewhere, one transaction per chunk."""

import json
from collections.abc import Callable, Iterator

from django.db import connection, transaction

from messaging.models import Message
from messaging.seeding.columns import CHUNK_SIZE, MESSAGE_COLUMNS


def reserve_message_ids(count: int) -> int:
    """Take a block of `count` message ids from the table's sequence; return the first.

    On PostgreSQL the table is locked for the instant between reading and advancing
    the identity sequence, so a concurrent insert cannot draw an id inside the block.
    """
    table = Message._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            (sequence,) = cursor.fetchone()
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
            (max_id,) = cursor.fetchone()
            cursor.execute("SELECT nextval(%s)", [sequence])
            (first,) = cursor.fetchone()
            first = max(first, max_id + 1)
            cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
            return first
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
        (max_id,) = cursor.fetchone()
        return max_id + 1


def write_rows(
    rows: Iterator[tuple],
    *,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """The fastest writer the database has."""
    write = write_rows_copy if connection.vendor == "postgresql" else write_rows_orm
    return write(rows, chunk_size=chunk_size, progress=progress)


def write_rows_copy(
    rows: Iterator[tuple],
    *,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """COPY rows (MESSAGE_COLUMNS order) into the message table, one transaction per chunk.

    Chunks keep PostgreSQL's queue of deferred foreign-key checks small; replies only
    point backwards, so every chunk is consistent on its own.
    """
    sql = f"COPY {Message._meta.db_table} ({', '.join(MESSAGE_COLUMNS)}) FROM STDIN"
    written = 0
    exhausted = False
    while not exhausted:
        in_chunk = 0
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.connection.cursor().copy(sql) as copy,
        ):
            write_row = copy.write_row
            for row in rows:
                write_row(row)
                in_chunk += 1
                if in_chunk % 10_000 == 0:
                    progress(10_000)
                if in_chunk == chunk_size:
                    break
            else:
                exhausted = True
        progress(in_chunk % 10_000)
        written += in_chunk
    return written


def write_rows_orm(
    rows: Iterator[tuple],
    *,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """The portable path (SQLite): bulk_create, one transaction per chunk."""
    written = 0
    batch: list[Message] = []

    def flush():
        nonlocal written
        with transaction.atomic():
            Message.objects.bulk_create(batch, batch_size=500)
        written += len(batch)
        progress(len(batch))
        batch.clear()

    for row in rows:
        values = dict(zip(MESSAGE_COLUMNS, row, strict=True))
        values["media_metadata"] = json.loads(values["media_metadata"])
        batch.append(Message(**values))
        if len(batch) >= min(chunk_size, 5000):
            flush()
    if batch:
        flush()
    return written
