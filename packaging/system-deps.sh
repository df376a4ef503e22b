#!/usr/bin/env bash
# Debian/Ubuntu packages the tests need: a virtual X server, a D-Bus session
# bus and gnome-keyring (a real Secret Service keyring), xsel for the clipboard;
# the accessibility bus and its GObject bindings (ui.* blocks; PyGObject is built
# from source by pip, so its -dev packages and a compiler come first), and
# galculator and speedcrunch, the GTK and Qt apps the accessibility tests drive,
# and qalculate-gtk beside them for the image-targeting benchmark;
# tesseract for text read off the screen (expect: text postconditions, the
# recorder's OCR text anchors); openbox, wmctrl and xprop (x11-utils; its xmessage is the dialog
# the desktop_click_image example clicks) for the
# recorder's tests, which record a session on a desktop with a window manager,
# and the OCR tests, which read title bars and several windows; postgresql for
# the store tests, which start a throwaway server of their own on 127.0.0.1; dunst,
# a desktop notification server the notification tests send to; prometheus for its
# promtool, which checks and unit-tests the alert rules and dashboard queries in
# packaging/monitoring; icu-devtools for icupkg, with which the tests trim Qt's ICU data
# as the bundle build does (packaging/trim_icu_data.py).
#
#   bash packaging/system-deps.sh            # everything the tests need
#   bash packaging/system-deps.sh runtime    # only what Deskpilot itself needs to install and run
#   bash packaging/system-deps.sh demo       # runtime, and xmessage (x11-utils), the dialog
#                                            # packaging/demo.sh's desktop example clicks
#   bash packaging/system-deps.sh bundle     # runtime, and what build_app.sh needs: a C/C++
#                                            # compiler and cmake (the slim OpenCV), binutils,
#                                            # icupkg (icu-devtools), xmessage for its smoke test
set -euo pipefail
# Installing and running Deskpilot: PyGObject and pycairo build from source (their -dev
# packages, pkg-config and a compiler), the accessibility bus, tesseract for text on
# screen, xdotool and xsel for typing and the clipboard, Xvfb for desktop runs on a
# machine without a display, Qt's xcb libraries for the window.
runtime=(
  xvfb xauth fonts-dejavu-core
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0 libxcb-render-util0
  libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1
  libdbus-1-3 dbus dbus-x11 xsel xdotool
  at-spi2-core gir1.2-atspi-2.0 libgirepository1.0-dev libcairo2-dev pkg-config gcc python3-dev
  tesseract-ocr tesseract-ocr-eng
)
# The tests also drive real third-party apps and services.
tests=(
  gnome-keyring trayer xterm mousepad
  galculator speedcrunch qalculate-gtk
  openbox wmctrl x11-utils
  postgresql
  dunst
  prometheus
  icu-devtools
)
if [ "${1:-all}" = "runtime" ]; then
  packages=("${runtime[@]}")
elif [ "${1:-all}" = "demo" ]; then
  packages=("${runtime[@]}" x11-utils)
elif [ "${1:-all}" = "bundle" ]; then
  packages=("${runtime[@]}" x11-utils g++ cmake binutils icu-devtools)
else
  packages=("${runtime[@]}" "${tests[@]}")
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
