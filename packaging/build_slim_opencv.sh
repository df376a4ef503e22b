#!/usr/bin/env bash
# Build (once) and cache a wheel of OpenCV's Python module holding only what Deskpilot calls:
# core, imgproc (with geometry and flann, which it needs in OpenCV 5) and imgcodecs with PNG
# and JPEG. No videoio, dnn, highgui, FFmpeg, OpenBLAS, OpenCL, TIFF, WebP, OpenEXR or
# JPEG 2000: the pip wheel's cv2.abi3.so carries every module (78 MB with its libraries).
# build_app.sh bundles it; the venv and the tests keep the pip wheel.
#   bash packaging/build_slim_opencv.sh          # prints the wheel's path on its last line
#   JOBS=2 bash packaging/build_slim_opencv.sh   # compile jobs (default: the number of cores)
# The wheel is kept in ${XDG_CACHE_HOME:-~/.cache}/deskpilot/wheels under a name that carries
# the OpenCV version and a digest of the build options, so a change of either builds anew.
# It compiles from the opencv-python-headless source release on PyPI (15 to 20 minutes on
# two cores); needs cmake, a C++ compiler and Python's headers. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
version=$("$python" -c "import importlib.metadata as m; print(m.version('opencv-python-headless'))")
cache="${XDG_CACHE_HOME:-$HOME/.cache}/deskpilot/wheels"
# The same version as the pip wheel the tests run with, so both behave alike.
options=(
  -DBUILD_LIST=core,imgproc,imgcodecs,python3
  # said outright: once a configure has switched the Python module off, the kept build folder
  # remembers it and scikit-build packs the previous cv2.abi3.so from its install folder
  -DBUILD_opencv_python3=ON -DBUILD_opencv_python_bindings_generator=ON
  # no downloads at configure time (IPP, ADE, ...): the build works offline
  -DWITH_IPP=OFF -DWITH_ITT=OFF -DWITH_ADE=OFF -DWITH_OPENCL=OFF -DWITH_VA=OFF -DWITH_VA_INTEL=OFF
  -DWITH_FFMPEG=OFF -DWITH_GSTREAMER=OFF -DWITH_V4L=OFF -DWITH_1394=OFF -DWITH_OBSENSOR=OFF
  -DWITH_LAPACK=OFF -DWITH_EIGEN=OFF -DWITH_PROTOBUF=OFF -DWITH_FLATBUFFERS=OFF -DWITH_QUIRC=OFF
  -DWITH_GTK=OFF -DWITH_QT=OFF -DWITH_OPENGL=OFF -DWITH_FREETYPE=OFF
  # OpenCV 5 draws text (putText: the evidence screenshots, the self-check) with HarfBuzz
  -DWITH_HARFBUZZ=ON -DBUILD_HARFBUZZ=ON  # its own copy, linked in: no system HarfBuzz, FreeType or GLib
  -DWITH_TIFF=OFF -DWITH_WEBP=OFF -DWITH_OPENJPEG=OFF -DWITH_JASPER=OFF -DWITH_OPENEXR=OFF
  -DBUILD_OPENEXR=OFF -DWITH_AVIF=OFF -DWITH_JPEGXL=OFF -DWITH_SPNG=OFF -DWITH_GDAL=OFF
  -DWITH_GDCM=OFF -DWITH_IMGCODEC_HDR=OFF -DWITH_IMGCODEC_SUNRASTER=OFF -DWITH_IMGCODEC_PXM=OFF
  -DWITH_IMGCODEC_PFM=OFF -DWITH_IMGCODEC_GIF=OFF
  # PNG and JPEG from OpenCV's own copies, linked in: the module needs no system image library
  -DWITH_PNG=ON -DBUILD_PNG=ON -DWITH_JPEG=ON -DBUILD_JPEG=ON -DBUILD_ZLIB=ON
  # the SIMD paths that matchTemplate, resize and the filters use on today's x86 machines
  -DCPU_DISPATCH=SSE4_1,SSE4_2,AVX,FP16,AVX2
  -DENABLE_PRECOMPILED_HEADERS=OFF -DBUILD_JAVA=OFF -DBUILD_opencv_js=OFF
  # the venv's numpy headers, not those of pip's throwaway build environment, which are gone
  # when a cut-short build resumes
  "-DPYTHON3_NUMPY_INCLUDE_DIRS=$("$python" -c 'import numpy; print(numpy.get_include())')"
)
digest=$(printf '%s\n' "$version" "${options[@]}" | sha256sum | cut -c1-12)
wheel_dir="$cache/opencv-slim-$version-$digest"
if wheel=$(ls "$wheel_dir"/opencv_python_headless-*.whl 2>/dev/null | head -1) && [ -n "$wheel" ]; then
  echo "$wheel"
  exit 0
