"""Load test of `kiln serve` with perf_analyzer (loopback only, bounded in time).

Measures, on CPU models served from a temporary repository:
  1. throughput and p50/p99 latency at concurrency 1, 8 and 64 for models/tiny_cnn.onnx, with and
     without dynamic batching (perf_analyzer, HTTP, binary tensors);
  2. exact-once delivery: a Python client sends N requests with unique ids at concurrency 64;
     every one must be answered once, and the server's statistics must count the same number;
  3. HTTP overhead vs in-process execution: p50 end-to-end latency at concurrency 1 (HTTP+binary
     and HTTP+JSON) minus the engine's in-process median (`kiln bench`, same engine file, batch 1).

Writes bench/results/serve-<date>.json and .md. Usage:
  .venv/bin/python bench/serve_load.py [--kiln build/tools/kiln] [--window-ms 1500] [--cpu-threads 1]
"""
import argparse
import csv
import datetime
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "serve"))
from conftest import KilnServer, add_sub_model, _save  # noqa: E402

# Optimization level 2 picks tactics by heuristics: on a shared machine, timed tactic selection
# (the default, level 3) can pick differently from run to run and blur the comparison.
CONFIG = """max_batch_size: {mbs}
input [ {{ name: "{inp}" data_type: TYPE_FP32 dims: [ {dims} ] }} ]
instance_group [ {{ count: {instances} kind: KIND_CPU }} ]
parameters {{ key: "optimization_level" value: {{ string_value: "2" }} }}
{batching}
"""


def cpu_name():
    # Virtual machines often report a bare "AMD EPYC": add the family (26 = Zen 5) to place it.
    info = {}
    try:
        for line in open("/proc/cpuinfo"):
            k, _, v = line.partition(":")
            info.setdefault(k.strip(), v.strip())
    except OSError:
        return platform.processor() or "unknown"
    name = info.get("model name", "unknown")
    if "cpu family" in info:
        name += f" (family {info['cpu family']}, model {info.get('model', '?')})"
    return name


def make_repo(repo):
    for name, batching in (("cnn_plain", ""), ("cnn_batched", "dynamic_batching { max_queue_delay_microseconds: 500 }")):
        (repo / name / "1").mkdir(parents=True)
        shutil.copy(ROOT / "models" / "tiny_cnn.onnx", repo / name / "1" / "model.onnx")
        (repo / name / "config.pbtxt").write_text(CONFIG.format(mbs=64, inp="image", dims="3, 32, 32", instances=1,
                                                                batching=batching))
    # The small model of the overhead measurement: two 16-wide inputs, add and subtract.
    _save(add_sub_model(), repo / "small" / "1" / "model.onnx")
    (repo / "small" / "config.pbtxt").write_text(
        'max_batch_size: 8\ninstance_group [ { count: 1 kind: KIND_CPU } ]\n'
        'parameters { key: "optimization_level" value: { string_value: "2" } }\n')


def perf_analyzer(url, model, concurrency, window_ms, fmt="binary", timeout=180):
    out = tempfile.NamedTemporaryFile(suffix=".csv", delete=False).name
    cmd = [str(ROOT / ".venv" / "bin" / "perf_analyzer"), "-m", model, "-u", url, "-i", "http",
           "--concurrency-range", f"{concurrency}:{concurrency}", "-p", str(window_ms), "-s", "30", "-r", "8",
           "--max-threads", str(max(4, concurrency)), "-f", out,
           "--input-tensor-format", fmt, "--output-tensor-format", fmt]
    if fmt == "json":
        cmd += ["--input-data", "zero"]  # random bytes as floats include NaN, which JSON cannot carry
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    rows = list(csv.DictReader(open(out))) if os.path.getsize(out) else []
    os.unlink(out)
    if p.returncode != 0 or not rows:
        # Unstable windows on a busy machine still report the last measurement in stdout.
        return {"error": (p.stdout + p.stderr)[-600:]}
    r = rows[0]
    return {
        "throughput": float(r["Inferences/Second"]),
        "p50_us": int(r["p50 latency"]), "p99_us": int(r["p99 latency"]),
        "server_queue_us": int(r["Server Queue"]), "server_compute_infer_us": int(r["Server Compute Infer"]),
        "server_compute_input_us": int(r["Server Compute Input"]),
        "server_compute_output_us": int(r["Server Compute Output"]),
        "network_server_send_recv_us": int(r["Network+Server Send/Recv"]),
        "client_send_us": int(r["Client Send"]), "client_recv_us": int(r["Client Recv"]),
    }


