#!/usr/bin/env bash
# First run: install Deskpilot into .venv, start the supervisor and open the app
# on its example gallery.
#
# On a machine without a display (a server, CI, an ssh session) there is no
# window to open: it runs the desktop example desktop_click_image.yaml through
# the supervisor on a private virtual screen (Xvfb), prints where the run's
# history and its screenshot are, stops what it started and exits 0 if the run
# succeeded, 1 (with the failure's evidence) if not.
#
#   bash packaging/demo.sh              # a display if there is one, else headless
#   bash packaging/demo.sh --headless   # the headless run even on a desktop
#
# DESKPILOT_HOME=/some/folder keeps the history, logs and workflows in one folder.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=auto
case "${1:-}" in
  "") ;;
  --headless) mode=headless ;;
  *) echo "usage: bash packaging/demo.sh [--headless]" >&2; exit 2 ;;
esac
bash packaging/system-deps.sh demo
bash packaging/bootstrap.sh
dp=.venv/bin/deskpilot
py=.venv/bin/python

has_display() {
  [ -n "${WAYLAND_DISPLAY:-}" ] && return 0
  [ -n "${DISPLAY:-}" ] || return 1
  "$py" -c 'from Xlib.display import Display; Display().close()' >/dev/null 2>&1
}

if [ "$mode" = auto ] && has_display; then
  if "$dp" supervisor status >/dev/null 2>&1; then
    echo "The supervisor is already running."
  else
    "$dp" supervisor start
  fi
  "$dp" gui --gallery
  cat <<EOF

Deskpilot is open on its example gallery: "Open a copy" puts an example into your
workflows folder, F5 runs it through the supervisor, F9 on a node sets a breakpoint,
Runs › History (Ctrl+H) shows every run.  From a terminal:
  $dp runs list                  # the history
  $dp supervisor status          # what the supervisor is doing
  $dp supervisor stop            # stop it (the window offers to start it again)
EOF
  exit 0
fi

# -- no display: a desktop example on a private Xvfb, through the supervisor -------------
if "$dp" supervisor status >/dev/null 2>&1; then
  echo "A Deskpilot supervisor is already running for this user, and its workers do not draw on" >&2
  echo "the private screen this demo starts.  Stop it first ($dp supervisor stop) or run the" >&2
  echo "demo with its own folder: DESKPILOT_HOME=\$PWD/demo-home bash packaging/demo.sh" >&2
  exit 1
fi
scratch="$(mktemp -d "${TMPDIR:-/tmp}/deskpilot-demo.XXXXXX")"
xvfb_pid=""
started_supervisor=""
cleanup() {
  if [ -n "$started_supervisor" ]; then
    "$dp" supervisor stop >/dev/null 2>&1 || echo "could not stop the supervisor: $dp supervisor stop" >&2
  fi
  if [ -n "$xvfb_pid" ]; then
    kill "$xvfb_pid" 2>/dev/null || true
    wait "$xvfb_pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Xvfb picks a free display and writes its number to fd 3 once it accepts clients.
Xvfb -displayfd 3 -screen 0 1920x1080x24 -nolisten tcp -ac -noreset \
  3>"$scratch/display" 2>"$scratch/xvfb.log" &
xvfb_pid=$!
for _ in $(seq 100); do
  grep -q . "$scratch/display" 2>/dev/null && break
  kill -0 "$xvfb_pid" 2>/dev/null || { cat "$scratch/xvfb.log" >&2; exit 1; }
  sleep 0.1
done
grep -q . "$scratch/display" || { echo "Xvfb did not start within 10 s" >&2; exit 1; }
export DISPLAY=":$(tr -d '[:space:]' <"$scratch/display")"
export XAUTHORITY="$scratch/Xauthority"
: >"$XAUTHORITY"
unset WAYLAND_DISPLAY
echo "No display here: running a desktop example on a private virtual screen ($DISPLAY)."

# The supervisor and its workers inherit DISPLAY: they draw on the private screen.
"$dp" supervisor start
started_supervisor=1
status=0
"$dp" submit resources/examples/desktop_click_image.yaml --wait --json >"$scratch/run.json" || status=$?
"$py" - "$scratch/run.json" "$dp" <<'EOF'
import json
import sys

path, dp = sys.argv[1], sys.argv[2]
try:
    with open(path, encoding="utf-8") as handle:
        result = json.load(handle)
except (OSError, ValueError) as exc:
    sys.exit(f"the run's result could not be read ({exc}); see '{dp} runs list'")
run = result  # the RunReport ('deskpilot schema run')
run_id = run["run_id"]
print(f"\nRun {run_id[:8]} of {run['workflow']}: {run['status']} "
      f"in {run.get('duration') or 0:.1f} s, {run['step_count']} steps")
if run.get("error"):
    print(f"  failed at node {run.get('failed_node')}: {run['error']}")
shots = [a for a in run.get("artifacts", []) if a.get("kind") == "screenshot"]
others = [a for a in run.get("artifacts", []) if a.get("kind") != "screenshot"]
for artifact in shots:
    print(f"  screenshot ({artifact.get('node_id')}): {artifact['path']}")
for artifact in others:
    print(f"  {artifact.get('kind')} ({artifact.get('node_id')}): {artifact['path']}")
if not shots:
    print("  no screenshot was recorded")
print(f"  steps, logs and artifacts: {dp} runs show {run_id[:8]}")
print(f"  the whole history:         {dp} runs list")
import deskpilot  # noqa: E402 - Deskpilot's own packages, found as its programs find them

deskpilot.activate()
from supervisor.paths import DeskpilotPaths  # noqa: E402

paths = DeskpilotPaths.from_env()
print(f"  history database:          {paths.database_url}")
print(f"  supervisor log:            {paths.log_dir / 'deskpilotd.log'}")
EOF
exit "$status"
