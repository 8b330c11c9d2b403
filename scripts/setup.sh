#!/usr/bin/env bash
# Installs everything Kiln needs to build and test on Debian 12, idempotently:
# Debian packages through apt, Python test tools into the project venv (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  cmake ninja-build ccache g++ pkg-config
  libonnx-dev protobuf-compiler libprotobuf-dev
  libdnnl-dev ocl-icd-opencl-dev  # oneDNN's CMake config looks for OpenCL (only a Recommends)
  libfmt-dev libspdlog-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libboost-dev zlib1g-dev libgrpc++-dev protobuf-compiler-grpc libsimdjson-dev
  prometheus wrk curl libb64-0d
)
# Pinned so results stay comparable across machines and sessions.
PIP_PACKAGES=(numpy==2.4.6 onnx==1.23.2 onnxruntime==1.32.0 pytest==9.2.0 "tritonclient[all]==2.73.0"
              nvidia-cuda-runtime-cu12==12.9.79)
# perf_analyzer: the PyPI "perf-analyzer" package is an empty placeholder and current tritonclient
# wheels no longer carry the binary. tritonclient 2.51.0's manylinux wheel is the newest whose
# perf_analyzer runs on Debian 12's glibc; it links libb64 (apt) and libcudart.so.12 (the pip
# package above; loaded, never used without a GPU). Only the binary is taken from that wheel.
PERF_ANALYZER_WHEEL_VERSION=2.51.0

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
want=$(printf '%s\n' "${PIP_PACKAGES[@]}" | sed 's/\[[^]]*\]//' | tr 'A-Z_' 'a-z-' | sort)
have=$(.venv/bin/python -m pip freeze 2>/dev/null | tr 'A-Z_' 'a-z-' | sort)
if [ -n "$(comm -23 <(echo "$want") <(echo "$have"))" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
fi
if [ ! -x .venv/bin/perf_analyzer ] || ! grep -q "$PERF_ANALYZER_WHEEL_VERSION" .venv/bin/perf_analyzer; then
  tmp=$(mktemp -d)
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux1_x86_64 -d "$tmp" "tritonclient==$PERF_ANALYZER_WHEEL_VERSION"
  .venv/bin/python -m zipfile -e "$tmp"/tritonclient-*.whl "$tmp/x"
  install -m 755 "$tmp/x/tritonclient-$PERF_ANALYZER_WHEEL_VERSION.data/data/bin/perf_analyzer" \
    .venv/bin/perf_analyzer.bin
  rm -rf "$tmp"
  cudart=$(.venv/bin/python -c 'import nvidia.cuda_runtime, os; print(os.path.join(list(nvidia.cuda_runtime.__path__)[0], "lib"))')
  cat > .venv/bin/perf_analyzer <<WRAP
#!/bin/sh
# perf_analyzer from tritonclient $PERF_ANALYZER_WHEEL_VERSION (see scripts/setup.sh)
LD_LIBRARY_PATH="$cudart\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$PWD/.venv/bin/perf_analyzer.bin" "\$@"
WRAP
  chmod +x .venv/bin/perf_analyzer
fi
# Header-only CUDA libraries, taken from their PyPI wheels (only the C++ headers are used):
# CUTLASS/CuTe and cuDNN's C++ graph frontend. Pinned; unpacked into third_party/ (git-ignored).
fetch_headers() {  # wheel-spec, path inside the wheel, destination
  local spec=$1 inner=$2 dest=$3
  [ -f "$dest/.version" ] && [ "$(cat "$dest/.version")" = "$spec" ] && return 0
  local tmp; tmp=$(mktemp -d)
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps -d "$tmp" "$spec"
  .venv/bin/python -m zipfile -e "$tmp"/*.whl "$tmp/x"
  rm -rf "$dest"; mkdir -p "$(dirname "$dest")"
  mv "$tmp/x/$inner" "$dest"
  echo "$spec" > "$dest/.version"
  rm -rf "$tmp"
}
fetch_headers nvidia-cutlass==4.2.0.0 cutlass_library/source/include third_party/cutlass/include
fetch_headers nvidia-cudnn-frontend==1.32.0 include third_party/cudnn_frontend/include
echo "setup: ok"
