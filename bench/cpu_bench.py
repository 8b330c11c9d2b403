#!/usr/bin/env python3
"""Kiln vs ONNX Runtime on the CPU, side by side in one run.

Exports ResNet-50 and BERT-base with ../shared/bench/torch_anchors.py (once, into bench/.models),
builds Kiln engines, times Kiln (`kiln bench`) and ONNX Runtime (same threads, same shapes, same
kind of inputs) and writes bench/results/cpu-<date>.json plus a markdown table.

  bench/setup_bench.sh            # once: PyTorch + transformers for the export
  .venv/bin/python bench/cpu_bench.py [--threads N] [--cases resnet50-b1,bert-base-b1-s128]
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "bench", ".models")
KILN = os.path.join(ROOT, os.environ.get("KILN_BUILD_DIR", "build"), "tools", "kiln")
ANCHORS = os.path.join(ROOT, "..", "shared", "bench", "torch_anchors.py")

# name: (model file, {input: shape}, feed builder)
CASES = {
    "resnet50-b1": ("resnet50.onnx", {"input": [1, 3, 224, 224]}),
    "bert-base-b1-s128": ("bert-base.onnx", {"input_ids": [1, 128], "attention_mask": [1, 128],
                                             "token_type_ids": [1, 128]}),
}


def export_models():
    if os.path.exists(os.path.join(MODELS, "resnet50.onnx")) and os.path.exists(os.path.join(MODELS, "bert-base.onnx")):
        return
    py = os.path.join(ROOT, ".bench-venv", "bin", "python")
    if not os.path.exists(py):
        sys.exit("run bench/setup_bench.sh first (PyTorch and transformers export the models)")
    os.makedirs(MODELS, exist_ok=True)
    subprocess.run([py, ANCHORS, "export", MODELS], check=True)


def feeds(shapes):
    rng = np.random.default_rng(0)
    out = {}
    for name, shape in shapes.items():
        if name == "input":
            out[name] = rng.standard_normal(shape).astype(np.float32)
        elif name == "input_ids":
            out[name] = rng.integers(0, 30000, shape).astype(np.int64)
        elif name == "attention_mask":
            out[name] = np.ones(shape, np.int64)
        else:
            out[name] = np.zeros(shape, np.int64)
    return out


def stats(ms):
    ms = np.array(ms)
    return {"min": float(ms.min()), "median": float(np.median(ms)), "mean": float(ms.mean()),
            "p90": float(np.percentile(ms, 90)), "p99": float(np.percentile(ms, 99)), "max": float(ms.max()),
            "iterations": int(ms.size)}


def time_ort(path, shapes, threads, iters, warmup, duration):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    f = feeds(shapes)
    for _ in range(warmup):
        sess.run(None, f)
    ms, start = [], time.perf_counter()
    while len(ms) < iters or time.perf_counter() - start < duration:
        a = time.perf_counter()
        sess.run(None, f)
        ms.append((time.perf_counter() - a) * 1e3)
    return stats(ms), ort.__version__


def time_kiln(path, shapes, threads, iters, warmup, duration, workdir):
    engine = os.path.join(workdir, os.path.basename(path) + ".engine")
    shape_arg = ",".join(f"{k}:{'x'.join(map(str, v))}" for k, v in shapes.items())
    cache = os.path.join(workdir, "timing.cache")
    if os.path.exists(cache):
        os.remove(cache)  # a cold build: every tactic is timed
    t0 = time.perf_counter()
    subprocess.run([KILN, "build", path, "-o", engine, "--shapes", shape_arg, "--timing-cache", cache], check=True,
                   stdout=subprocess.DEVNULL)
    build_s = time.perf_counter() - t0
    js = os.path.join(workdir, "kiln.json")
    subprocess.run([KILN, "bench", engine, "--threads", str(threads), "--iterations", str(iters),
                    "--warmup", str(warmup), "--duration", str(duration), "--json", js], check=True,
                   stdout=subprocess.DEVNULL)
    with open(js) as fh:
        r = json.load(fh)
    lat = r["latency_ms"]
    lat["iterations"] = r["iterations"]
    load_s = r["load_seconds"]
    os.remove(engine)
    return lat, build_s, load_s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--duration", type=float, default=3.0)
    args = ap.parse_args()
    export_models()
    workdir = os.path.join(MODELS, "work")
    os.makedirs(workdir, exist_ok=True)
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(l.split(":", 1)[1].strip() for l in fh if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    kiln_version = subprocess.run([KILN, "--version"], capture_output=True, text=True).stdout.strip()
    results = {"date": datetime.date.today().isoformat(), "device": cpu, "threads": args.threads,
               "kiln": kiln_version, "cases": {}}
    rows = []
    for case in args.cases.split(","):
        model, shapes = CASES[case]
        path = os.path.join(MODELS, model)
        kiln, build_s, load_s = time_kiln(path, shapes, args.threads, args.iterations, args.warmup, args.duration, workdir)
        ort_stats, ort_version = time_ort(path, shapes, args.threads, args.iterations, args.warmup, args.duration)
        results["onnxruntime"] = ort_version
        ratio = kiln["median"] / ort_stats["median"]
        results["cases"][case] = {"kiln_ms": kiln, "onnxruntime_ms": ort_stats, "median_ratio_kiln_over_ort": ratio,
                                  "kiln_build_s": build_s, "kiln_load_s": load_s}
        rows.append((case, kiln, ort_stats, ratio))
        print(f"{case}: kiln median = {kiln['median']:.2f} ms (p99 {kiln['p99']:.2f}), onnxruntime median = "
              f"{ort_stats['median']:.2f} ms (p99 {ort_stats['p99']:.2f}); kiln/ort = {ratio:.2f}", flush=True)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    base = os.path.join(ROOT, "bench", "results", f"cpu-{results['date']}")
    with open(base + ".json", "w") as fh:
        json.dump(results, fh, indent=1)
    with open(base + ".md", "w") as fh:
        fh.write(f"# CPU: Kiln vs ONNX Runtime ({results['date']})\n\n{cpu}, {args.threads} threads; "
                 f"{kiln_version}, onnxruntime {results.get('onnxruntime')}\n\n"
                 "| case | Kiln median (p99) ms | ORT median (p99) ms | Kiln / ORT |\n|---|---|---|---|\n")
        for case, k, o, r in rows:
            fh.write(f"| {case} | {k['median']:.2f} ({k['p99']:.2f}) | {o['median']:.2f} ({o['p99']:.2f}) | {r:.2f} |\n")
    print(f"wrote {base}.json and {base}.md")


if __name__ == "__main__":
    main()
