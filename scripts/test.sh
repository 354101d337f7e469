#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, then lint, types, tests.
#   scripts/test.sh                 # everything
#   scripts/test.sh tests/unit -x   # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
bash scripts/system-deps.sh
"$PY" -m pip install --quiet --disable-pip-version-check -e ".[test,bench]"
"$PY" -m server models pull tiny.en base zh-en
"$PY" -m benchmarks.data fetch all
"$PY" -m ruff check server clients benchmarks tests
"$PY" -m mypy server
if [ $# -gt 0 ]; then
  exec "$PY" -m pytest -ra "$@"
fi
# Two processes: Playwright's sync API keeps an event loop running in the main
# thread, which breaks every later test that calls asyncio.run().
status=0
"$PY" -m pytest -ra tests --ignore=tests/e2e || status=$?
"$PY" -m pytest -ra tests/e2e || status=$?
exit $status