def stats(server, model):
    import tritonclient.http as th
    s = th.InferenceServerClient(server.http_url).get_inference_statistics(model)["model_stats"][0]
    return {"success": s["inference_stats"]["success"]["count"], "fail": s["inference_stats"]["fail"]["count"],
            "inference_count": s["inference_count"], "execution_count": s["execution_count"]}


def exact_once(server, model, n, concurrency):
    import tritonclient.http as th
    before = stats(server, model)
    seen, errors = {}, []
    lock = threading.Lock()
    local = threading.local()

    def one(k):
        if not hasattr(local, "c"):
            local.c = th.InferenceServerClient(server.http_url)
        x = np.full((1, 3, 32, 32), k % 7, np.float32)
        i = th.InferInput("image", [1, 3, 32, 32], "FP32")
        i.set_data_from_numpy(x)
        try:
            rid = local.c.infer(model, [i], request_id=f"q{k}").get_response()["id"]
        except Exception as e:  # an error answer is still an answer; count it
            with lock:
                errors.append(str(e))
            return
        with lock:
            seen[rid] = seen.get(rid, 0) + 1

    t0 = time.time()
    with ThreadPoolExecutor(concurrency) as ex:
        list(ex.map(one, range(n)))
    after = stats(server, model)
    answered = sum(seen.values()) + len(errors)
    return {"model": model, "sent": n, "answered": answered, "errors": len(errors),
            "answered_twice": sum(1 for v in seen.values() if v > 1),
            "missing_ids": n - len(errors) - len(seen),
            "server_success_delta": after["success"] - before["success"],
            "server_fail_delta": after["fail"] - before["fail"],
            "executions": after["execution_count"] - before["execution_count"],
            "ok": answered == n and not errors and all(v == 1 for v in seen.values())
            and after["success"] - before["success"] == n,
            "seconds": round(time.time() - t0, 2)}


