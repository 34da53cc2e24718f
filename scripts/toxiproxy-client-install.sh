#!/usr/bin/env bash
# Installs a published toxiproxy client, toxiproxy-python (import name `toxiproxy`), into a
# virtualenv under target/ for tests/toxiproxy_clients.rs: safe to run again and again (it does
# nothing once the client imports). Prints the virtualenv's python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/toxiproxy-venv
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import toxiproxy" 2>/dev/null; then
    echo "$PWD/$venv/bin/python"
    exit 0
fi
command -v python3 >/dev/null || scripts/ensure-packages.sh python3 >&2
rm -rf "$venv"
if ! python3 -m venv "$venv" >&2; then
    scripts/ensure-packages.sh python3-venv >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check toxiproxy-python==0.1.1 >&2
"$venv/bin/python" -c "import toxiproxy" >&2
echo "$PWD/$venv/bin/python"
