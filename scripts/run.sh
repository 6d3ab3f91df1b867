#!/usr/bin/env bash
# Zapa on this machine in one command: ./scripts/run.sh
#
# Creates .venv and installs requirements.txt (once), writes a local .env with fresh
# random secrets (once), migrates the SQLite database db.sqlite3, loads the demo data
# into an empty database, gives you a staff login for the admin, and serves
# http://127.0.0.1:${PORT:-8000}/ with Django's development server.
# For production, run gunicorn (gunicorn.conf.py) with DEBUG=false: see README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-8000}"
base_url="http://127.0.0.1:${PORT}"

./scripts/ensure-venv.sh requirements.txt
python=.venv/bin/python

if [ ! -f .env ]; then
    echo "Writing .env with fresh random secrets (local development only) ..."
    umask 077
    "$python" - >.env <<'PY'
import secrets

from cryptography.fernet import Fernet

print("# Local development settings, written by scripts/run.sh. Never use them in production.")
print("DEBUG=true")
print(f"SECRET_KEY={secrets.token_urlsafe(50)}")
print(f"FIELD_ENCRYPTION_KEYS={Fernet.generate_key().decode()}")
print(f"AUTH_CODE_PEPPER={secrets.token_urlsafe(32)}")
print(f"WEBHOOK_TOKEN={secrets.token_urlsafe(32)}")
print("# Login codes are printed to this terminal instead of being sent over WhatsApp.")
print("WHATSAPP_BACKEND=console")
print("WHATSAPP_CONSOLE_SHOW_TEXT=true")
print("# DATABASE_URL is unset: the SQLite file db.sqlite3 is used.")
PY
fi

"$python" manage.py migrate --noinput -v 0

has_users="$("$python" manage.py shell -v 0 -c \
    'from accounts.models import User; print("yes" if User.objects.exists() else "no")')"
if [ "$has_users" = no ]; then
    if ls ./*/fixtures/demo.json >/dev/null 2>&1; then
        echo "Loading the demo data ..."
        "$python" manage.py loaddata demo -v 1
    else
        echo "No demo fixtures found; starting with an empty database."
    fi
fi

echo
"$python" manage.py ensure_staff --admin-url "${base_url}/admin/"
cat <<INFO
API:          ${base_url}/api/v1/   (docs: ${base_url}/api/docs/)
Health:       ${base_url}/healthz   ${base_url}/readyz
Bridge:       point the WhatsApp bridge's webhook at
              ${base_url}/api/v1/webhooks/whatsapp/<WEBHOOK_TOKEN>/
              (WEBHOOK_TOKEN is in $(pwd)/.env)
Login codes:  printed below by the console WhatsApp backend.

INFO

exec "$python" manage.py runserver "127.0.0.1:${PORT}"
