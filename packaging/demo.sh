#!/usr/bin/env bash
# Install Deskpilot into .venv and run the demo workflow on the default
# embedded SQLite history, then show that run from history.
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/system-deps.sh runtime
bash packaging/bootstrap.sh
.venv/bin/deskpilot run resources/examples/hello.yaml --input who=Deskpilot
.venv/bin/deskpilot runs list --limit 5
