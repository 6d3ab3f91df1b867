#!/usr/bin/env bash
# Usage: scripts/ensure-venv.sh REQUIREMENTS_FILE
# Creates .venv (python3 -m venv) if missing and installs REQUIREMENTS_FILE into it,
# skipping the install when the requirement files have not changed since the last one.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements="${1:-requirements.txt}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Zapa needs Python 3.11 or newer; '$python' is $("$python" --version 2>&1)." >&2
    echo "Point PYTHON at a newer interpreter, e.g. PYTHON=python3.12 $0" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $("$python" --version 2>&1) ..."
    "$python" -m venv .venv
fi

# The hash covers every requirements file, since one may include (-r) another.
wanted="$(cat requirements*.txt | sha256sum | cut -d' ' -f1) $requirements"
stamp=".venv/.zapa-requirements"
if [ -f "$stamp" ] && grep -qxF "$wanted" "$stamp"; then
    exit 0
fi

echo "Installing $requirements into .venv ..."
log="$(mktemp)"
if ! .venv/bin/python -m pip install --disable-pip-version-check -r "$requirements" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "Installing $requirements failed (pip's output above)." >&2
    exit 1
fi
rm -f "$log"
# Remember what was installed; installing the dev file also satisfies the runtime one.
{
    echo "$wanted"
    if [ "$requirements" = requirements-dev.txt ]; then
        echo "${wanted% *} requirements.txt"
    fi
} >"$stamp"
