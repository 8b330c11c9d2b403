#!/usr/bin/env bash
# Extra set-up for the model benchmarks (not needed by the tests): Debian's CPU PyTorch and
# torchvision, and a venv that sees them plus a pinned transformers, to export ResNet-50 and BERT
# with ../shared/bench/torch_anchors.py.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
for p in python3-torch python3-torchvision python3-venv; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="${missing:-} $p"
done
if [ -n "${missing:-}" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
if [ ! -x .bench-venv/bin/python ]; then
  /usr/bin/python3 -m venv --system-site-packages .bench-venv
fi
.bench-venv/bin/python -c "import transformers" 2>/dev/null || \
  .bench-venv/bin/python -m pip install -q --disable-pip-version-check "transformers==4.40.2"
echo "bench setup: ok"
