#!/usr/bin/env python3
"""Accuracy of Kiln CUDA engines against ONNX Runtime (CPU) on the exported reference models.

Run on the GPU machine (after torch_anchors.py export DIR):
  bench/gpu_accuracy.py --kiln BUILD/tools/kiln --models DIR --out OUT

- ResNet-50: 256 random images (8 batches of 32); fp32 (TF32 off), fp16 and fp16 --reduced-io
  (float16 in and out) engines; relative L2
  of the logits vs ORT and top-1 agreement (target: fp32 rel L2 <= 1e-4, fp16 <= 1e-2, top-1
  equal on >= 99%).
- BERT-base: batch 1, seq 128 (28 padded positions), random token ids; the same three engines vs ORT.
Writes OUT/gpu-accuracy.json and prints a table.
"""
import argparse, json, os, subprocess, sys, tempfile

import numpy as np


def sh(cmd, timeout=600):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{p.stdout[-1500:]}")
    return p.stdout


# kiln build flags per accuracy row: fp32 with TF32 off; fp16; fp16 with float16 inputs/outputs.
FLAGS = {"fp32": ["--no-tf32"], "fp16": ["--fp16"], "fp16-reduced-io": ["--fp16", "--reduced-io"]}


def rel_l2(a, b):
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def kiln_run(kiln, engine, feeds, tmp):
    args = [kiln, "run", engine, "--output-dir", os.path.join(tmp, "out")]
    for name, arr in feeds.items():
        path = os.path.join(tmp, f"{name}.npy")
        np.save(path, arr)
        args += ["--input", f"{name}={path}"]
    sh(args)
    return {f[:-4]: np.load(os.path.join(tmp, "out", f)) for f in os.listdir(os.path.join(tmp, "out"))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--models", required=True, help="folder with resnet50.onnx / bert-base.onnx")
    ap.add_argument("--out", required=True)
    ap.add_argument("--level", default="1", help="builder optimization level (1: no timing, fast)")
    a = ap.parse_args()
    import onnxruntime as ort
    os.makedirs(a.out, exist_ok=True)
    results = []
    tmp = tempfile.mkdtemp()
    rng = np.random.default_rng(0)

    r50 = os.path.join(a.models, "resnet50.onnx")
    if os.path.exists(r50):
        sess = ort.InferenceSession(r50, providers=["CPUExecutionProvider"])
        batches = [rng.standard_normal((32, 3, 224, 224), dtype=np.float32) for _ in range(8)]
        refs = [sess.run(None, {"input": x})[0] for x in batches]
        for prec in ["fp32", "fp16", "fp16-reduced-io"]:
            eng = os.path.join(tmp, f"r50-{prec}.engine")
            r = {"model": "resnet50", "precision": prec, "images": 256}
            try:
                cmd = [a.kiln, "build", r50, "-o", eng, "--target", "cuda", "--shapes", "input:32x3x224x224",
                       "--builder-optimization-level", a.level]
                cmd += FLAGS[prec]
                sh(cmd)
                # --reduced-io: the engine takes and returns float16.
                io = np.float16 if prec.endswith("reduced-io") else np.float32
                outs = [kiln_run(a.kiln, eng, {"input": x.astype(io)}, tmp)["logits"] for x in batches]
                r["output_dtype"] = str(outs[0].dtype)
                got, ref = np.concatenate(outs), np.concatenate(refs)
                r["rel_l2"] = rel_l2(got, ref)
                r["top1_agree"] = float(np.mean(got.argmax(1) == ref.argmax(1)))
                r["pass"] = (r["rel_l2"] <= (1e-4 if prec == "fp32" else 1e-2) and r["top1_agree"] >= 0.99 and
                             outs[0].dtype == io)
            except Exception as e:
                r["error"] = str(e)[-600:]
            results.append(r)
            print(json.dumps(r), flush=True)

    bert = os.path.join(a.models, "bert-base.onnx")
    if os.path.exists(bert):
        sess = ort.InferenceSession(bert, providers=["CPUExecutionProvider"])
        # Batch 1: ONNX Runtime 1.2x refuses this export at batch 4 (LayerNormalization buffer reuse).
        feeds = {"input_ids": rng.integers(0, 30000, (1, 128), dtype=np.int64),
                 "attention_mask": np.ones((1, 128), dtype=np.int64),
                 "token_type_ids": np.zeros((1, 128), dtype=np.int64)}
        feeds["attention_mask"][0, 100:] = 0  # a padded sequence exercises the mask
        names = [o.name for o in sess.get_outputs()]
        ref = dict(zip(names, sess.run(None, feeds)))
        shapes = ",".join(f"{k}:1x128" for k in feeds)
        for prec in ["fp32", "fp16", "fp16-reduced-io"]:
            eng = os.path.join(tmp, f"bert-{prec}.engine")
            r = {"model": "bert-base", "precision": prec, "batch": 1, "seq": 128}
            try:
                cmd = [a.kiln, "build", bert, "-o", eng, "--target", "cuda", "--shapes", shapes,
                       "--builder-optimization-level", a.level]
                cmd += FLAGS[prec]
                sh(cmd)
                got = kiln_run(a.kiln, eng, feeds, tmp)
                r["rel_l2"] = {n: rel_l2(got[n], ref[n]) for n in names if n in got}
                r["output_dtypes"] = {n: str(got[n].dtype) for n in names if n in got}
                io = "float16" if prec.endswith("reduced-io") else "float32"
                worst = max(r["rel_l2"].values()) if r["rel_l2"] else float("inf")
                r["pass"] = (worst <= (1e-4 if prec == "fp32" else 1e-2) and len(r["rel_l2"]) == len(names) and
                             all(t == io for t in r["output_dtypes"].values()))
            except Exception as e:
                r["error"] = str(e)[-600:]
            results.append(r)
            print(json.dumps(r), flush=True)

    with open(os.path.join(a.out, "gpu-accuracy.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
