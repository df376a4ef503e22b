#!/usr/bin/env bash
# Create .venv and install Deskpilot into it (editable), with optional extras.
#   bash packaging/bootstrap.sh            # runtime only
#   bash packaging/bootstrap.sh dev,bench  # with test and benchmark tools
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
else
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
fi
# The bench extra's supervisord goes beside the venv, not into it: its package
# is named "supervisor" too and would shadow Deskpilot's (see bench_supervisor).
case ",$extras," in
  *,bench,*)
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
      --upgrade --target .venv/supervisord "supervisor==4.3.0"
    ;;
esac
