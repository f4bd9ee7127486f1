#!/usr/bin/env bash
# The main demo, on a local endpoint (no account, no network):
#   bash scripts/demo.sh        streams jobs in this terminal through the %runpod magics
#   bash scripts/demo.sh lab    opens the demo notebooks in JupyterLab (live widget panels)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "lab" ]; then bash scripts/setup.sh lab; else bash scripts/setup.sh demo; fi
export RP_JUPYTER_HOME="${RP_JUPYTER_HOME:-$PWD/.demo-home}"
if [ "${1:-}" = "lab" ]; then
  exec .venv/bin/jupyter lab --ServerApp.ip=127.0.0.1 notebooks/01-quickstart.ipynb
fi
exec .venv/bin/python scripts/terminal_notebook.py notebooks/01-quickstart.ipynb
