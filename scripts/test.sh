#!/usr/bin/env bash
# Set everything up and run the whole test suite (SQLite and a PostgreSQL server the tests
# start themselves). Extra arguments go to pytest. Installs the train and eval extras (CPU torch,
# transformers, trl, evalplus) unless EXTRAS says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=${EXTRAS:-dev,train,eval} bash scripts/setup.sh
bash scripts/ensure-postgres.sh
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$code"
