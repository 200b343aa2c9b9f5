#!/usr/bin/env bash
# The whole test suite: lint + every test (real-data tests use ../shared/data when it is there).
# Usage: tools/test.sh [pytest args]
source "$(dirname "$0")/_env.sh"
cd "$ROOT"
ensure_chromium
source "$ROOT/tools/services/postgres.sh"  # a real PostgreSQL for the shared edit log; stopped on exit
start_postgres
source "$ROOT/tools/services/ray.sh"  # a local Ray cluster for the --backend ray tests, stopped on exit
echo "== ruff"
ruff check eomine mining dashboard tests bench tools
echo "== import contracts (lint-imports)"
lint-imports
echo "== pytest"
python -m pytest -q "$@"
