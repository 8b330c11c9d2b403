#!/usr/bin/env python3
"""Soak test of `kiln serve`: steady moderate load for a long time, watching the server's memory.

Starts `kiln serve` on loopback (free ports) with a temporary repository holding
models/tiny_cnn.onnx (dynamic batching on), sends inference requests from tritonclient threads at
a fixed total rate, samples the server's resident set size (RSS, /proc/<pid>/status) every few
seconds, and reports:

  - RSS at start (idle, models loaded), at the baseline (after a warm-up under load, when pools
    and caches have reached their working size), at the end, and the maximum;
  - whether RSS stayed within 10% of the baseline for the rest of the run ("flat");
  - requests sent vs answered (OK + error) by the client, and the server's own success/failure
    counters from /metrics, so a lost or doubly answered request shows up.

Results go to bench/results/serve-soak-<date>.json and .md. Run from the repository root:

  .venv/bin/python bench/serve_soak.py                      # 10 minutes, gRPC, 100 req/s
  .venv/bin/python bench/serve_soak.py --duration 60 --protocol http
"""
import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"Model name:\s*(.+)", out)
        if m:
            return m.group(1).strip()
    except OSError:
        pass
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def make_repository(path, max_batch):
    model = os.path.join(path, "tiny_cnn")
    os.makedirs(os.path.join(model, "1"))
    shutil.copy(os.path.join(ROOT, "models", "tiny_cnn.onnx"), os.path.join(model, "1", "model.onnx"))
    with open(os.path.join(model, "config.pbtxt"), "w") as f:
        f.write(
            'name: "tiny_cnn"\n'
            f"max_batch_size: {max_batch}\n"
            'input [ { name: "image" data_type: TYPE_FP32 dims: [ 3, 32, 32 ] } ]\n'
            'output [ { name: "probs" data_type: TYPE_FP32 dims: [ 10 ] } ]\n'
            "instance_group [ { count: 1 kind: KIND_CPU } ]\n"
            "dynamic_batching { max_queue_delay_microseconds: 500 }\n"
        )


def wait_ready(http_port, proc, timeout, log_path):
    """Returns once the server is ready; raises (with the server's log) if it exits, a model fails
    to load, or `timeout` passes."""
    deadline = time.time() + timeout
    base = f"http://127.0.0.1:{http_port}"

    def log_tail():
        with open(log_path) as f:
            return "".join(f.readlines()[-20:])

    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kiln serve exited with code {proc.returncode} before it was ready:\n{log_tail()}")
        try:
            with urllib.request.urlopen(base + "/v2/health/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        try:  # a model that failed to load never becomes ready: stop waiting at once
            req = urllib.request.Request(base + "/v2/repository/index", data=b"{}", method="POST")
            with urllib.request.urlopen(req, timeout=1) as r:
                failed = [m for m in json.load(r) if m.get("state") == "UNAVAILABLE"]
            if failed:
                raise RuntimeError(f"model failed to load: {failed}\n{log_tail()}")
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"kiln serve was not ready after {timeout} s:\n{log_tail()}")


