#!/usr/bin/env bash
# Set everything up and start Arena on the embedded defaults (SQLite, the bundled demo pack).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/arena demo "$@"
