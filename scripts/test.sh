#!/usr/bin/env bash
# Install storemod with its test tools into .venv and run every check and test.
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

# The tests talk to a real PostgreSQL on 127.0.0.1:5432; start the machine's cluster if it is down.
if ! .venv/bin/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 2)" 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi

# The scanner tests run a real registry (Debian's docker-registry) and push with skopeo.
if ! command -v skopeo >/dev/null || ! command -v docker-registry >/dev/null || ! command -v openssl >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq skopeo docker-registry openssl >/dev/null
  fi
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .
# pytest exits 5 when it collects no test: that is a failure here, as any non-zero exit.
.venv/bin/python -m pytest "$@"
