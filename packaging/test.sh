#!/usr/bin/env bash
# Install what the tests need (system packages, .venv with dev extras) and
# run the test suite.  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/system-deps.sh
bash packaging/bootstrap.sh dev
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
# The end-to-end GUI tests need Qt on a real (Xvfb) display, which a process
# that already made an offscreen Qt application cannot switch to: own process.
.venv/bin/python -m pytest tests/e2e "$@"
