#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set-up, lint, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
