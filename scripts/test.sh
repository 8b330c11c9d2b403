#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs dependencies, builds, runs ctest.
# Also builds the concurrency tests under ThreadSanitizer (build-tsan), which ctest runs.
# GPU tests (label gpu) skip with a message where no GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
if [ "${KILN_SKIP_TSAN:-0}" != "1" ]; then
  if [ ! -f build-tsan/build.ninja ]; then
    cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_SANITIZE=thread \
      -DKILN_ENABLE_CUDA=OFF >/dev/null
  fi
  cmake --build build-tsan -j "$(nproc)" --target kiln_tsan_tests
fi
ctest --test-dir "${KILN_BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" "$@"
