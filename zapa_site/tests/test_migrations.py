"""Migrations apply, unapply and re-apply on fresh databases, and match the models.

Each run happens in a `manage.py` subprocess against its own database, so the
test database of this session is never touched.
"""

import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg import sql

MANAGE = Path(settings.BASE_DIR) / "manage.py"
# Dependents first: messaging points at llm (Agent) and accounts; llm points at accounts;
# core took AuditLog over from accounts (and accounts.0002 depends on that).
UNAPPLY_ORDER = ["messaging", "llm", "core", "accounts"]
OUR_TABLES = [
    "accounts_user",
    "accounts_authcode",
    "accounts_auditlog",
    "messaging_whatsappsession",
    "messaging_message",
    "messaging_webhookevent",
    "llm_llmconfig",
    "llm_agent",
    "llm_actionlog",
]


def manage(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "DEBUG": "true"}
    env.pop("DATABASE_POOL", None)
    result = subprocess.run(
        [sys.executable, str(MANAGE), *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, (
        f"manage.py {' '.join(args)} exited {result.returncode}:\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def migration_round_trip(database_url: str, list_tables) -> None:
    manage(database_url, "migrate", "--no-input", "-v", "0")
    assert set(OUR_TABLES) <= list_tables()

    for app in UNAPPLY_ORDER:
        manage(database_url, "migrate", app, "zero", "--no-input", "-v", "0")
    assert not set(OUR_TABLES) & list_tables()

    manage(database_url, "migrate", "--no-input", "-v", "0")
    assert set(OUR_TABLES) <= list_tables()
    shown = manage(database_url, "showmigrations", "core", "accounts", "messaging", "llm").stdout
    assert "[X]" in shown
    assert "[ ]" not in shown

    # The demo data still loads into the re-migrated schema.
    loaded = manage(database_url, "loaddata", "demo")
    assert "from 3 fixture(s)" in loaded.stdout


def test_migrate_unapply_and_reapply_on_fresh_sqlite(tmp_path):
    path = tmp_path / "migrations.sqlite3"

    def list_tables() -> set[str]:
        with sqlite3.connect(path) as db:
            return {row[0] for row in db.execute("SELECT name FROM sqlite_master")}

    migration_round_trip(f"sqlite:///{path}", list_tables)


@pytest.mark.postgres
def test_migrate_unapply_and_reapply_on_fresh_postgresql():
    params = connection.settings_dict
    server = {
        "host": params["HOST"] or "127.0.0.1",
        "port": params["PORT"] or 5432,
        "user": params["USER"],
        "password": params["PASSWORD"] or None,
    }
    name = f"zapa_migr_{secrets.token_hex(6)}"
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:

        def list_tables() -> set[str]:
            with psycopg.connect(dbname=name, **server) as db:
                rows = db.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                ).fetchall()
            return {row[0] for row in rows}

        credentials = server["user"] + (f":{server['password']}" if server["password"] else "")
        url = f"postgres://{credentials}@{server['host']}:{server['port']}/{name}"
        migration_round_trip(url, list_tables)
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_models_and_migrations_agree(tmp_path):
    manage(
        f"sqlite:///{tmp_path / 'check.sqlite3'}",
        "makemigrations",
        "--check",
        "--dry-run",
        "-v",
        "1",
    )


def test_the_audit_log_moves_to_core_and_back_with_its_rows_and_permissions(tmp_path):
    """core.0001 takes AuditLog over from accounts: same table, same rows, and its
    content type (so permissions granted on it stay attached), forwards and back."""
    path = tmp_path / "move.sqlite3"
    url = f"sqlite:///{path}"

    def query(statement: str, *params):
        with sqlite3.connect(path) as db:
            return db.execute(statement, params).fetchall()

    def audit_content_type() -> str:
        [(app_label,)] = query("SELECT app_label FROM django_content_type WHERE model = 'auditlog'")
        return app_label

    manage(url, "migrate", "accounts", "0001", "--no-input", "-v", "0")
    assert audit_content_type() == "accounts"  # as a database from before the move has it
    query(
        "INSERT INTO accounts_auditlog (created_at, updated_at, action, resource_type, "
        "resource_id, changes, user_agent) VALUES "
        "('2026-01-01', '2026-01-01', 'logout', 'user', '7', '{}', '')"
    )

    manage(url, "migrate", "--no-input", "-v", "0")
    assert query("SELECT action, resource_id FROM accounts_auditlog") == [("logout", "7")]
    assert audit_content_type() == "core"

    manage(url, "migrate", "core", "zero", "--no-input", "-v", "0")
    assert query("SELECT action, resource_id FROM accounts_auditlog") == [("logout", "7")]
    assert audit_content_type() == "accounts"

    manage(url, "migrate", "--no-input", "-v", "0")
    assert query("SELECT action FROM accounts_auditlog") == [("logout",)]
    assert audit_content_type() == "core"
