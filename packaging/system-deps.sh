#!/usr/bin/env bash
# Debian/Ubuntu packages the tests need: a virtual X server, a D-Bus session
# bus and gnome-keyring (a real Secret Service keyring), xsel for the clipboard;
# the accessibility bus and its GObject bindings (ui.* blocks; PyGObject is built
# from source by pip, so its -dev packages and a compiler come first), and
# galculator and speedcrunch, the GTK and Qt apps the accessibility tests drive,
# and qalculate-gtk beside them for the image-targeting benchmark;
# tesseract for text read off the screen (expect: text postconditions, the
# recorder's OCR text anchors); openbox, wmctrl and xprop (x11-utils) for the
# recorder's tests, which record a session on a desktop with a window manager,
# and the OCR tests, which read title bars and several windows; postgresql for
# the store tests, which start a throwaway server of their own on 127.0.0.1; dunst,
# a desktop notification server the notification tests send to.
set -euo pipefail
packages=(
  xvfb xauth fonts-dejavu-core
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0 libxcb-render-util0
  libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1
  libdbus-1-3 dbus dbus-x11 gnome-keyring trayer xsel xdotool xterm mousepad
  at-spi2-core gir1.2-atspi-2.0 libgirepository1.0-dev libcairo2-dev pkg-config gcc python3-dev
  galculator speedcrunch qalculate-gtk
  tesseract-ocr tesseract-ocr-eng
  openbox wmctrl x11-utils
  postgresql
  dunst
)
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
