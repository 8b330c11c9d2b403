#!/usr/bin/env python3
"""Brings a GPU-machine export home without its weights, to debug import/shape problems locally.

The GPU machine's PyTorch/transformers export graphs that this machine's old torch cannot; the
weights (hundreds of MiB) cannot travel back, the graph (a few hundred KiB) can.

  On the GPU machine:  bench/export_skeleton.py save --anchors torch_anchors.py --model bert-base --out DIR
      exports the model as bench/gpu_bench.py does and writes DIR/<model>.skeleton.onnx: the graph
      with every initializer over 1 KiB moved to an external file that is *not* kept.
  Here:                bench/export_skeleton.py fill DIR/<model>.skeleton.onnx
      recreates that external file as zeros of the right size (sparse), so the model loads and
      builds with Kiln (shapes and passes are real; the numbers are not); with --random, float
      weights are N(0, 0.02), so Kiln can be compared with ONNX Runtime on the real graph.
"""
import argparse, os, sys, tempfile


def save(a):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import onnx
    import gpu_bench
    with tempfile.TemporaryDirectory() as work:
        gpu_bench.export_models(a.anchors, [a.model], work, os.path.join(work, "log"))
        m = onnx.load(os.path.join(work, f"{a.model}.onnx"))
        os.makedirs(a.out, exist_ok=True)
        path = os.path.join(a.out, f"{a.model}.skeleton.onnx")
        onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=f"{a.model}.skeleton.weights", size_threshold=1024)
        os.remove(os.path.join(a.out, f"{a.model}.skeleton.weights"))
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def fill(a):
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data
    m = onnx.load(a.skeleton, load_external_data=False)
    end, location = 0, None
    for t in m.graph.initializer:
        if uses_external_data(t):
            info = ExternalDataInfo(t)
            location = info.location
            end = max(end, (info.offset or 0) + (info.length or 0))
    if location is None:
        print("no external data")
        return
    path = os.path.join(os.path.dirname(os.path.abspath(a.skeleton)), location)
    with open(path, "wb") as f:
        f.truncate(end)
        if a.random:
            # Floats N(0, 0.02) (BERT's init scale), everything else zeros (valid indices).
            import numpy as np
            from onnx import helper
            rng = np.random.default_rng(a.seed)
            for t in m.graph.initializer:
                if not uses_external_data(t):
                    continue
                info = ExternalDataInfo(t)
                dt = helper.tensor_dtype_to_np_dtype(t.data_type)
                if np.issubdtype(dt, np.floating):
                    n = int(np.prod(t.dims)) if len(t.dims) else 1
                    f.seek(info.offset or 0)
                    f.write((rng.standard_normal(n) * 0.02).astype(dt).tobytes())
    print(f"wrote {path}: {end} bytes ({'random floats' if a.random else 'zeros'})")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("save")
    s.add_argument("--anchors", required=True)
    s.add_argument("--model", default="bert-base")
    s.add_argument("--out", required=True)
    f = sub.add_parser("fill")
    f.add_argument("skeleton")
    f.add_argument("--random", action="store_true", help="float weights N(0, 0.02) instead of zeros")
    f.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    save(a) if a.cmd == "save" else fill(a)


if __name__ == "__main__":
    main()
