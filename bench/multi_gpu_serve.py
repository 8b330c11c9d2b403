#!/usr/bin/env python3
"""Multi-GPU serving on one host (issue: multi-GPU serving), in one GPU-machine call.

  bench/multi_gpu_serve.py --kiln KILN --perf-analyzer PA --anchors torch_anchors.py --out DIR [--gpus 2]

1. exports ResNet-50, or BERT-base with --model bert-base (torch_anchors.py's builders: random
   weights, fixed seed) with a dynamic batch;
2. `kiln bench --devices 0` vs `--devices 0,1,...` on a fixed-batch fp16 engine (one engine copy
   per GPU, --streams contexts each): the engine-level scaling;
3. `kiln serve` with a KIND_GPU instance group (count 1, precision fp16) on GPU 0 only, then on
   every GPU; perf_analyzer drives each at a concurrency sweep (N per GPU), once with dynamic
   batching and once without (each request runs alone at batch 1); inputs travel as HTTP binary
   tensors, or through system shared memory with --shared-memory system; before measuring, each
   server gets --warmup x (top concurrency) requests so every context has met the batch sizes
   the batcher forms;
4. exactly-once: a client sends unique-id requests at high concurrency to the all-GPU server; each
   must be answered once, and the server's statistics must count the same number;
5. per-GPU metrics: nv_gpu_utilization / nv_gpu_memory_used_bytes per gpu_uuid scraped under load.
Writes DIR/multi-gpu[-MODEL]-<date>.json and .md (throughput ratio all-GPU / one-GPU at the same p99 bound).
Needs no tritonclient (plain http.client), so it runs with the GPU machine's Python.
A dry run of the whole flow without a GPU: --kind KIND_CPU --onnx <an export of --model> --skip-bench.
"""
import argparse, csv, datetime, http.client, json, os, pathlib, re, shutil, subprocess, sys, tempfile, threading, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CONFIG = """max_batch_size: {mbs}
{io}
instance_group [ {{ count: 1 kind: {kind} {gpus} }} ]
parameters {{ key: "precision" value: {{ string_value: "fp16" }} }}
{batching}
"""

# The served models: config I/O, the inputs of one request (name, datatype, dims without the
# batch), outputs, kiln bench's --shapes and extra perf_analyzer arguments. BERT's sequence is
# fixed at 128 (its attention runs the cuDNN or flash tactic: the multi-GPU run with a
# transformer); perf_analyzer sends zeros (random int64 ids would fall outside the vocabulary).
MODELS = {
    "resnet50": {
        "io": 'input [ { name: "input" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] } ]\n'
              'output [ { name: "logits" data_type: TYPE_FP32 dims: [ 1000 ] } ]',
        "inputs": [("input", "FP32", [3, 224, 224])],
        "outputs": ["logits"],
        "bench_shapes": "input:32x3x224x224",
        "pa_args": [],
    },
    "bert-base": {
        "io": "input [ " + ", ".join(f'{{ name: "{n}" data_type: TYPE_INT64 dims: [ 128 ] }}'
                                    for n in ("input_ids", "attention_mask", "token_type_ids")) + " ]\n"
              'output [ { name: "last_hidden_state" data_type: TYPE_FP32 dims: [ 128, 768 ] }, '
              '{ name: "pooler_output" data_type: TYPE_FP32 dims: [ 768 ] } ]',
        "inputs": [("input_ids", "INT64", [128]), ("attention_mask", "INT64", [128]), ("token_type_ids", "INT64", [128])],
        "outputs": ["last_hidden_state", "pooler_output"],
        "bench_shapes": "input_ids:32x128,attention_mask:32x128,token_type_ids:32x128",
        "pa_args": ["--input-data", "zero"],
    },
}


