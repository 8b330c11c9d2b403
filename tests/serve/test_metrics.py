"""`kiln serve` /metrics (port 8002) after real inferences over HTTP and gRPC: Triton's metric names,
types and labels, counts that match what was sent, histograms that agree with the counters, host
(and, where NVML exists, GPU) gauges, and `promtool check metrics` (Debian package prometheus)."""
import ctypes
import re
import shutil
import subprocess
import threading
import time
import urllib.request

import numpy as np
import pytest

th = pytest.importorskip("tritonclient.http")
tg = pytest.importorskip("tritonclient.grpc")
from tritonclient.utils import InferenceServerException  # noqa: E402

# Triton's per-model families and their types.
MODEL_FAMILIES = {
    "nv_inference_request_success": "counter",
    "nv_inference_request_failure": "counter",
    "nv_inference_count": "counter",
    "nv_inference_exec_count": "counter",
    "nv_inference_request_duration_us": "counter",
    "nv_inference_queue_duration_us": "counter",
    "nv_inference_compute_input_duration_us": "counter",
    "nv_inference_compute_infer_duration_us": "counter",
    "nv_inference_compute_output_duration_us": "counter",
    "nv_inference_pending_request_count": "gauge",
    "nv_model_load_duration_secs": "gauge",
}
FAILURE_REASONS = {"REJECTED", "CANCELED", "BACKEND", "OTHER"}
LATENCY_HISTOGRAM = "nv_inference_request_duration_histogram_us"

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def parse(text):
    """Prometheus text format -> (types {family: type}, helps {family}, samples [(name, labels, value)]).
    Strict about what this server writes: every line is a comment or a well-formed sample."""
    types, helps, samples = {}, set(), []
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            helps.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name not in types, f"TYPE of {name} given twice"
            types[name] = kind
        elif line.startswith("#"):
            continue
        else:
            m = SAMPLE.match(line)
            assert m, f"malformed sample line: {line!r}"
            labels = {}
            if m.group(2):
                pos = 0
                for lm in LABEL.finditer(m.group(2)):
                    assert lm.start() == pos, f"malformed labels in {line!r}"
                    labels[lm.group(1)] = lm.group(2)
                    pos = lm.end()
                assert pos == len(m.group(2)), f"malformed labels in {line!r}"
            samples.append((m.group(1), labels, float(m.group(3))))
    return types, helps, samples


def scrape(server):
    return urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()


def value(samples, name, **labels):
    got = [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]
    assert len(got) == 1, f"{name}{labels}: {len(got)} series"
    return got[0]


def simple_http(server, batch):
    a = np.ones((batch, 16), np.float32)
    ins = []
    for n in ("INPUT0", "INPUT1"):
        i = th.InferInput(n, [batch, 16], "FP32")
        i.set_data_from_numpy(a, binary_data=True)
        ins.append(i)
    th.InferenceServerClient(server.http_url).infer("simple", ins)


def grpc_inputs(batch):
    a = np.ones((batch, 16), np.float32)
    ins = []
    for n in ("INPUT0", "INPUT1"):
        i = tg.InferInput(n, [batch, 16], "FP32")
        i.set_data_from_numpy(a)
        ins.append(i)
    return ins


def test_families_types_and_labels(server):
    simple_http(server, 1)
    types, helps, samples = parse(scrape(server))
    for fam, kind in MODEL_FAMILIES.items():
        assert types.get(fam) == kind, (fam, types.get(fam))
        assert fam in helps, f"{fam} has no HELP"
    assert types.get(LATENCY_HISTOGRAM) == "histogram"
    models = {"simple", "batching", "tiny_cnn", "identity_fp16", "slow_small"}
    for name, labels, v in samples:
        if name.startswith("nv_inference_") or name.startswith("nv_model_"):
            assert labels.get("model") in models and labels.get("version") == "1", (name, labels)
        if name == "nv_inference_request_failure":
            assert labels["reason"] in FAILURE_REASONS, labels
    for m in models:  # every loaded model has its series from the start, and its load time
        assert value(samples, "nv_inference_request_success", model=m) >= 0
        assert value(samples, "nv_model_load_duration_secs", model=m) > 0
        for reason in FAILURE_REASONS:
            value(samples, "nv_inference_request_failure", model=m, reason=reason)


