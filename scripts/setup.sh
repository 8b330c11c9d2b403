#!/usr/bin/env bash
# Installs everything Kiln needs to build and test on Debian 12, idempotently:
# Debian packages through apt, Python test tools into the project venv (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  cmake ninja-build ccache g++ pkg-config
  libonnx-dev protobuf-compiler libprotobuf-dev
  libdnnl-dev
  libfmt-dev libspdlog-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
# Pinned so results stay comparable across machines and sessions.
PIP_PACKAGES=(numpy==2.4.6 onnx==1.23.2 onnxruntime==1.32.0 pytest==9.2.0)

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
want=$(printf '%s\n' "${PIP_PACKAGES[@]}" | sort)
have=$(.venv/bin/python -m pip freeze 2>/dev/null | sort)
if [ -n "$(comm -23 <(echo "$want") <(echo "$have"))" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
fi
echo "setup: ok"