def request_bytes(model):
    """One request's inputs as (name, datatype, shape, bytes): ResNet random normal, BERT random ids,
    a full attention mask and token type 0."""
    import numpy as np
    rng = np.random.default_rng(0)
    out = []
    for name, dt, dims in MODELS[model]["inputs"]:
        shape = [1] + dims
        if dt == "FP32":
            arr = rng.standard_normal(shape, dtype=np.float32)
        elif name == "input_ids":
            arr = rng.integers(1000, 30000, shape, dtype=np.int64)
        elif name == "attention_mask":
            arr = np.ones(shape, dtype=np.int64)
        else:
            arr = np.zeros(shape, dtype=np.int64)
        out.append((name, dt, shape, arr.tobytes()))
    return out


def log(msg, path):
    with open(path, "a") as f:
        f.write(msg + "\n")
    print(msg, flush=True)


class Server:
    def __init__(self, kiln, repo, cache, logpath, timeout=600):
        self.logf = open(logpath, "ab")
        self.proc = subprocess.Popen([kiln, "serve", f"--model-repository={repo}", "--http-port=0", "--grpc-port=0",
                                      "--metrics-port=0", f"--engine-cache-dir={cache}", "--http-thread-count=16"],
                                     stdout=subprocess.PIPE, stderr=self.logf, text=True)
        self.http = self.metrics = None
        deadline = time.time() + 30
        lines = []
        while time.time() < deadline and not (self.http and self.metrics):
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.match(r"(HTTP|gRPC|metrics) listening on [^:]+:(\d+)", line)
            if m and m.group(1) == "HTTP":
                self.http = int(m.group(2))
            if m and m.group(1) == "metrics":
                self.metrics = int(m.group(2))
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        if not self.http:
            self.stop()
            raise RuntimeError("kiln serve printed no ports: " + "".join(lines))
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kiln serve exited {self.proc.returncode}")
            try:
                if self.get("/v2/health/ready")[0] == 200:
                    self.ready_s = time.time() - t0
                    return
                # A model that failed to load never becomes ready: stop waiting at once.
                c = http.client.HTTPConnection("127.0.0.1", self.http, timeout=30)
                c.request("POST", "/v2/repository/index", body=b"{}")
                index = json.loads(c.getresponse().read() or b"[]")
                bad = [m for m in index if m.get("state") == "UNAVAILABLE"]
                if bad:
                    self.stop()
                    raise RuntimeError(f"model failed to load: {bad}")
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("kiln serve not ready")

    def get(self, path, port=None):
        c = http.client.HTTPConnection("127.0.0.1", port or self.http, timeout=30)
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()

    def stats(self, model):
        s = json.loads(self.get(f"/v2/models/{model}/stats")[1])["model_stats"][0]
        return {"success": s["inference_stats"]["success"]["count"], "fail": s["inference_stats"]["fail"]["count"],
                "inference_count": s["inference_count"], "execution_count": s["execution_count"]}

    def gpu_metrics(self):
        text = self.get("/metrics", self.metrics)[1].decode()
        out = {}
        for line in text.splitlines():
            m = re.match(r'(nv_gpu_utilization|nv_gpu_memory_used_bytes)\{gpu_uuid="([^"]+)"\} (\S+)', line)
            if m:
                out.setdefault(m.group(2), {})[m.group(1)] = float(m.group(3))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


