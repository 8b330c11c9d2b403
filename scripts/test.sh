#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs dependencies, builds, runs ctest.
# GPU tests (label gpu) skip with a message where no GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
ctest --test-dir "${KILN_BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" "$@"
