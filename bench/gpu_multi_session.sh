#!/bin/bash
# Device-side (nvidia-h100-x2 or larger), packed by bench/pack_gpu.sh: multi-GPU serving and
# `kiln bench --devices` (bench/multi_gpu_serve.py). Extra arguments go to that script.
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
[ -x .gpu/kiln ] || { tar -C .gpu -xJf .gpu/libs.tar.xz; xz -dk .gpu/kiln.xz && chmod +x .gpu/kiln; }
[ -x .gpu/pa/perf_analyzer ] || { xz -dk .gpu/pa/perf_analyzer.xz && chmod +x .gpu/pa/perf_analyzer; }
export LD_LIBRARY_PATH=$PWD/.gpu/libs:$PWD/.gpu/pa:${LD_LIBRARY_PATH}
ngpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)
timeout ${T_MULTI:-560} python3 bench/multi_gpu_serve.py --kiln ./.gpu/kiln --perf-analyzer ./.gpu/pa/perf_analyzer \
  --anchors .gpu/torch_anchors.py --out $OUT/multi --gpus $ngpu "$@" > $OUT/multi.txt 2>&1; echo "multi rc=$?" >> $OUT/multi.txt
tail -40 $OUT/multi.txt
cp $OUT/multi/*.json $OUT/multi/*.md $OUT/ 2>/dev/null
cd $OUT && tar -czf /tmp/multi.tgz --exclude=work multi && rm -rf multi && mv /tmp/multi.tgz $OUT/