def perf_analyzer(pa, port, model, conc, window_ms, shm, logpath, timeout=90, extra=()):
    out = tempfile.NamedTemporaryFile(suffix=".csv", delete=False).name
    cmd = [pa, "-m", model, "-u", f"127.0.0.1:{port}", "-i", "http", "--concurrency-range", f"{conc}:{conc}",
           "-p", str(window_ms), "-s", "60", "-r", "8", "--max-threads", str(max(8, conc)), "-f", out,
           "--input-tensor-format", "binary", "--output-tensor-format", "binary", "-v"]
    if shm != "none":
        cmd += ["--shared-memory", shm]
    cmd += list(extra)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": "perf_analyzer timed out"}
    with open(logpath, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n" + p.stdout[-3000:] + p.stderr[-2000:] + "\n")
    rows = list(csv.DictReader(open(out))) if os.path.getsize(out) else []
    os.unlink(out)
    if p.returncode != 0 or not rows:
        # No stable measurement: report the median of the last three windows, marked unstable.
        passes = [(float(t), int(l)) for t, l in
                  re.findall(r"Pass \[\d+\] throughput: ([\d.]+) infer/sec\. .*?p99 latency: (\d+) usec", p.stdout)]
        if len(passes) >= 3:
            last = passes[-3:]
            return {"concurrency": conc, "throughput": sorted(t for t, _ in last)[1],
                    "p50_us": None, "p99_us": sorted(l for _, l in last)[1], "unstable": True}
        return {"error": (p.stdout + p.stderr)[-400:]}
    r = rows[0]
    return {"concurrency": conc, "throughput": float(r["Inferences/Second"]), "p50_us": int(r["p50 latency"]),
            "p99_us": int(r["p99 latency"]), "server_queue_us": int(r["Server Queue"]),
            "server_compute_infer_us": int(r["Server Compute Infer"]),
            "server_compute_input_us": int(r["Server Compute Input"])}


def exact_once(port, model, n, conc, served=None):
    """n binary-extension requests with unique ids at `conc` in flight; counts the answers per id.
    `served`: the MODELS key of the model (default: `model`)."""
    spec = MODELS[served or model]
    ins = request_bytes(served or model)
    body_in = b"".join(x for _, _, _, x in ins)
    seen, errors, lock, local = {}, [], threading.Lock(), threading.local()

    def one(k):
        if not hasattr(local, "c"):
            local.c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        hdr = json.dumps({"id": f"q{k}",
                          "inputs": [{"name": nm, "shape": shp, "datatype": dt, "parameters": {"binary_data_size": len(x)}}
                                     for nm, dt, shp, x in ins],
                          "outputs": [{"name": o, "parameters": {"binary_data": True}} for o in spec["outputs"]]}).encode()
        try:
            local.c.request("POST", f"/v2/models/{model}/infer", body=hdr + body_in,
                            headers={"Inference-Header-Content-Length": str(len(hdr)),
                                     "Content-Type": "application/octet-stream"})
            r = local.c.getresponse()
            body = r.read()
            if r.status != 200:
                raise RuntimeError(f"HTTP {r.status}: {body[:200]!r}")
            jl = int(r.getheader("Inference-Header-Content-Length", len(body)))
            rid = json.loads(body[:jl])["id"]
        except Exception as e:  # an error answer is still an answer; count it
            local.c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            with lock:
                errors.append(str(e)[:200])
            return
        with lock:
            seen[rid] = seen.get(rid, 0) + 1

    t0 = time.time()
    with ThreadPoolExecutor(conc) as ex:
        list(ex.map(one, range(n)))
    return {"sent": n, "answered_once": sum(1 for v in seen.values() if v == 1),
            "answered_twice_or_more": sum(1 for v in seen.values() if v > 1), "errors": len(errors),
            "error_sample": errors[:3], "seconds": round(time.time() - t0, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--perf-analyzer", required=True)
    ap.add_argument("--anchors", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--gpus", type=int, default=2)
    ap.add_argument("--per-gpu-conc", default="4,8,12,16,24", help="perf_analyzer concurrency per GPU (batching)")
    ap.add_argument("--single-conc", default="1,2,3,4", help="perf_analyzer concurrency per GPU without batching")
    ap.add_argument("--window-ms", type=int, default=2000)
    ap.add_argument("--shared-memory", default="none", choices=["none", "system"])
    ap.add_argument("--exact-once", type=int, default=2000)
    ap.add_argument("--skip-bench", action="store_true")
    ap.add_argument("--modes", default="batching,single", help="serving modes to run (batching, single)")
    ap.add_argument("--warmup", type=int, default=16,
                    help="warm-up requests per unit of the top concurrency before measuring (0: none)")
    ap.add_argument("--model", default="resnet50", choices=sorted(MODELS), help="the served model")
    ap.add_argument("--onnx", help="use this export of --model instead of exporting one")
    ap.add_argument("--kind", default="KIND_GPU", help="instance kind (KIND_CPU for a dry run without a GPU)")
    a = ap.parse_args()
    out = Path(a.out)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    logpath = str(out / "multi_gpu.log")
    if a.onnx:  # a local dry run of the whole flow (e.g. --kind KIND_CPU on a machine without a GPU)
        onnx = Path(a.onnx).resolve()
    else:
        import gpu_bench
        gpu_bench.export_models(a.anchors, [a.model], str(work), logpath)
        onnx = work / f"{a.model}.onnx"
    smi = shutil.which("nvidia-smi")
    gpu = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], stdout=subprocess.PIPE,
                         text=True).stdout.strip().splitlines() if smi else []
    res = {"gpu": gpu, "date": datetime.date.today().isoformat(), "shared_memory": a.shared_memory}
    all_gpus = ",".join(str(i) for i in range(a.gpus))

    # 2. engine-level scaling with kiln bench --devices
    if not a.skip_bench:
        eng = work / f"{a.model}-b32.engine"
        p = subprocess.run([a.kiln, "build", str(onnx), "-o", str(eng), "--target", "cuda", "--fp16", "--shapes",
                            MODELS[a.model]["bench_shapes"]], capture_output=True, text=True, timeout=600)
        log(p.stdout[-500:] + p.stderr[-500:], logpath)
        bench = {}
        for devs in ["0", all_gpus]:
            j = work / f"bench-{devs}.json"
            p = subprocess.run([a.kiln, "bench", str(eng), "--devices", devs, "--streams", "2", "--duration", "3",
                                "--json", str(j)], capture_output=True, text=True, timeout=300)
            log(p.stdout[-1500:] + p.stderr[-500:], logpath)
            if j.exists():
                bench[devs] = json.load(open(j))
        res["kiln_bench_devices"] = bench

    # 3. serving: one GPU vs all GPUs, with and without dynamic batching
    cache = work / "engine-cache"
    name = a.model
    res["model"] = name
    res["serve"] = {}
    for mode in a.modes.split(","):
        for devs in ["0", all_gpus]:
            ngpu = len(devs.split(","))
            repo = work / f"repo-{mode}-{ngpu}"
            shutil.rmtree(repo, ignore_errors=True)
            (repo / name / "1").mkdir(parents=True)
            # The server refuses files that resolve outside the repository (symlinks out of it).
            # Large exports (BERT) keep their weights in external data files named in the model,
            # which must sit beside it under their own names.
            files = [(pathlib.Path(onnx), "model.onnx")]
            files += [(f, f.name) for f in pathlib.Path(onnx).parent.glob(pathlib.Path(onnx).name + ".data")]
            for src, dst in files:
                try:
                    os.link(src, repo / name / "1" / dst)
                except OSError:
                    shutil.copy(src, repo / name / "1" / dst)
            batching = "dynamic_batching { max_queue_delay_microseconds: 200 }" if mode == "batching" else ""
            (repo / name / "config.pbtxt").write_text(CONFIG.format(mbs=32, io=MODELS[name]["io"], kind=a.kind, gpus=f"gpus: [ {devs} ]" if a.kind == "KIND_GPU" else "",
                                                                 batching=batching))
            key = f"{mode}-{ngpu}gpu"
            try:
                srv = Server(a.kiln, repo, cache, str(out / f"serve-{key}.log"))
            except RuntimeError as e:
                res["serve"][key] = {"error": str(e)[:500]}
                log(f"{key}: {e}", logpath)
                continue
            entry = {"ready_s": round(srv.ready_s, 1), "runs": []}
            concs = [c * ngpu for c in map(int, (a.per_gpu_conc if mode == "batching" else a.single_conc).split(","))]
            if a.warmup:
                # Steady state: each context meets every batch size the batcher forms once (cuDNN
                # describes a new shape the first time) before anything is measured.
                w = exact_once(srv.http, name, a.warmup * max(concs), max(concs))
                entry["warmup"] = {k: w[k] for k in ("sent", "errors", "seconds")}
                log(f"{key} warm-up: {json.dumps(entry['warmup'])}", logpath)
            for c in concs:
                r = perf_analyzer(a.perf_analyzer, srv.http, name, c, a.window_ms, a.shared_memory, logpath,
                                  extra=MODELS[name]["pa_args"])
                r["concurrency"] = c
                entry["runs"].append(r)
                log(f"{key} c{c}: {json.dumps(r)}", logpath)
                if c == concs[-1]:
                    entry["gpu_metrics_under_load"] = srv.gpu_metrics()
            if mode == "batching" and ngpu > 1 and a.exact_once:
                before = srv.stats(name)
                eo = exact_once(srv.http, name, a.exact_once, 64)
                after = srv.stats(name)
                eo["server_success_delta"] = after["success"] - before["success"]
                eo["server_fail_delta"] = after["fail"] - before["fail"]
                entry["exact_once"] = eo
                log(f"exact-once: {json.dumps(eo)}", logpath)
            srv.stop()
            res["serve"][key] = entry

    # Ratio at the same p99 bound: for each one-GPU point, the best all-GPU throughput whose p99 is
    # no higher.
    ratios = []
    for mode in ["batching", "single"]:
        one = res["serve"].get(f"{mode}-1gpu", {}).get("runs", [])
        many = res["serve"].get(f"{mode}-{a.gpus}gpu", {}).get("runs", [])
        for r1 in one:
            if "throughput" not in r1:
                continue
            ok = [r for r in many if "throughput" in r and r["p99_us"] <= r1["p99_us"]]
            if ok:
                best = max(ok, key=lambda r: r["throughput"])
                ratios.append({"mode": mode, "one_gpu_conc": r1["concurrency"], "p99_bound_us": r1["p99_us"],
                               "one_gpu_throughput": r1["throughput"], "all_gpu_conc": best["concurrency"],
                               "all_gpu_throughput": best["throughput"], "all_gpu_p99_us": best["p99_us"],
                               "ratio": best["throughput"] / r1["throughput"]})
    res["ratios_same_p99"] = ratios
    date = res["date"]
    tag = "" if name == "resnet50" else f"-{name}"
    with open(out / f"multi-gpu{tag}-{date}.json", "w") as f:
        json.dump(res, f, indent=1)
    lines = [f"# Multi-GPU serving, {a.gpus} x {gpu[0] if gpu else '?'} ({date})", "",
             f"{a.model} fp16 ({a.kind}, count 1 per GPU), perf_analyzer HTTP binary tensors"
             f"{', system shared memory' if a.shared_memory == 'system' else ''}, loopback.", "",
             "| mode | GPUs | concurrency | infer/s | p50 ms | p99 ms |", "|---|---|---|---|---|---|"]
    for key, e in res["serve"].items():
        for r in e.get("runs", []):
            if "throughput" in r:
                lines.append(f"| {key.split('-')[0]} | {key.split('-')[1]} | {r['concurrency']} | {r['throughput']:.0f} | "
                             f"{(r['p50_us'] or 0) / 1e3:.2f} | {r['p99_us'] / 1e3:.2f}{' (unstable)' if r.get('unstable') else ''} |")
            else:
                lines.append(f"| {key} | | {r.get('concurrency')} | error: {r.get('error', '')[:80]} | | |")
    lines += ["", "| mode | one-GPU conc | p99 bound ms | one GPU infer/s | all GPUs infer/s (conc) | ratio |",
              "|---|---|---|---|---|---|"]
    for r in ratios:
        lines.append(f"| {r['mode']} | {r['one_gpu_conc']} | {r['p99_bound_us'] / 1e3:.2f} | {r['one_gpu_throughput']:.0f} | "
                     f"{r['all_gpu_throughput']:.0f} ({r['all_gpu_conc']}) | {r['ratio']:.2f} |")
    md = "\n".join(lines) + "\n"
    (out / f"multi-gpu{tag}-{date}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
