#!/usr/bin/env bash
# The main job on the embedded default: installs dependencies, builds, and runs `kiln` on the
# model shipped in models/ (extra arguments go to `kiln`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
./scripts/build.sh >/dev/null
exec "./${KILN_BUILD_DIR:-build}/tools/kiln" "$@"
