#!/usr/bin/env bash
# The whole test suite in one command: ./scripts/test.sh [pytest args...]
#
# Pass 1 runs on SQLite (browser tests excluded). Pass 2 runs everything on PostgreSQL,
# at TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test; pytest-django
# creates its own test_* databases there), when that server answers. With
# REQUIRE_POSTGRES=1 an unreachable PostgreSQL fails the run instead of being skipped.
# Extra arguments go to both pytest runs, e.g. ./scripts/test.sh -k webhook -x
# PYTEST_WORKERS sets pytest-xdist's worker count (default auto; 0 runs in-process).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/ensure-venv.sh requirements-dev.txt

pg_url="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
workers="${PYTEST_WORKERS:-auto}"
xdist=()
if [ "$workers" != 0 ]; then
    xdist=(-n "$workers")
fi
fresh=()
if [ "${CI:-}" = true ]; then
    fresh=(--create-db)  # never trust a test database left over from an earlier run
fi


status=0
ran=0

run_pass() {
    local name="$1" database_url="$2"
    shift 2
    echo
    echo "=== Tests on ${name} ==="
    local rc=0
    DATABASE_URL="$database_url" .venv/bin/pytest "${xdist[@]}" "${fresh[@]}" "$@" || rc=$?
    case "$rc" in
        0) ran=$((ran + 1)) ;;
        5) echo "(no tests selected on ${name})" ;;
        *) echo "!!! Test pass on ${name} failed (pytest exit code ${rc})"; status=1 ;;
    esac
}

run_pass SQLite "sqlite:///$(pwd)/db.sqlite3" -m "not browser" "$@"

if .venv/bin/python -c '
import sys
import psycopg
# The server, not the named database: pytest-django creates test_<name> itself.
psycopg.connect(sys.argv[1], dbname="postgres", connect_timeout=3).close()
' "$pg_url" 2>/dev/null; then
    run_pass PostgreSQL "$pg_url" "$@"
elif [ "${REQUIRE_POSTGRES:-0}" = 1 ]; then
    echo "!!! PostgreSQL at ${pg_url} is not reachable and REQUIRE_POSTGRES=1."
    status=1
else
    echo
    echo "=== PostgreSQL at ${pg_url} is not reachable: PostgreSQL pass skipped ==="
    echo "    (set TEST_DATABASE_URL, or REQUIRE_POSTGRES=1 to make this an error)"
fi

if [ "$status" = 0 ] && [ "$ran" = 0 ]; then
    echo "!!! No tests ran."
    status=5
fi
exit "$status"