def scrape(metrics_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    totals = {}
    for line in text.splitlines():
        m = re.match(r'^(nv_inference_request_success|nv_inference_request_failure|nv_inference_count|'
                     r'nv_inference_exec_count)\{([^}]*)\} ([0-9.eE+-]+)$', line)
        if m and 'model="tiny_cnn"' in m.group(2):
            totals[m.group(1)] = totals.get(m.group(1), 0) + float(m.group(3))
    return totals


class Load:
    """Worker threads, each with its own client, sharing a total request rate."""

    def __init__(self, protocol, url, threads, rate, batch):
        self.protocol, self.url, self.threads, self.batch = protocol, url, threads, batch
        self.interval = threads / rate if rate > 0 else 0.0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.sent = self.ok = self.errors = 0
        self.error_samples = []
        self.latencies_ms = []
        self.workers = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]

    def start(self):
        for w in self.workers:
            w.start()

    def join(self):
        self.stop.set()
        for w in self.workers:
            w.join(timeout=60)

    def run(self, index):
        if self.protocol == "grpc":
            import tritonclient.grpc as tc
        else:
            import tritonclient.http as tc
        client = tc.InferenceServerClient(self.url)
        x = np.random.default_rng(index).standard_normal((self.batch, 3, 32, 32)).astype(np.float32)
        inp = tc.InferInput("image", list(x.shape), "FP32")
        if self.protocol == "grpc":
            inp.set_data_from_numpy(x)
        else:
            inp.set_data_from_numpy(x, binary_data=True)
        next_t = time.monotonic() + self.interval * index / max(1, self.threads)
        while not self.stop.is_set():
            if self.interval:
                delay = next_t - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)
                    if self.stop.is_set():
                        break
                next_t = max(next_t + self.interval, time.monotonic() - self.interval)
            with self.lock:
                self.sent += 1
            t0 = time.perf_counter()
            try:
                r = client.infer("tiny_cnn", [inp])
                y = r.as_numpy("probs")
                good = y is not None and y.shape == (self.batch, 10)
                with self.lock:
                    if good:
                        self.ok += 1
                        self.latencies_ms.append((time.perf_counter() - t0) * 1e3)
                    else:
                        self.errors += 1
                        if len(self.error_samples) < 5:
                            self.error_samples.append(f"bad output shape {None if y is None else y.shape}")
            except Exception as e:  # counted, never fatal: the soak keeps going
                with self.lock:
                    self.errors += 1
                    if len(self.error_samples) < 5:
                        self.error_samples.append(str(e)[:300])
        client.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "tools", "kiln"), help="kiln binary")
    ap.add_argument("--duration", type=float, default=600, help="seconds of load (default 600)")
    ap.add_argument("--warmup", type=float, default=30,
                    help="seconds under load before the RSS baseline is taken (default 30)")
    ap.add_argument("--interval", type=float, default=5, help="seconds between RSS samples (default 5)")
    ap.add_argument("--protocol", choices=["grpc", "http"], default="grpc")
    ap.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    ap.add_argument("--rate", type=float, default=100, help="total requests/s, 0 = as fast as possible (default 100)")
    ap.add_argument("--batch", type=int, default=1, help="batch size of each request (default 1)")
    ap.add_argument("--tolerance", type=float, default=0.10, help="allowed RSS growth over the baseline (default 0.10)")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--tag", default="", help="suffix for the result file names")
    args = ap.parse_args()
    if not os.access(args.kiln, os.X_OK):
        sys.exit(f"serve_soak: {args.kiln} is not an executable kiln binary (build it, or pass --kiln)")

    tmp = tempfile.mkdtemp(prefix="kiln-soak-")
    repo = os.path.join(tmp, "repo")
    make_repository(repo, max_batch=max(8, args.batch))
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    cache = os.path.join(tmp, "engine-cache")
    os.makedirs(cache)
    cmd = [args.kiln, "serve", "--model-repository", repo, "--engine-cache-dir", cache, "--http-port", str(http_port),
           "--grpc-port", str(grpc_port), "--metrics-port", str(metrics_port)]
    log_path = os.path.join(tmp, "server.log")
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    result = {"command": " ".join(cmd), "cpu": cpu_name(), "cores": os.cpu_count(),
              "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "protocol": args.protocol, "threads": args.threads, "rate_target": args.rate,
              "batch": args.batch, "duration_s": args.duration, "warmup_s": args.warmup}
    samples = []
    load = None
    try:
        wait_ready(http_port, proc, 300, log_path)
        rss_start = rss_bytes(proc.pid)
        url = f"127.0.0.1:{grpc_port if args.protocol == 'grpc' else http_port}"
        load = Load(args.protocol, url, args.threads, args.rate, args.batch)
        t0 = time.monotonic()
        load.start()
        next_sample = t0
        while True:
            now = time.monotonic()
            if now - t0 >= args.duration:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"kiln serve exited with code {proc.returncode} during the soak")
            if now >= next_sample:
                with load.lock:
                    answered = load.ok + load.errors
                samples.append({"t_s": round(now - t0, 1), "rss_bytes": rss_bytes(proc.pid), "answered": answered})
                print(f"[{now - t0:6.0f} s] rss {samples[-1]['rss_bytes'] / 2**20:8.1f} MiB, answered {answered}",
                      flush=True)
                next_sample += args.interval
            time.sleep(min(0.5, max(0.0, next_sample - time.monotonic())))
        load.join()
        elapsed = time.monotonic() - t0
        samples.append({"t_s": round(elapsed, 1), "rss_bytes": rss_bytes(proc.pid),
                        "answered": load.ok + load.errors})
        time.sleep(0.5)  # let the server finish recording the last responses
        server = scrape(metrics_port)
    finally:
        if load:
            load.stop.set()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
        if sys.exc_info()[0] is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    under_load = [s for s in samples if s["t_s"] >= args.warmup] or samples
    baseline = under_load[0]["rss_bytes"]
    rss_max = max(s["rss_bytes"] for s in under_load)
    rss_last = samples[-1]["rss_bytes"]
    growth = (rss_max - baseline) / baseline
    lat = np.array(load.latencies_ms) if load.latencies_ms else np.array([0.0])
    answered = load.ok + load.errors
    server_answered = server.get("nv_inference_request_success", 0) + server.get("nv_inference_request_failure", 0)
    result.update({
        "elapsed_s": round(elapsed, 1),
        "rss_start_bytes": rss_start, "rss_baseline_bytes": baseline, "rss_last_bytes": rss_last,
        "rss_max_bytes": rss_max, "rss_growth_over_baseline": round(growth, 4),
        "rss_flat": growth <= args.tolerance and abs(rss_last - baseline) / baseline <= args.tolerance,
        "tolerance": args.tolerance,
        "requests_sent": load.sent, "requests_answered": answered, "requests_ok": load.ok,
        "requests_error": load.errors, "requests_lost": load.sent - answered, "error_samples": load.error_samples,
        "server_success": int(server.get("nv_inference_request_success", -1)),
        "server_failure": int(server.get("nv_inference_request_failure", -1)),
        "server_inference_count": int(server.get("nv_inference_count", -1)),
        "server_exec_count": int(server.get("nv_inference_exec_count", -1)),
        "server_counts_match": server_answered == answered,
        "throughput_rps": round(load.ok / elapsed, 1),
        "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 3), "p99": round(float(np.percentile(lat, 99)), 3)},
        "server_exit_code": proc.returncode,
        "samples": samples,
    })

    os.makedirs(args.out_dir, exist_ok=True)
    stem = f"serve-soak-{dt.date.today().isoformat()}{('-' + args.tag) if args.tag else ''}"
    with open(os.path.join(args.out_dir, stem + ".json"), "w") as f:
        json.dump(result, f, indent=1)
    mib = lambda b: f"{b / 2**20:.1f} MiB"
    md = [
        f"# kiln serve soak, {result['started']}",
        "",
        f"{args.duration / 60:.3g} minutes of {args.protocol} load on loopback: {args.threads} client threads, "
        f"target {args.rate:g} req/s total, batch {args.batch}, model tiny_cnn (models/tiny_cnn.onnx, dynamic "
        f"batching, 1 CPU instance). Machine: {result['cpu']}, {result['cores']} cores (shared with other "
        f"work while this ran). Reproduce: `.venv/bin/python bench/serve_soak.py`.",
        "",
        "| | |",
        "|---|---|",
        f"| RSS idle, models loaded, before the load | {mib(rss_start)} |",
        f"| RSS baseline (after {args.warmup:g} s under load) | {mib(baseline)} |",
        f"| RSS at the end | {mib(rss_last)} |",
        f"| RSS max after the baseline | {mib(rss_max)} ({growth * 100:+.1f}%) |",
        f"| flat (within {args.tolerance * 100:g}% of the baseline) | {'yes' if result['rss_flat'] else 'NO'} |",
        f"| requests sent / answered / OK / errors | {load.sent} / {answered} / {load.ok} / {load.errors} |",
        f"| lost (sent - answered) | {load.sent - answered} |",
        f"| server counters success / failure | {result['server_success']} / {result['server_failure']} "
        f"({'match' if result['server_counts_match'] else 'DO NOT MATCH'} the client's answered count) |",
        f"| throughput (target {args.rate:g} req/s; below it when latency exceeds the pacing) | "
        f"{result['throughput_rps']} req/s |",
        f"| server executions (batches) for {result['server_inference_count']} inferences | "
        f"{result['server_exec_count']} |",
        f"| client latency p50 / p99 | {result['latency_ms']['p50']} / {result['latency_ms']['p99']} ms |",
        f"| server exit code after SIGTERM | {proc.returncode} |",
        "",
        f"RSS samples every {args.interval:g} s are in `{stem}.json`.",
    ]
    if load.error_samples:
        md += ["", "First errors:", ""] + [f"- `{e}`" for e in load.error_samples]
    with open(os.path.join(args.out_dir, stem + ".md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    shutil.rmtree(tmp, ignore_errors=True)
    ok = result["rss_flat"] and result["requests_lost"] == 0 and result["server_counts_match"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
