#!/usr/bin/env bash
# Install what the server needs (first run only) and start it on the default repo
# ($IPFS_KIT_PATH or ~/.ipfs_kit) at http://127.0.0.1:8000. Extra arguments go to the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m ipfs_kit_py.mcp.server "$@"
