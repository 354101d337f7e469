#!/usr/bin/env bash
# Install Parley (editable) and the default models into ~/.cache/parley (idempotent).
#   PYTHON=python3.12 scripts/install.sh      # another interpreter
#   PARLEY_CACHE_DIR=/data/parley scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m pip install --quiet --disable-pip-version-check -e ".${PARLEY_EXTRAS:-}"
# The default `parley serve`: multilingual Whisper base + Chinese->English.
"$PY" -m server models pull ${PARLEY_MODELS:-base zh-en}
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
echo "parley installed: $(command -v parley || echo "$PY -m server")"