def engine_median_us(kiln, engine, shapes, threads):
    js = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
    cmd = [kiln, "bench", engine, "--shapes", shapes, "--duration", "3", "--warmup", "50", "--json", js]
    if threads:
        cmd += ["--threads", str(threads)]
    subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    try:
        j = json.load(open(js))
    except (OSError, ValueError):
        return None
    finally:
        os.unlink(js)
    return round(j["latency_ms"]["median"] * 1000, 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default=os.environ.get("KILN_BIN", str(ROOT / "build" / "tools" / "kiln")))
    ap.add_argument("--window-ms", type=int, default=1500)
    ap.add_argument("--cpu-threads", type=int, default=0, help="kiln serve --cpu-threads (0: default)")
    ap.add_argument("--requests", type=int, default=3000, help="exact-once check: requests to send")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kiln-serve-load-"))
    repo = tmp / "models"
    make_repo(repo)
    extra = [f"--cpu-threads={args.cpu_threads}"] if args.cpu_threads else []
    server = KilnServer(args.kiln, repo, ["--log-verbose=0", *extra])
    url = server.http_url
    result = {"date": datetime.date.today().isoformat(), "cpu": cpu_name(), "cores": os.cpu_count(),
              "loadavg_at_start": os.getloadavg(), "kiln": args.kiln, "window_ms": args.window_ms,
              "cpu_threads": args.cpu_threads or "default", "load": [], "overhead": {}, "exact_once": None}
    try:
        for model in ("cnn_plain", "cnn_batched"):
            for c in (1, 8, 64):
                before = stats(server, model)
                r = perf_analyzer(url, model, c, args.window_ms)
                after = stats(server, model)
                r.update({"model": model, "dynamic_batching": model == "cnn_batched", "concurrency": c,
                          "server_success": after["success"] - before["success"],
                          "server_fail": after["fail"] - before["fail"],
                          "avg_batch": round((after["inference_count"] - before["inference_count"]) /
                                             max(1, after["execution_count"] - before["execution_count"]), 2)})
                print(json.dumps(r), flush=True)
                result["load"].append(r)
        result["exact_once"] = exact_once(server, "cnn_batched", args.requests, 64)
        print(json.dumps(result["exact_once"]), flush=True)

        # Overhead: the same engine files the server uses, in process, batch 1.
        for model, shapes, fmts in (("small", "INPUT0:1x16,INPUT1:1x16", ("binary", "json")),
                                    ("cnn_plain", "image:1x3x32x32", ("binary", "json"))):
            engine = sorted(glob.glob(str(repo / ".kiln-cache" / f"{model}-*.engine")))[0]
            eng = engine_median_us(args.kiln, engine, shapes, args.cpu_threads)
            row = {"engine_in_process_p50_us": eng}
            for f in fmts:
                r = perf_analyzer(url, model, 1, args.window_ms, fmt=f)
                row[f] = r
                if "p50_us" in r and eng is not None:
                    row[f"{f}_overhead_p50_us"] = round(r["p50_us"] - eng, 1)
            print(model, json.dumps(row), flush=True)
            result["overhead"][model] = row
    finally:
        result["server_exit_code"] = server.stop()
        result["loadavg_at_end"] = os.getloadavg()
        shutil.rmtree(tmp, ignore_errors=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"serve-{result['date']}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2))
    stem.with_suffix(".md").write_text(markdown(result))
    print(f"wrote {stem}.json and {stem}.md")


def markdown(r):
    lines = [f"# kiln serve load test ({r['date']})", "",
             f"CPU: {r['cpu']} ({r['cores']} cores, shared; load average at start "
             f"{r['loadavg_at_start'][0]:.1f}), perf_analyzer over HTTP on loopback, binary tensors, "
             f"{r['window_ms']} ms windows. Model: models/tiny_cnn.onnx (batch 1 per request), 1 instance, "
             f"--cpu-threads {r['cpu_threads']}, engines built at optimization level 2.", "",
             "| dynamic batching | concurrency | infer/s | p50 (us) | p99 (us) | avg batch | server ok / failed |",
             "|---|---|---|---|---|---|---|"]
    for x in r["load"]:
        if "error" in x:
            lines.append(f"| {'on' if x['dynamic_batching'] else 'off'} | {x['concurrency']} | (unstable: see JSON) "
                         f"| | | {x['avg_batch']} | {x['server_success']} / {x['server_fail']} |")
            continue
        lines.append(f"| {'on' if x['dynamic_batching'] else 'off'} | {x['concurrency']} | {x['throughput']:.0f} | "
                     f"{x['p50_us']} | {x['p99_us']} | {x['avg_batch']} | {x['server_success']} / {x['server_fail']} |")
    by = {(x["model"], x["concurrency"]): x for x in r["load"] if "throughput" in x}
    if ("cnn_batched", 1) in by and ("cnn_batched", 64) in by:
        lines += ["", f"Batching on: throughput at concurrency 64 is "
                      f"{by[('cnn_batched', 64)]['throughput'] / by[('cnn_batched', 1)]['throughput']:.1f}x concurrency 1's."]
    e = r["exact_once"]
    if e:
        lines += ["", f"Exact-once: {e['sent']} requests at concurrency 64 with unique ids: {e['answered']} answered, "
                      f"{e['answered_twice']} twice, {e['missing_ids']} missing, {e['errors']} errors; server counted "
                      f"{e['server_success_delta']} successes ({'OK' if e['ok'] else 'MISMATCH'})."]
    lines += ["", "Overhead vs in-process execution (concurrency 1, p50):", "",
              "| model | engine in process | HTTP+binary e2e | overhead | HTTP+JSON e2e | overhead |", "|---|---|---|---|---|---|"]
    for m, o in r["overhead"].items():
        def cell(f):
            x = o.get(f, {})
            return (f"{x['p50_us']} us", f"{o.get(f + '_overhead_p50_us')} us") if "p50_us" in x else ("unstable", "")
        b, j = cell("binary"), cell("json")
        lines.append(f"| {m} | {o['engine_in_process_p50_us']} us | {b[0]} | {b[1]} | {j[0]} | {j[1]} |")
    if r["loadavg_at_start"][0] > r["cores"]:
        lines += ["", f"Note: the machine was shared with other jobs (load average {r['loadavg_at_start'][0]:.1f} at the "
                      f"start, {r['loadavg_at_end'][0]:.1f} at the end, on {r['cores']} cores). The engine's own execution "
                      "time spikes under such load (`server_compute_infer_us` in the JSON), so absolute numbers are noisy "
                      "and a row can be dominated by a burst of other work."]
    lines += ["", "Overhead = client-observed p50 (perf_analyzer, includes its own client time and loopback) minus "
                  "the engine's in-process median (`kiln bench`, same engine file). Reproduce: "
                  "`.venv/bin/python bench/serve_load.py`."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
