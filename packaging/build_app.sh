#!/usr/bin/env bash
# Build the one-folder app with PyInstaller, then run the built program to prove it works:
# --version, and --self-check (renders the main window offscreen, loads every block, starts
# a supervisor from the bundle, runs a workflow in a worker, stops the supervisor).
#   bash packaging/build_app.sh              # result in build/dist/deskpilot/
#   DIST=/opt/deskpilot-build bash packaging/build_app.sh
# Needs PyInstaller in the venv:  .venv/bin/pip install -e '.[package]'
set -euo pipefail
cd "$(dirname "$0")/.."
dist="${DIST:-build/dist}"
work="${WORK:-build/pyinstaller}"
if ! .venv/bin/python -c "import PyInstaller" 2>/dev/null; then
  echo "PyInstaller is not installed: .venv/bin/pip install -e '.[package]'" >&2
  exit 2
fi
.venv/bin/python -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$dist" --workpath "$work" packaging/deskpilot.spec
app="$dist/deskpilot/deskpilot"
# libpython carries 16 MB of debug symbols; stripping every binary (the spec's strip=True)
# breaks numpy's OpenBLAS, so only this one is stripped
strip --strip-debug "$dist"/deskpilot/_internal/libpython3*.so.*
"$app" --version
env -u DISPLAY -u DESKPILOT_HOME "$app" --self-check
echo "built $(du -sh "$dist/deskpilot" | cut -f1) in $dist/deskpilot; run it with $app"
echo "sizes: .venv/bin/python -m tests.benchmarks.bench_bundle $dist/deskpilot"
