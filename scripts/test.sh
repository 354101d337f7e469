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
"$PY" -m server models pull tiny.en base zh-en gemma3-270m
"$PY" -m benchmarks.data fetch all
"$PY" -m ruff check server clients benchmarks tests
"$PY" -m mypy server clients benchmarks
if [ $# -gt 0 ]; then
  exec "$PY" -m pytest -ra "$@"
fi
# Two processes: Playwright's sync API keeps an event loop running in the main
# thread, which breaks every later test that calls asyncio.run().
# Each run is also bounded as a whole (pytest-timeout cannot interrupt a hang in
# event-loop teardown), so a hang fails CI with output instead of eating its budget.
status=0
timeout -k 30 "${PARLEY_TEST_TIMEOUT_S:-3600}" "$PY" -m pytest -ra --durations=15 \
  tests --ignore=tests/e2e || status=$?
timeout -k 30 "${PARLEY_E2E_TIMEOUT_S:-900}" "$PY" -m pytest -ra tests/e2e || status=$?
exit $status
