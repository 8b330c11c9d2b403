#!/usr/bin/env python3
"""What the graph optimizer does to real exported models, measured in one run.

For ResNet-50 and BERT-base as torch_anchors.py exports them (TorchScript, opset 17), BERT-base at
opset 14 (LayerNorm/GELU decomposed) and ResNet-50 with BatchNormalization kept (bench/export_variants.py):
  - node counts of the ONNX model and layer counts after each pass (kiln build --report-json),
    with the ops that remain;
  - outputs of the optimized engine vs ONNX Runtime (fp32 relative L2, kiln compare);
  - CPU latency of the optimized vs the unoptimized engine (--passes none), same run, same threads.
Writes bench/results/optimizer-<date>.json and .md.

  bench/setup_bench.sh && .bench-venv/bin/python bench/export_variants.py
  .venv/bin/python bench/optimizer_bench.py [--threads N]
"""
import argparse
import datetime
import json
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "bench", ".models")
KILN = os.path.join(ROOT, os.environ.get("KILN_BUILD_DIR", "build"), "tools", "kiln")
BERT = "input_ids:1x128,attention_mask:1x128,token_type_ids:1x128"
CASES = {
    "resnet50 (opset 17, BN folded by the exporter)": ("resnet50.onnx", "input:1x3x224x224"),
    "resnet50-bn (BatchNormalization kept)": ("resnet50-bn.onnx", "input:1x3x224x224"),
    "bert-base (opset 17)": ("bert-base.onnx", BERT),
    "bert-base-opset14 (LayerNorm/GELU decomposed)": ("bert-base-opset14.onnx", BERT),
}


def kiln(*args):
    r = subprocess.run([KILN, *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"kiln {' '.join(map(str, args))}: {r.stderr}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--iterations", type=int, default=20)
    args = ap.parse_args()
    work = os.path.join(MODELS, "work")
    os.makedirs(work, exist_ok=True)
    results = {"date": datetime.date.today().isoformat(), "threads": args.threads, "cases": {}}
    for case, (model, shapes) in CASES.items():
        path = os.path.join(MODELS, model)
        if not os.path.exists(path):
            print(f"skip {case}: {path} missing (bench/export_variants.py)")
            continue
        rep = os.path.join(work, "report.json")
        opt = os.path.join(work, "opt.engine")
        base = os.path.join(work, "base.engine")
        kiln("build", path, "-o", opt, "--shapes", shapes, "--report-json", rep)
        with open(rep) as fh:
            report = json.load(fh)
        kiln("build", path, "-o", base, "--shapes", shapes, "--passes", "none")
        cmp = kiln("compare", path, "--shapes", shapes)
        rel = [float(x) for x in re.findall(r"\s([0-9.]+e[-+][0-9]+)\s+PASS|\s([0-9.]+e[-+][0-9]+)\s+FAIL", cmp) for x in x if x]
        lat = {}
        for name, eng in (("optimized", opt), ("unoptimized", base)):
            js = os.path.join(work, f"{name}.json")
            kiln("bench", eng, "--threads", args.threads, "--iterations", args.iterations, "--warmup", 3,
                 "--duration", 2, "--json", js)
            with open(js) as fh:
                lat[name] = json.load(fh)["latency_ms"]
        ops = report.get("layer_ops", {})
        results["cases"][case] = {
            "nodes_in_model": report["nodes_imported"], "layers": report["layers"], "passes": report["passes"],
            "layer_ops": ops, "relative_l2_vs_onnxruntime": rel, "compare_pass": "PASS: Kiln matches" in cmp,
            "latency_ms": lat, "speedup_optimized_vs_unoptimized": lat["unoptimized"]["median"] / lat["optimized"]["median"],
        }
        print(f"{case}: {report['nodes_imported']} nodes -> {report['layers']} layers; ops {ops}; "
              f"rel L2 vs ORT {rel}; median {lat['optimized']['median']:.2f} ms optimized vs "
              f"{lat['unoptimized']['median']:.2f} ms unoptimized", flush=True)
        for f in (opt, base):
            os.remove(f)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    out = os.path.join(ROOT, "bench", "results", f"optimizer-{results['date']}")
    with open(out + ".json", "w") as fh:
        json.dump(results, fh, indent=1)
    with open(out + ".md", "w") as fh:
        fh.write(f"# Graph optimizer on exported models ({results['date']}, CPU, {args.threads} threads)\n\n"
                 "| model | ONNX nodes | engine layers | BatchNorm left | FusedConv | Attention | LayerNorm | "
                 "rel L2 vs ORT (max) | median ms opt / unopt | speedup |\n|---|---|---|---|---|---|---|---|---|---|\n")
        for case, r in results["cases"].items():
            o = r["layer_ops"]
            fh.write(f"| {case} | {r['nodes_in_model']} | {r['layers']} | {o.get('BatchNormalization', 0)} | "
                     f"{o.get('FusedConv', 0)} (of {o.get('FusedConv', 0) + o.get('Conv', 0)} convs) | "
                     f"{o.get('Attention', 0)} | {o.get('LayerNormalization', 0)} | "
                     f"{max(r['relative_l2_vs_onnxruntime'] or [0]):.1e} | {r['latency_ms']['optimized']['median']:.2f} / "
                     f"{r['latency_ms']['unoptimized']['median']:.2f} | {r['speedup_optimized_vs_unoptimized']:.2f}x |\n")
    print(f"wrote {out}.json and {out}.md")


if __name__ == "__main__":
    main()
