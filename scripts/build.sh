#!/usr/bin/env bash
# Configures and builds Kiln into ./build (RelWithDebInfo, Ninja, ccache when present).
# Extra arguments go to CMake (e.g. -DKILN_CUDA_ARCHS="80;86;89;90a" for a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${KILN_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"
