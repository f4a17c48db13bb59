#!/usr/bin/env bash
# Set up everything Arena needs in ./.venv (idempotent; a second run takes a few seconds).
#   EXTRAS   extras to install besides the core (default: dev). E.g. EXTRAS=dev,eval,train
#   PYTHON   the interpreter to build the venv from (default: python3.11, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS=${EXTRAS:-dev}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}

if ! command -v uv >/dev/null 2>&1; then
  "$PYTHON" -m pip install --quiet --disable-pip-version-check uv >&2 || \
    "$PYTHON" -m pip install --quiet --user --disable-pip-version-check uv >&2
  export PATH="$HOME/.local/bin:$PATH"
fi
UV=$(command -v uv || echo "$PYTHON -m uv")

if [ ! -x .venv/bin/python ]; then
  $UV venv --quiet --python "$PYTHON" .venv >&2
fi

# Torch: pin the CPU build where this machine's pip config names a local wheel folder;
# an unpinned torch would pull several GB of CUDA packages.
args=()
find_links=$("$PYTHON" -m pip config get global.find-links 2>/dev/null || true)
if [ -n "$find_links" ] && [ -d "$find_links" ]; then
  args+=(--find-links "$find_links")
  if ls "$find_links"/torch-2.13.0* >/dev/null 2>&1; then
    printf 'torch==2.13.0\n' > .venv/constraints.txt
    args+=(--constraint .venv/constraints.txt)
  fi
fi
$UV pip install --quiet --python .venv/bin/python "${args[@]}" -e ".[${EXTRAS}]" >&2
