#!/bin/bash
# Device-side runner for one GPU-machine call (packed by bench/pack_gpu.sh): GPU tests, Kiln vs
# PyTorch side by side, accuracy vs ONNX Runtime. Each step has its own time limit
# and writes under $OUT; a short table is printed last.
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH=$PWD/.gpu/libs:${LD_LIBRARY_PATH}
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
# Carried compressed (the tree that travels is limited to 64 MiB).
tar -C .gpu -xJf .gpu/libs.tar.xz
xz -dk .gpu/kiln.xz .gpu/kiln_gpu_tests.xz && chmod +x .gpu/kiln .gpu/kiln_gpu_tests
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > $OUT/gpu.txt
python3 -c "import torch; print('torch', torch.__version__, 'cudnn', torch.backends.cudnn.version())" >> $OUT/gpu.txt 2>&1
T_TESTS=${T_TESTS:-120}; T_BENCH=${T_BENCH:-170}
# 1. kernel + engine tests against the CPU reference
timeout $T_TESTS ./.gpu/kiln_gpu_tests --gtest_brief=1 > $OUT/gpu_tests.txt 2>&1; echo "gpu_tests rc=$?" >> $OUT/summary.txt
grep -E "^\[  (PASSED|FAILED|SKIPPED) |tests? from .* ran" $OUT/gpu_tests.txt | tail -40 >> $OUT/summary.txt
# 2. Kiln vs PyTorch, one run
timeout $T_BENCH python3 bench/gpu_bench.py --kiln ./.gpu/kiln --anchors .gpu/torch_anchors.py --out $OUT/bench \
  --cases "${BENCH_CASES:-resnet50:1,resnet50:128,bert-base:1:128,bert-base:64:128}" \
  --torch-modes "${TORCH_MODES:-eager,graph}" > $OUT/bench.txt 2>&1; echo "bench rc=$?" >> $OUT/summary.txt
cp $OUT/bench/*.json $OUT/bench/*.md $OUT/ 2>/dev/null; cp $OUT/bench/gpu_bench.log $OUT/ 2>/dev/null
# 2b. where the time goes: per-layer profile of the batch-1 engines (tactic per layer)
for e in $OUT/bench/work/*-b1-*.engine; do
  [ -f "$e" ] && timeout 60 ./.gpu/kiln bench "$e" --duration 1 --profile > $OUT/profile-$(basename $e .engine).txt 2>&1
done
# 3. accuracy vs ONNX Runtime on the exported models (fp32 TF32 off, fp16)
timeout ${T_ACC:-70} python3 bench/gpu_accuracy.py --kiln ./.gpu/kiln --models $OUT/bench/work --out $OUT --level ${ACC_LEVEL:-1} \
  > $OUT/accuracy.txt 2>&1; echo "accuracy rc=$?" >> $OUT/summary.txt; cat $OUT/accuracy.txt >> $OUT/summary.txt
cp $OUT/bench/work/torch.json $OUT/torch_partial.json 2>/dev/null  # kept if PyTorch ran out of time
# 4. the ONNX conformance suite through CUDA engines (packed with WITH_CONF=1)
if [ -f .gpu/kiln_conformance.xz ]; then
  xz -dk .gpu/kiln_conformance.xz && chmod +x .gpu/kiln_conformance && tar -C /tmp -xJf .gpu/conf.tar.xz
  # The lists conformance_gpu holds CUDA engines to (interpreter, engines, CUDA-only).
  lists=(); for f in .gpu/expected_unsupported*.txt; do lists+=(--expected "$f"); done
  # CONF_FILTERS="rotary dft ...": only tests whose names contain one of these (a quick check of a
  # few ops); default the whole suite.
  for f in ${CONF_FILTERS:-__all__}; do
    [ "$f" = __all__ ] && f=""
    timeout ${T_CONF:-120} ./.gpu/kiln_conformance --root /tmp/shared/onnx-conformance --target cuda "${lists[@]}" \
      ${f:+--filter "$f"} --report $OUT/conformance-gpu${f:+-$f}.md > $OUT/conformance${f:+-$f}.txt 2>&1
    echo "conformance${f:+ ($f)} rc=$?" >> $OUT/summary.txt; tail -4 $OUT/conformance${f:+-$f}.txt >> $OUT/summary.txt
  done
fi
rm -rf $OUT/bench/work
cat $OUT/summary.txt; cat $OUT/*.md 2>/dev/null | head -40
# At most 8 files come back: pack everything but the summary.
cd $OUT && tar -czf /tmp/results.tgz --exclude=summary.txt . && find . -mindepth 1 ! -name summary.txt -exec rm -rf {} + ; mv /tmp/results.tgz $OUT/
