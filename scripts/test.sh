#!/usr/bin/env bash
# Set everything up and run the whole test suite (SQLite and a PostgreSQL server the tests
# start themselves). Extra arguments go to pytest. Installs the train and eval extras (CPU torch,
# transformers, trl, evalplus) unless EXTRAS says otherwise. Tests run in TEST_WORKERS processes
# (default 2, pytest-xdist; 0 = in this process), a test file per worker at a time: files
# share module fixtures such as the evalplus ground-truth cache.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=${EXTRAS:-dev,train,eval} bash scripts/setup.sh
bash scripts/ensure-postgres.sh
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$code"
