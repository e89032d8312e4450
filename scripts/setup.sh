#!/usr/bin/env bash
# Shared set-up: a virtualenv in .venv with the project installed (editable).
# Usage: scripts/setup.sh [extra]   (extra: "test" adds the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
spec="."
[ "${1:-}" = "test" ] && spec=".[test]"
stamp=".venv/.installed-$(echo "$spec" | tr -c 'a-z' '_')"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "installing Python packages into .venv (log: .venv/pip-install.log)" >&2
  if ! { .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip \
         && .venv/bin/python -m pip install --disable-pip-version-check -e "$spec"; } > .venv/pip-install.log 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" .venv/pip-install.log | tail -30 >&2
    echo "error: pip install failed" >&2
    exit 1
  fi
  touch "$stamp"
fi
