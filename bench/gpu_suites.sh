#!/bin/bash
# GPU machine: runs every kiln_gpu_tests suite in its own process (a kernel fault then poisons only
# its own suite), keeps the output of failing suites under $OUT, prints a summary; optionally
# compute-sanitizer on a filter (SANITIZE=...) and the ONNX conformance suite through CUDA
# engines (CONF=1). Expects the layout bench/pack_gpu.sh --tests-only makes in .gpu/.
cd .gpu && xz -d kiln_gpu_tests.xz kiln_conformance.xz 2>/dev/null; chmod +x kiln_gpu_tests kiln_conformance
tar xJf libs.tar.xz && tar -C /tmp -xJf conf.tar.xz && export LD_LIBRARY_PATH=$PWD/libs
SUITES=${SUITES:-$(./kiln_gpu_tests --gtest_list_tests | grep -E '^[A-Za-z0-9_]+\.$' | tr -d '.')}
for s in $SUITES; do
  ./kiln_gpu_tests --gtest_filter="$s.*" > $OUT/t_$s.txt 2>&1
  rc=$?
  echo "$s rc=$rc $(grep -c '^\[       OK' $OUT/t_$s.txt) ok $(grep -c '^\[  FAILED  \]' $OUT/t_$s.txt) failed $(grep -c '^\[  SKIPPED' $OUT/t_$s.txt) skipped"
  [ $rc = 0 ] && rm -f $OUT/t_$s.txt
done > $OUT/suites.txt
grep -v "rc=0" $OUT/suites.txt
echo "suites: $(wc -l < $OUT/suites.txt), failing: $(grep -vc 'rc=0' $OUT/suites.txt), tests ok: $(awk '{s+=$3} END {print s}' $OUT/suites.txt)"
if [ -n "$SANITIZE" ]; then
  /usr/local/cuda/bin/compute-sanitizer --print-limit 3 ./kiln_gpu_tests --gtest_filter="$SANITIZE" > $OUT/sanitize.txt 2>&1
  grep -E "Invalid|in [a-zA-Z_:<>]+\(|by thread|ERROR SUMMARY" $OUT/sanitize.txt | head -20
fi
if [ -n "$CONF" ]; then
  ./kiln_conformance --root /tmp/shared/onnx-conformance --target cuda --expected expected_unsupported.txt \
    --report $OUT/r.md > $OUT/conf.txt 2>&1
  tail -9 $OUT/conf.txt
fi
