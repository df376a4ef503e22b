#!/usr/bin/env bash
# Build the one-folder app with PyInstaller, then run the built program to prove it works:
# --version, --self-check (renders the main window offscreen, loads every block, starts
# a supervisor from the bundle, runs a workflow in a worker, stops the supervisor), and
# packaging/smoke_bundle.sh (finds and clicks a button by its picture on a private Xvfb).
#   bash packaging/build_app.sh              # result in build/dist/deskpilot/
#   DIST=/opt/deskpilot-build bash packaging/build_app.sh
#   OPENCV=venv bash packaging/build_app.sh  # bundle the venv's full OpenCV wheel instead of
#                                            # the slim build (78 MB more)
# Needs PyInstaller in the venv:  .venv/bin/pip install -e '.[package]'; and icupkg
# (apt-get install icu-devtools) for trim_icu_data.py. The first build compiles OpenCV's
# core, imgproc and imgcodecs (packaging/build_slim_opencv.sh, 15 to 20 minutes on two
# cores, then cached in ~/.cache/deskpilot/wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
dist="${DIST:-build/dist}"
work="${WORK:-build/pyinstaller}"
for tool in cc nm readelf strip; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install build-essential)" >&2; exit 2; }
done
command -v icupkg >/dev/null || { echo "icupkg is needed (apt-get install icu-devtools)" >&2; exit 2; }
if ! .venv/bin/python -c "import PyInstaller" 2>/dev/null; then
  echo "PyInstaller is not installed: .venv/bin/pip install -e '.[package]'" >&2
  exit 2
fi
# The slim OpenCV goes ahead of the venv's on the path PyInstaller analyses, so its cv2 is
# the one bundled; the venv (and the tests) keep the full wheel.
opencv_path=""
if [[ "${OPENCV:-slim}" == slim ]]; then
  wheel="$(bash packaging/build_slim_opencv.sh | tail -1)"
  opencv_path="$work/slim-opencv"
  rm -rf "$opencv_path"
  .venv/bin/python -m pip install --quiet --no-deps --no-compile --target "$opencv_path" "$wheel"
fi
PYTHONPATH="$opencv_path${PYTHONPATH:+:$PYTHONPATH}" .venv/bin/python -m PyInstaller \
  --noconfirm --clean --log-level WARN --distpath "$dist" --workpath "$work" packaging/deskpilot.spec
app="$dist/deskpilot/deskpilot"
if [[ -n "$opencv_path" ]] && readelf -dW "$dist"/deskpilot/_internal/cv2/cv2*.so | grep -q 'libav'; then
  echo "the bundled cv2 is the full wheel's, not the slim build from $opencv_path" >&2
  exit 1
fi
# numpy's OpenBLAS (and with OPENCV=venv the full OpenCV wheel's FFmpeg, AV1 codec and
# OpenBLAS) become stubs that abort with a message if ever called (Deskpilot never does; see
# the script's docstring)
.venv/bin/python packaging/stub_libraries.py "$dist/deskpilot"
# ICU's locale display names, transliterators and number spellings: Qt never reads them
.venv/bin/python packaging/trim_icu_data.py "$dist/deskpilot"
# auditwheel's patched libraries carry megabytes of zero padding each (19 MB in Tesseract's)
.venv/bin/python packaging/compact_libraries.py "$dist/deskpilot"
# Symbol tables and debug sections are of no use in the bundle (libpython alone carries 16 MB).
# The libraries auditwheel grafted into wheels (the *.libs folders) are stripped too, after
# compact_libraries.py (Tesseract's and Leptonica's symbol tables, 1.3 MB); the self-check
# below loads each of them (OCR, Pillow, numpy).
find "$dist/deskpilot" -type f -name '*.so*' -exec strip --strip-unneeded {} +
"$app" --version
env -u DISPLAY -u DESKPILOT_HOME "$app" --self-check
if command -v Xvfb >/dev/null && command -v xmessage >/dev/null; then
  bash packaging/smoke_bundle.sh "$dist/deskpilot"
else
  echo "Xvfb or xmessage is missing: the on-screen smoke test (packaging/smoke_bundle.sh) was skipped"
fi
echo "built $(du -sh "$dist/deskpilot" | cut -f1) in $dist/deskpilot; run it with $app"
echo "sizes: .venv/bin/python -m tests.benchmarks.bench_bundle $dist/deskpilot"
