#!/bin/bash
# Device-side (packed by bench/pack_gpu.sh): per-layer profiles of BERT-base fp16 engines at
# batch 1 and 64 (seq 128) and BERT-large at batch 1 (seq 384): build (tactics timed), bench,
# then `kiln bench --profile --json` (eager, an event pair per layer: shares and tactics, not
# end-to-end latency). Everything lands in $OUT/profile.tgz.
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/out}; mkdir -p $OUT/prof
P=$OUT/prof
[ -x .gpu/kiln ] || { tar -C .gpu -xJf .gpu/libs.tar.xz; xz -dk .gpu/kiln.xz && chmod +x .gpu/kiln; }
export LD_LIBRARY_PATH=$PWD/.gpu/libs:${LD_LIBRARY_PATH}
W=${WORK:-/tmp/pw}; mkdir -p $W
[ -f $W/bert-large-qa.onnx ] || python3 -c "
import sys; sys.path.insert(0, 'bench'); import gpu_bench
gpu_bench.export_models('.gpu/torch_anchors.py', ['bert-base', 'bert-large-qa'], '$W', '$P/export.txt')" > /dev/null 2>&1
for c in "bert-base b1 input_ids:1x128,attention_mask:1x128,token_type_ids:1x128" \
         "bert-base b64 input_ids:64x128,attention_mask:64x128,token_type_ids:64x128" \
         "bert-large-qa b1 input_ids:1x384,attention_mask:1x384,token_type_ids:1x384"; do
  set -- $c
  timeout 120 ./.gpu/kiln build $W/$1.onnx -o $W/$1-$2.engine --target cuda --fp16 --shapes $3 --timing-cache $W/tc > $P/build-$1-$2.txt 2>&1
  timeout 60 ./.gpu/kiln inspect $W/$1-$2.engine > $P/inspect-$1-$2.txt 2>&1
  timeout 60 ./.gpu/kiln bench $W/$1-$2.engine --duration 2 > $P/bench-$1-$2.txt 2>&1
  timeout 60 ./.gpu/kiln bench $W/$1-$2.engine --duration 1 --profile --json $P/profile-$1-$2.json > $P/profile-$1-$2.txt 2>&1
  grep -h "latency" $P/bench-$1-$2.txt | sed "s/^/$1 $2: /"
done
tar -C $OUT -czf $OUT/profile.tgz prof && rm -rf $P
