#!/usr/bin/env bash
# Install everything the tests need (Python packages, Debian's chromium for the
# browser test, the npm Kubo RPC client for the compatibility test) and run the
# whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }
if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium for the WebRTC browser test" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || true
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
    || echo "warning: could not install chromium; the browser test will be skipped" >&2
fi
if [ "$(id -u)" = 0 ] && ! command -v iptables >/dev/null; then
  echo "installing iptables for the NAT traversal test (network namespaces)" >&2
  { env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null 2>&1 \
    || { env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
         && env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null; }; } \
    || echo "warning: could not install iptables; the NAT test will be skipped" >&2
fi
if [ -f tests/js/package-lock.json ] && command -v npm >/dev/null; then
  if [ ! -d tests/js/node_modules ] || [ tests/js/package-lock.json -nt tests/js/node_modules ]; then
    npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
  fi
fi
# current Kubo for the interop tests (built once into a cache; skipped without Go)
if kubo=$(bash scripts/kubo.sh); then export IPFS_KIT_KUBO="$kubo"; fi
# IPFS Cluster (ipfs-cluster-service and ipfs-cluster-ctl) for tests/test_cluster.py, the same way
if cluster=$(bash scripts/cluster.sh); then export IPFS_KIT_CLUSTER="$(printf '%s' "$cluster" | paste -sd:)"; fi
lint=0
.venv/bin/python -m ruff check --quiet ipfs_kit_py tests benchmarks examples || lint=$?
# type check (settings in pyproject.toml: strict for the core, some modules still excused)
.venv/bin/python -m mypy || lint=$?
tests=0
# in parallel: one test file per worker at a time (module fixtures stay whole); 3 workers on the
# 2 cores CI has, since many tests wait on sockets and subprocesses rather than compute
.venv/bin/python -m pytest -n "${IPFS_KIT_TEST_WORKERS:-3}" --dist loadfile --durations=25 "$@" || tests=$?
[ "$lint" = 0 ] || echo "ruff or mypy found problems (above)" >&2
[ "$tests" = 0 ] && [ "$lint" = 0 ]
