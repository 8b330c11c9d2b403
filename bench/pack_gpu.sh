#!/bin/bash
# Packs what one GPU-machine call needs into .gpu/ (ignored by git: add "/.gpu/" to
# .git/info/exclude) within the 64 MiB the device tool carries: the kiln binary and the GPU test
# binary (stripped, xz), the shared libraries the GPU machine lacks (../shared/tools/bundle-libs),
# torch_anchors.py and bench/gpu_session.sh; perf_analyzer with its CUDA 12 runtime (the GPU machine has
# CUDA 13 only) for bench/multi_gpu_serve.py. Then: device run `bash .gpu/gpu_session.sh`, carry [".gpu"].
# Usage: bench/pack_gpu.sh [BUILD_DIR]   (a build with CUDA for sm_90a, e.g. build/)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
rm -rf .gpu && mkdir -p .gpu
strip -o .gpu/kiln "$build/tools/kiln"
strip -o .gpu/kiln_gpu_tests "$build/tests/kiln_gpu_tests"
../shared/tools/bundle-libs .gpu/libs .gpu/kiln .gpu/kiln_gpu_tests
xz -T2 -6 .gpu/kiln .gpu/kiln_gpu_tests
tar -C .gpu -cJf .gpu/libs.tar.xz libs && rm -rf .gpu/libs
cp ../shared/bench/torch_anchors.py bench/gpu_session.sh .gpu/
# WITH_CONF=1: also the conformance runner and the ONNX test data (gpu_session.sh then runs the
# suite through CUDA engines); perf_analyzer stays behind to fit the 64 MiB.
if [ "${WITH_CONF:-0}" = 1 ]; then
  strip -o .gpu/kiln_conformance "$build/tests/kiln_conformance" && xz -T2 -6 .gpu/kiln_conformance
  tar -C .. -cJf .gpu/conf.tar.xz shared/onnx-conformance
  cp tests/conformance/expected_unsupported*.txt .gpu/
elif [ -x .venv/bin/perf_analyzer.bin ]; then
  mkdir -p .gpu/pa
  cp .venv/bin/perf_analyzer.bin .gpu/pa/perf_analyzer && xz -T2 -6 .gpu/pa/perf_analyzer
  cp -L .venv/lib/python3*/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12 .gpu/pa/
  cp -L /lib/x86_64-linux-gnu/libb64.so.0d .gpu/pa/
fi
du -sh .gpu
