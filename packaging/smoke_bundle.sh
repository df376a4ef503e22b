#!/usr/bin/env bash
# Smoke test of the one-folder bundle on a private Xvfb, as a person would use it: a workflow
# that finds a button by its picture and clicks it (OpenCV, the screen, the mouse), run in-process
# with `deskpilot run`, then through a supervisor started from the bundle, next to hello.yaml.
#   bash packaging/smoke_bundle.sh [BUNDLE]     # default build/dist/deskpilot
# Needs Xvfb and xmessage (apt-get install xvfb x11-utils).
set -euo pipefail
cd "$(dirname "$0")/.."
bundle="$(readlink -f "${1:-build/dist/deskpilot}")"
app="$bundle/deskpilot"
examples="$bundle/_internal/resources/examples"
work="$(mktemp -d /tmp/deskpilot-smoke.XXXXXX)"
# -noreset: by default Xvfb resets when its last client disconnects and refuses the clients
# that connect meanwhile.  Between two runs nothing holds the display, so a dialog started
# then got "Can't open display" and xmessage exited 1 (seen under load, where a reset takes
# longer: 13 of 150 starts failed that way on a busy machine, none with -noreset).
exec 3>"$work/display"
Xvfb -displayfd 3 -screen 0 1920x1080x24 -nolisten tcp -ac -noreset >"$work/xvfb.log" 2>&1 &
xvfb=$!
exec 3>&-
cleanup() {
  "$app" cli supervisor stop >/dev/null 2>&1 || true
  kill "$xvfb" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
xvfb_failed() {  # WHY: say so with Xvfb's own output, and stop
  echo "Xvfb $1:" >&2
  cat "$work/xvfb.log" >&2
  exit 1
}
# Xvfb writes its display number to fd 3 once it accepts clients: wait for it, for Xvfb
# ending, or for the deadline (a time, not a count of sleeps, which a loaded machine stretches)
deadline=$((SECONDS + 30))
until [[ -s "$work/display" ]]; do
  kill -0 "$xvfb" 2>/dev/null || xvfb_failed "exited before it was ready"
  ((SECONDS < deadline)) || xvfb_failed "reported no display within 30 s"
  sleep 0.1
done
export DISPLAY=":$(head -1 "$work/display")"
touch "$work/xauthority"
export XAUTHORITY="$work/xauthority" DESKPILOT_HOME="$work/home" SHELL=/bin/sh
# and a client is served (xdpyinfo, from x11-utils as xmessage), before the first run needs it
until xdpyinfo >/dev/null 2>&1; do
  kill -0 "$xvfb" 2>/dev/null || xvfb_failed "exited before it served a client"
  ((SECONDS < deadline)) || xvfb_failed "served no client on $DISPLAY within 30 s"
  sleep 0.1
done

succeeded() {  # FILE NAME: the run's --json report says it succeeded; print its outputs,
  # or on failure the whole report and what the command wrote to stderr (FILE.log)
  python3 - "$1" "$2" <<'PY'
import json, pathlib, sys
path = pathlib.Path(sys.argv[1])
text = path.read_text(errors="replace")
try:
    report = json.loads(text)
except ValueError:
    report = {"status": "no JSON report"}
print(f"{sys.argv[2]}: {report.get('status')}, outputs {report.get('outputs')}")
if report.get("status") != "succeeded":
    log = pathlib.Path(f"{path}.log")
    sys.stderr.write(f"report:\n{text}\nstderr:\n{log.read_text(errors='replace') if log.exists() else ''}\n")
    sys.exit(1)
PY
}

# each command's exit status is judged from its report (succeeded() shows why it failed)
"$app" cli run "$examples/desktop_click_image.yaml" --json >"$work/in-process.json" \
  2>"$work/in-process.json.log" || true
succeeded "$work/in-process.json" "desktop_click_image.yaml in-process"
"$app" cli supervisor start >/dev/null
"$app" cli submit "$examples/hello.yaml" --input who=bundle --wait --json >"$work/hello.json" \
  2>"$work/hello.json.log" || true
succeeded "$work/hello.json" "hello.yaml through the supervisor"
"$app" cli submit "$examples/desktop_click_image.yaml" --wait --json >"$work/image.json" \
  2>"$work/image.json.log" || true
succeeded "$work/image.json" "desktop_click_image.yaml through the supervisor"
# The first run's click left the pointer on Save, so the second found the button hovered (its
# border drawn thicker, score 0.86 where the first had 1.0): it must have clicked the same
# button, not merely succeeded (Cancel also closes the dialog).
python3 - "$work/in-process.json" "$work/image.json" <<'PY'
import json, sys
away, resting = (json.load(open(path))["nodes"]["click"]["outputs"] for path in sys.argv[1:])
left, top, width, height = away["box"]
print(f"clicked at {away['x']},{away['y']} in {away['box']} with the pointer away, "
      f"at {resting['x']},{resting['y']} with it resting on the button")
if not (left <= resting["x"] < left + width and top <= resting["y"] < top + height):
    sys.exit("the hovered button was clicked outside the box of the same button not hovered")
PY
echo "smoke test passed: $bundle"