def test_counts_match_what_was_sent(server):
    _, _, before = parse(scrape(server))
    for _ in range(5):
        simple_http(server, 2)
    gc = tg.InferenceServerClient(server.grpc_url)
    for _ in range(4):
        gc.infer("simple", grpc_inputs(3))
    # One failure that reaches no model execution: it must not count as a success.
    with pytest.raises(InferenceServerException):
        gc.infer("simple", grpc_inputs(9))  # batch over max_batch_size 8
    _, _, after = parse(scrape(server))

    def delta(name, **labels):
        return value(after, name, model="simple", **labels) - value(before, name, model="simple", **labels)

    assert delta("nv_inference_request_success") == 9
    assert delta("nv_inference_count") == 5 * 2 + 4 * 3  # batch elements
    assert delta("nv_inference_exec_count") == 9  # one at a time: nothing to batch together
    assert value(after, "nv_inference_pending_request_count", model="simple") == 0
    req_us = delta("nv_inference_request_duration_us")
    assert req_us > 0
    assert 0 <= delta("nv_inference_queue_duration_us") <= req_us
    assert 0 < delta("nv_inference_compute_infer_duration_us") <= req_us

    # The latency histogram agrees with the counters: one observation per successful request,
    # cumulative buckets, +Inf == _count, _sum == the cumulative duration counter.
    h = LATENCY_HISTOGRAM
    assert value(after, h + "_count", model="simple") - value(before, h + "_count", model="simple") == 9
    assert value(after, h + "_sum", model="simple") == pytest.approx(
        value(after, "nv_inference_request_duration_us", model="simple"), rel=1e-6, abs=1.0)
    buckets = sorted(((float(l["le"]), v) for n, l, v in after
                      if n == h + "_bucket" and l.get("model") == "simple"), key=lambda b: b[0])
    assert len(buckets) >= 10 and buckets[-1][0] == float("inf")
    assert all(b[1] <= c[1] for b, c in zip(buckets, buckets[1:])), buckets
    assert buckets[-1][1] == value(after, h + "_count", model="simple")


def test_rejections_count_as_rejected(server):
    """slow_small (queue of 2, 300 ms per execution) refuses the overflow with UNAVAILABLE; each
    refusal is one nv_inference_request_failure{reason="REJECTED"}."""
    _, _, before = parse(scrape(server))
    gc = tg.InferenceServerClient(server.grpc_url)
    errors, lock = [], threading.Lock()

    def done(result, error):
        with lock:
            errors.append(error)

    for _ in range(8):
        gc.async_infer("slow_small", grpc_inputs(8), done)
    deadline = time.time() + 30
    while len(errors) < 8 and time.time() < deadline:
        time.sleep(0.05)
    assert len(errors) == 8
    rejected = sum(1 for e in errors if e is not None)
    assert rejected >= 1 and all(e.status() == "StatusCode.UNAVAILABLE" for e in errors if e is not None)
    time.sleep(0.1)
    _, _, after = parse(scrape(server))
    lbl = dict(model="slow_small", reason="REJECTED")
    assert value(after, "nv_inference_request_failure", **lbl) - value(before, "nv_inference_request_failure", **lbl) \
        == rejected
    assert value(after, "nv_inference_request_success", model="slow_small") - \
        value(before, "nv_inference_request_success", model="slow_small") == 8 - rejected


def nvml_present():
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
        return True
    except OSError:
        return False


def test_system_gauges(server):
    types, _, samples = parse(scrape(server))
    for g in ("nv_cpu_utilization", "nv_cpu_memory_total_bytes", "nv_cpu_memory_used_bytes"):
        assert types.get(g) == "gauge", g
    assert 0.0 <= value(samples, "nv_cpu_utilization") <= 1.0
    total, used = value(samples, "nv_cpu_memory_total_bytes"), value(samples, "nv_cpu_memory_used_bytes")
    assert 0 < used <= total
    with open("/proc/meminfo") as f:
        kb = int(re.search(r"MemTotal:\s+(\d+) kB", f.read()).group(1))
    assert total == kb * 1024
    gpu = [(n, l) for n, l, _ in samples if n.startswith("nv_gpu_")]
    if not nvml_present():
        assert gpu == [], "GPU series without NVML"
    else:
        # One series per GPU and gauge, labelled with the GPU's UUID.
        uuids = {l.get("gpu_uuid") for n, l in gpu}
        assert uuids and all(u and u.startswith("GPU-") for u in uuids), gpu
        for g in ("nv_gpu_utilization", "nv_gpu_memory_total_bytes", "nv_gpu_memory_used_bytes"):
            assert {l["gpu_uuid"] for n, l in gpu if n == g} == uuids, g


# promtool's naming-convention lints that Triton's metric names themselves break (Triton's
# dashboards and alerts depend on these names, so they are kept). Anything else is a failure.
TRITON_NAME_LINTS = (
    'counter metrics should have "_total" suffix',
    "metric names should not contain abbreviated units",
    "metric name should not include type 'histogram'",
    'non-histogram and non-summary metrics should not have "_count" suffix',
)


def promtool(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()


def test_promtool_check_metrics(server):
    if not shutil.which("promtool"):
        pytest.skip("promtool not installed (Debian package prometheus; scripts/setup.sh installs it)")
    simple_http(server, 1)
    # promtool itself must catch a broken exposition, or this test proves nothing.
    rc, out = promtool("# TYPE x counter\nx{a=\"1\" 1\n")
    assert rc == 1, (rc, out)
    rc, out = promtool(scrape(server))
    # 0: clean; 3: lint findings only (1 would be a parse error).
    assert rc in (0, 3), (rc, out)
    problems = [l for l in out.splitlines() if l and not any(t in l for t in TRITON_NAME_LINTS)]
    assert not problems, "\n".join(problems)
