#!/usr/bin/env bash
# Build a Debian package of the one-folder app, then install it into a throwaway root and
# prove it works from there.
#   bash packaging/build_deb.sh            # -> build/deskpilot_<version>_amd64.deb
#   REBUILD=1 bash packaging/build_deb.sh  # rebuild the bundle even if build/dist/deskpilot exists
# What it installs: the bundle in /opt/deskpilot; /usr/bin/deskpilot (the command line),
# /usr/bin/deskpilot-app (the window, what the menu entry runs) and /usr/bin/deskpilotd (the
# supervisor); the menu entry and icon; the supervisor's systemd user unit in
# /usr/lib/systemd/user (enable it per user: systemctl --user enable --now deskpilotd).
set -euo pipefail
cd "$(dirname "$0")/.."
dist="${DIST:-build/dist}"
bundle="$dist/deskpilot"
if [[ -n "${REBUILD:-}" || ! -x "$bundle/deskpilot" ]]; then
  DIST="$dist" bash packaging/build_app.sh
fi
version="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)"
arch="$(dpkg --print-architecture)"
root="build/deb/root"
deb="build/deskpilot_${version}_${arch}.deb"
rm -rf build/deb && mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" \
  "$root/usr/share/applications" "$root/usr/share/icons/hicolor/scalable/apps" \
  "$root/usr/lib/systemd/user" "$root/usr/share/doc/deskpilot"
cp -a "$bundle" "$root/opt/deskpilot"

# The wrappers find the bundle relative to themselves (/usr/bin/../../opt/deskpilot), so the
# same files work in a throwaway root unpacked with dpkg -x.
wrapper() {  # NAME, then the bundle program's arguments before the user's
  local name="$1"; shift
  cat >"$root/usr/bin/$name" <<WRAP
#!/bin/sh
here="\$(dirname "\$(readlink -f "\$0")")"
exec "\$here/../../opt/deskpilot/deskpilot" $* "\$@"
WRAP
  chmod 755 "$root/usr/bin/$name"
}
wrapper deskpilot cli
wrapper deskpilot-app
wrapper deskpilotd -m supervisor.daemon

grep -v '^#' packaging/deskpilot.desktop >"$root/usr/share/applications/deskpilot.desktop"
cp resources/icons/deskpilot.svg "$root/usr/share/icons/hicolor/scalable/apps/deskpilot.svg"
sed -e 's|^ExecStart=.*|ExecStart=/usr/bin/deskpilotd|' -e '/^# ExecStart is the pip/,/-m supervisor.daemon$/d' \
  -e 's|^#   mkdir -p ~/.config/systemd/user.*|#   (installed by the deskpilot package)|' \
  -e '/^#   systemctl --user daemon-reload/s|.*|#   systemctl --user enable --now deskpilotd|' \
  packaging/deskpilotd.service >"$root/usr/lib/systemd/user/deskpilotd.service"
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: deskpilot"
  echo
  echo "Files: *"
  echo "License: Apache-2.0"
  echo " On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0."
} >"$root/usr/share/doc/deskpilot/copyright"
installed_kb="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
cat >"$root/DEBIAN/control" <<CONTROL
Package: deskpilot
Version: $version
Architecture: $arch
Maintainer: Deskpilot maintainers <deskpilot@localhost>
Installed-Size: $installed_kb
Depends: libc6 (>= 2.36), libfontconfig1, libdbus-1-3, libx11-6, libxcb1
Recommends: at-spi2-core, tesseract-ocr-eng
Suggests: xdotool
Section: utils
Priority: optional
Homepage: https://example.invalid/deskpilot
Description: desktop automation that keeps itself running
 Workflows as graphs of typed blocks (clicks, typing, images, text on screen,
 accessibility), a self-healing supervisor that runs them on schedules and
 triggers, and a local history of every run.
CONTROL
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "built $deb: $(du -h "$deb" | cut -f1) (installed: $((installed_kb / 1024)) MB)"

# Install into a throwaway root and run it from there: the command line, a workflow in-process,
# and the bundle's self-check (a supervisor from the package runs a workflow in a worker).
check="$(mktemp -d /tmp/deskpilot-deb.XXXXXX)"
trap 'rm -rf "$check"' EXIT
dpkg -x "$deb" "$check/root"
export DESKPILOT_HOME="$check/home"
"$check/root/usr/bin/deskpilot" --version
out="$("$check/root/usr/bin/deskpilot" run "$check/root/opt/deskpilot/_internal/resources/examples/hello.yaml" --input who=deb)"
grep -q "Hello, deb!" <<<"$out" || { echo "hello.yaml from the package did not greet:" >&2; echo "$out" >&2; exit 1; }
env -u DISPLAY -u DESKPILOT_HOME "$check/root/opt/deskpilot/deskpilot" --self-check
if command -v Xvfb >/dev/null && command -v xmessage >/dev/null; then
  bash packaging/smoke_bundle.sh "$check/root/opt/deskpilot"
fi
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$check/root/usr/share/applications/deskpilot.desktop"
fi
if command -v lintian >/dev/null; then
  lintian --no-tag-display-limit "$deb" || echo "lintian reported the findings above" >&2
else
  echo "lintian is not installed; skipped"
fi
echo "ok: $deb installs and runs (dpkg -i $deb to install it on this machine)"
