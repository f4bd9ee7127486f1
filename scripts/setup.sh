#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: a virtual environment in .venv with the project
# installed (editable) and what the chosen use needs, nothing more.
#   bash scripts/setup.sh demo     the terminal demo: rp_jupyter and nbformat
#   bash scripts/setup.sh lab      the demo in JupyterLab: adds JupyterLab and a kernel
#   bash scripts/setup.sh test     the test suite: every test dependency, and Debian's
#                                  Chromium for the browser checks
set -euo pipefail
cd "$(dirname "$0")/.."

use=${1:-test}
case "$use" in
  demo) extra="demo" ;;
  lab) extra="lab" ;;
  test|--browser) use="test"; extra="test" ;;
  *) echo "usage: bash scripts/setup.sh [demo|lab|test]" >&2; exit 2 ;;
esac

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating a virtual environment in .venv"
  "$PY" -m venv .venv
fi

stamp=".venv/.setup-$extra"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing rp_jupyter and what '$use' needs into .venv (first time: a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # pip prints each package as it collects and installs it, so the wait is visible
  set +e
  .venv/bin/python -m pip install --progress-bar off -e ".[$extra]" 2>&1 \
    | grep --line-buffered -E '^(Collecting|Installing|Successfully|ERROR|error)' \
    | sed -u 's/^/[setup]   /'
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" != "0" ]; then
    echo "[setup] pip could not install the project (exit $status); see the lines above" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
  echo "[setup] done"
fi

if [ "$use" = "test" ] && [ ! -x /usr/bin/chromium ]; then
  echo "[setup] installing Debian's chromium for the browser checks"
  SUDO=""
  [ "$(id -u)" = "0" ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  echo "[setup] chromium installed"
fi
