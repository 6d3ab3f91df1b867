"""Counting the database transactions a piece of code commits, for tests that run
outside a test transaction (`transactional_db`)."""

from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection


@dataclass
class TransactionCount:
    commits: int = 0  # explicit COMMITs (the end of an outermost atomic block)
    autocommitted: list[str] = field(default_factory=list)  # statements on their own

    @property
    def total(self) -> int:
        return self.commits + len(self.autocommitted)


@contextmanager
def transactions_counted():
    """Count what `connection` commits inside the block: each outermost atomic block's
    COMMIT, and each statement run in autocommit mode (its own transaction)."""
    count = TransactionCount()

    def statement(execute, sql, params, many, context):
        # SQLite's atomic blocks start with a BEGIN sent while still in autocommit.
        if connection.get_autocommit() and sql != "BEGIN":
            count.autocommitted.append(sql)
        return execute(sql, params, many, context)

    real_commit = connection.commit

    def commit():
        count.commits += 1
        real_commit()

    connection.commit = commit
    try:
        with connection.execute_wrapper(statement):
            yield count
    finally:
        del connection.commit  # the class's own method again