fi
for tool in cmake c++; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install cmake g++)" >&2; exit 2; }
done
# The source release is unpacked into a build folder that stays (scikit-build compiles in its
# _skbuild/), so a build cut short resumes where it stopped instead of starting over.
source_root="${XDG_CACHE_HOME:-$HOME/.cache}/deskpilot/opencv-build"
source_dir="$source_root/opencv_python_headless-$version"
if [[ ! -f "$source_dir/setup.py" ]]; then
  mkdir -p "$source_root"
  "$python" -m pip download --quiet --no-deps --no-binary opencv-python-headless \
    --dest "$source_root" "opencv-python-headless==$version" >&2
  tar -xzf "$source_root/opencv_python_headless-$version.tar.gz" -C "$source_root"
fi
# The typing stubs describe every module; with some left out their generator gives up and
# writes neither py.typed nor cv2/typing, which the package layout requires. The module
# works without them: both become optional.
layout="$source_dir/cmake/package/install_package.cmake"
sed -i -e 's|opencv_python_install("" GLOB "${_loader}/py.typed")|opencv_python_install("" OPTIONAL GLOB "${_loader}/py.typed")|' \
  -e 's|opencv_python_install(${_subpackage} RECURSE GLOB|opencv_python_install(${_subpackage} OPTIONAL RECURSE GLOB|' \
  "$layout"
grep -q 'OPTIONAL GLOB "${_loader}/py.typed"' "$layout" && grep -q '${_subpackage} OPTIONAL RECURSE' "$layout" \
  || { echo "$layout changed: adapt the edits that make the typing stubs optional" >&2; exit 1; }
mkdir -p "$wheel_dir.partial"
started=$(date +%s)
# ENABLE_HEADLESS picks the headless package layout; CMAKE_ARGS reaches OpenCV's cmake
# through scikit-build; the later of two equal -D options wins, so these override setup.py's.
ENABLE_HEADLESS=1 CMAKE_ARGS="${options[*]}" \
  CMAKE_BUILD_PARALLEL_LEVEL="${JOBS:-$(nproc)}" MAKEFLAGS="-j${JOBS:-$(nproc)}" \
  "$python" -m pip wheel --no-deps --wheel-dir "$wheel_dir.partial" "$source_dir" >&2
# Only a wheel whose module draws text is kept: a module without HarfBuzz imports and matches
# images but raises on putText (the evidence screenshots, the self-check).
check_dir=$(mktemp -d)
trap 'rm -rf "$check_dir"' EXIT
"$python" -m zipfile -e "$(ls "$wheel_dir.partial"/opencv_python_headless-*.whl | head -1)" "$check_dir"
"$python" - "$check_dir" <<'PY' >&2 || { echo "the slim OpenCV in $wheel_dir.partial does not draw text: not kept" >&2; exit 1; }
import sys
sys.path.insert(0, sys.argv[1])
import cv2
import numpy as np
assert cv2.__file__.startswith(sys.argv[1]), cv2.__file__
image = np.zeros((40, 200, 3), np.uint8)
cv2.putText(image, "Deskpilot", (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
assert image.any(), "putText drew nothing"
print("the slim OpenCV draws text:", cv2.__file__)
PY
rm -rf "$wheel_dir"
mv "$wheel_dir.partial" "$wheel_dir"
echo "built the slim OpenCV $version in $(( $(date +%s) - started )) s" >&2
ls "$wheel_dir"/opencv_python_headless-*.whl | head -1
