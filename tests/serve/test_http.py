"""`kiln serve` over HTTP/REST (KServe v2): the real server process (conftest.py), talked to with
tritonclient.http and raw HTTP (http.client/urllib) for the cases a client library would not
send."""
import gzip
import http.client
import json
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import _save, add_sub_model, kiln_binary, make_repository, write_simple

th = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402


def client(server):
    return th.InferenceServerClient(server.http_url, connection_timeout=30, network_timeout=30)


def raw(server, method, path, body=b"", headers=None):
    """One request on a fresh connection: (status, headers, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
    c.request(method, path, body=body, headers={**server.headers(), **(headers or {})})
    r = c.getresponse()
    out = (r.status, dict(r.getheaders()), r.read())
    c.close()
    return out


def json_infer_body(a, b, model_inputs=("INPUT0", "INPUT1"), **extra):
    return json.dumps({"inputs": [
        {"name": model_inputs[0], "shape": list(a.shape), "datatype": "FP32", "data": a.flatten().tolist()},
        {"name": model_inputs[1], "shape": list(b.shape), "datatype": "FP32", "data": b.tolist()}], **extra}).encode()


def simple_inputs(a, b, binary=True):
    i0 = th.InferInput("INPUT0", list(a.shape), "FP32")
    i0.set_data_from_numpy(a, binary_data=binary)
    i1 = th.InferInput("INPUT1", list(b.shape), "FP32")
    i1.set_data_from_numpy(b, binary_data=binary)
    return [i0, i1]


def assert_still_serving(server):
    a = np.full((1, 16), 2, np.float32)
    r = client(server).infer("simple", simple_inputs(a, a))
    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a + a)


def error_of(body):
    j = json.loads(body)
    assert set(j) == {"error"}, j
    return j["error"]


def wait_accepted(server, model, n, timeout=20):
    """Waits until the server holds or has answered `n` requests of `model` (Prometheus gauges)."""
    import urllib.request
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
        total = 0
        for name in ("nv_inference_pending_request_count", "nv_inference_request_success"):
            for line in text.splitlines():
                if line.startswith(f'{name}{{model="{model}",version="1"}}'):
                    total += float(line.split()[-1])
        if total >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"the server did not accept {n} requests of {model} in {timeout}s")


# --- health, metadata, config -------------------------------------------------------------------

def test_health_and_server_metadata(server):
    c = client(server)
    assert c.is_server_live() and c.is_server_ready()
    md = c.get_server_metadata()
    assert md["name"] == "kiln" and md["version"]
    assert "binary_tensor_data" in md["extensions"] and "statistics" in md["extensions"]
    assert raw(server, "GET", "/v2/health/live")[0] == 200
    assert raw(server, "GET", "/v2/health/ready")[0] == 200


def test_model_metadata_ready_config(server):
    c = client(server)
    md = c.get_model_metadata("simple")
    assert md["name"] == "simple" and md["versions"] == ["1"]
    assert md["inputs"] == [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 16]},
                            {"name": "INPUT1", "datatype": "FP32", "shape": [-1, 16]}]
    assert c.get_model_metadata("simple", "1")["name"] == "simple"
    assert c.is_model_ready("simple") and c.is_model_ready("simple", "1")
    assert not c.is_model_ready("simple", "7")
    assert not c.is_model_ready("no_such_model")
    # tiny_cnn has no config.pbtxt: everything below is auto-completed from the ONNX model.
    cfg = c.get_model_config("tiny_cnn")
    assert cfg["name"] == "tiny_cnn" and cfg["max_batch_size"] == 4
    assert cfg["input"][0]["name"] == "image" and cfg["input"][0]["data_type"] == "TYPE_FP32"
    assert cfg["input"][0]["dims"] == [3, 32, 32]
    assert cfg["output"][0]["dims"] == [10]
    assert "dynamic_batching" in cfg and cfg["instance_group"][0]["kind"] == "KIND_CPU"
    assert c.get_model_config("simple")["dynamic_batching"]["max_queue_delay_microseconds"] == 0
    status, _, body = raw(server, "GET", "/v2/models/nope/config")
    assert status == 400 and "unknown model" in error_of(body)


def test_repository_index(server):
    idx = client(server).get_model_repository_index()
    names = {e["name"]: e for e in idx}
    assert set(names) >= {"simple", "tiny_cnn", "batching", "identity_fp16"}
    assert names["simple"]["state"] == "READY" and names["simple"]["version"] == "1"


# --- inference ----------------------------------------------------------------------------------

@pytest.mark.parametrize("binary", [False, True])
def test_infer_tritonclient(server, binary):
    a = np.arange(48, dtype=np.float32).reshape(3, 16)
    b = np.random.default_rng(1).standard_normal((3, 16)).astype(np.float32)
    outs = [th.InferRequestedOutput("OUTPUT0", binary_data=binary),
            th.InferRequestedOutput("OUTPUT1", binary_data=not binary)]
    r = client(server).infer("simple", simple_inputs(a, b, binary), outputs=outs, request_id="req-7")
    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a + b)
    np.testing.assert_array_equal(r.as_numpy("OUTPUT1"), a - b)
    resp = r.get_response()
    assert resp["id"] == "req-7" and resp["model_name"] == "simple" and resp["model_version"] == "1"


def test_infer_raw_json(server):
    a = np.arange(16, dtype=np.float32).reshape(1, 16)
    b = np.ones((1, 16), np.float32)
    status, headers, body = raw(server, "POST", "/v2/models/simple/versions/1/infer",
                                json_infer_body(a, b, outputs=[{"name": "OUTPUT1"}]),
                                {"Content-Type": "application/json"})
    assert status == 200, body
    j = json.loads(body)
    assert [o["name"] for o in j["outputs"]] == ["OUTPUT1"]
    assert j["outputs"][0]["shape"] == [1, 16] and j["outputs"][0]["data"] == (a - b).flatten().tolist()


def test_infer_raw_binary_both_ways(server):
    a = np.arange(32, dtype=np.float32).reshape(2, 16)
    b = np.full((2, 16), 0.5, np.float32)
    header = json.dumps({
        "inputs": [{"name": "INPUT0", "shape": [2, 16], "datatype": "FP32", "parameters": {"binary_data_size": a.nbytes}},
                   {"name": "INPUT1", "shape": [2, 16], "datatype": "FP32", "parameters": {"binary_data_size": b.nbytes}}],
        "parameters": {"binary_data_output": True}}).encode()
    status, headers, body = raw(server, "POST", "/v2/models/simple/infer", header + a.tobytes() + b.tobytes(),
                                {"Inference-Header-Content-Length": str(len(header))})
    assert status == 200, body
    n = int(headers["Inference-Header-Content-Length"])
    j = json.loads(body[:n])
    sizes = [o["parameters"]["binary_data_size"] for o in j["outputs"]]
    assert sizes == [a.nbytes, a.nbytes]
    out0 = np.frombuffer(body[n:n + sizes[0]], np.float32).reshape(2, 16)
    out1 = np.frombuffer(body[n + sizes[0]:], np.float32).reshape(2, 16)
    np.testing.assert_array_equal(out0, a + b)
    np.testing.assert_array_equal(out1, a - b)


def test_fp16_binary_only(server):
    x = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float16)
    i = th.InferInput("INPUT", [3, 4], "FP16")
    i.set_data_from_numpy(x, binary_data=True)
    r = client(server).infer("identity_fp16", [i], outputs=[th.InferRequestedOutput("OUTPUT", binary_data=True)])
    np.testing.assert_array_equal(r.as_numpy("OUTPUT"), x)
    # As JSON data, FP16 is refused (KServe: FP16/BF16 travel only as binary).
    body = json.dumps({"inputs": [{"name": "INPUT", "shape": [1, 4], "datatype": "FP16", "data": [1, 2, 3, 4]}]})
    status, _, resp = raw(server, "POST", "/v2/models/identity_fp16/infer", body.encode())
    assert status == 400 and "only supported as binary" in error_of(resp)
    # A binary FP16 input with a JSON output: the output cannot be JSON either.
    i.set_data_from_numpy(x, binary_data=True)
    with pytest.raises(InferenceServerException, match="binary"):
        client(server).infer("identity_fp16", [i], outputs=[th.InferRequestedOutput("OUTPUT", binary_data=False)])


def test_tiny_cnn_matches_onnxruntime(server):
    ort = pytest.importorskip("onnxruntime")
    from conftest import ROOT
    x = np.random.default_rng(5).standard_normal((2, 3, 32, 32)).astype(np.float32)
    i = th.InferInput("image", [2, 3, 32, 32], "FP32")
    i.set_data_from_numpy(x)
    got = client(server).infer("tiny_cnn", [i]).as_numpy("probs")
    want = ort.InferenceSession(str(ROOT / "models" / "tiny_cnn.onnx")).run(None, {"image": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_gzip_and_deflate_bodies(server):
    a = np.arange(16, dtype=np.float32).reshape(1, 16)
    body = json_infer_body(a, a)
    for enc, data in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        status, _, resp = raw(server, "POST", "/v2/models/simple/infer", data, {"Content-Encoding": enc})
        assert status == 200, (enc, resp)
        assert json.loads(resp)["outputs"][0]["data"] == (a + a).flatten().tolist()
    status, _, resp = raw(server, "POST", "/v2/models/simple/infer", b"not gzip at all", {"Content-Encoding": "gzip"})
    assert status == 400 and "decompress" in error_of(resp)
    status, _, resp = raw(server, "POST", "/v2/models/simple/infer", body, {"Content-Encoding": "br"})
    assert status == 415 and "not supported" in error_of(resp)


def test_keep_alive(server):
    c = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
    a = np.ones((1, 16), np.float32)
    for _ in range(5):
        c.request("POST", "/v2/models/simple/infer", body=json_infer_body(a, a))
        r = c.getresponse()
        assert r.status == 200 and r.getheader("Connection", "keep-alive").lower() != "close"
        r.read()
    # An error answer keeps the connection too.
    c.request("POST", "/v2/models/simple/infer", body=b"{")
    r = c.getresponse()
    assert r.status == 400
    r.read()
    c.request("GET", "/v2/health/live")
    assert c.getresponse().status == 200
    c.close()


# --- errors: right status, a message that says what is wrong, and the server keeps serving -------

def test_error_unknown_model(server):
    a = np.ones((1, 16), np.float32)
    status, _, body = raw(server, "POST", "/v2/models/no_such_model/infer", json_infer_body(a, a))
    assert status == 400 and "unknown model" in error_of(body) and "no_such_model" in error_of(body)
    with pytest.raises(InferenceServerException, match="unknown model"):
        client(server).infer("no_such_model", simple_inputs(a, a))
    assert_still_serving(server)


def test_error_wrong_shape(server):
    a = np.ones((1, 15), np.float32)
    status, _, body = raw(server, "POST", "/v2/models/simple/infer", json_infer_body(a, a))
    assert status == 400
    msg = error_of(body)
    assert "unexpected shape for input 'INPUT0'" in msg and "[-1,16]" in msg and "[1,15]" in msg
    big = np.ones((9, 16), np.float32)  # max_batch_size is 8
    status, _, body = raw(server, "POST", "/v2/models/simple/infer", json_infer_body(big, big))
    assert status == 400 and "batch-size must be <= 8" in error_of(body)
    assert_still_serving(server)


def test_error_wrong_datatype(server):
    a = np.ones((1, 16), np.int32)
    i0 = th.InferInput("INPUT0", [1, 16], "INT32")
    i0.set_data_from_numpy(a)
    i1 = th.InferInput("INPUT1", [1, 16], "INT32")
    i1.set_data_from_numpy(a)
    with pytest.raises(InferenceServerException, match="data-type is 'INT32', but model 'simple' expects 'FP32'"):
        client(server).infer("simple", [i0, i1])
    body = json.dumps({"inputs": [{"name": "INPUT0", "shape": [1, 16], "datatype": "FLOAT99", "data": [0] * 16}]})
    status, _, resp = raw(server, "POST", "/v2/models/simple/infer", body.encode())
    assert status == 400 and "unknown datatype 'FLOAT99'" in error_of(resp)
    body = json.dumps({"inputs": [{"name": "INPUT0", "shape": [1, 2], "datatype": "INT8", "data": [1, 300]}]})
    status, _, resp = raw(server, "POST", "/v2/models/simple/infer", body.encode())
    assert status == 400 and "out of range for INT8" in error_of(resp)
    assert_still_serving(server)


@pytest.mark.parametrize("body, expect", [
    (b"{", "failed to parse the request JSON"),
    (b"[1,2]", "must be an object"),
    (b'{"inputs": 5}', "no 'inputs' array"),
    (b'{"inputs": [{"name": "INPUT0", "shape": [1, -16], "datatype": "FP32", "data": []}]}', "negative"),
    (b'{"inputs": [{"name": "INPUT0", "shape": [1, 16], "datatype": "FP32", "data": ["x"]}]}', "has 1 elements"),
    (b'{"inputs": [{"name": "INPUT0", "shape": [1, 1], "datatype": "FP32", "data": ["x"]}]}', "expected a number"),
    (b'{"inputs": [{"name": "INPUT0", "shape": [1,1,1,1,1,1,1,1,1,1,1,1,1], "datatype": "FP32", "data": [1]}]}',
     "more than the maximum"),
    (b'{"inputs": [{"name": "INPUT0", "shape": [4294967296, 4294967296], "datatype": "FP32", "data": [1]}]}',
     "too many elements"),
])
def test_error_malformed_json(server, body, expect):
    status, _, resp = raw(server, "POST", "/v2/models/simple/infer", body)
    assert status == 400 and expect in error_of(resp), resp
    assert_still_serving(server)


def binary_request(a, b, declared=None):
    header = json.dumps({"inputs": [
        {"name": "INPUT0", "shape": list(a.shape), "datatype": "FP32", "parameters": {"binary_data_size": a.nbytes}},
        {"name": "INPUT1", "shape": list(b.shape), "datatype": "FP32",
         "parameters": {"binary_data_size": declared if declared is not None else b.nbytes}}]}).encode()
    return header, header + a.tobytes() + b.tobytes()


def test_error_truncated_binary_body(server):
    a = np.ones((1, 16), np.float32)
    header, body = binary_request(a, a)
    status, _, resp = raw(server, "POST", "/v2/models/simple/infer", body[:-10],
                          {"Inference-Header-Content-Length": str(len(header))})
    assert status == 400 and "truncated" in error_of(resp) and "INPUT1" in error_of(resp)
    # A size that disagrees with the shape.
    header, body = binary_request(a, a, declared=60)
    status, _, resp = raw(server, "POST", "/v2/models/simple/infer", body[:-4],
                          {"Inference-Header-Content-Length": str(len(header))})
    assert status == 400 and "needs 64" in error_of(resp)
    # Bytes no input accounts for.
    header, body = binary_request(a, a)
    status, _, resp = raw(server, "POST", "/v2/models/simple/infer", body + b"xx",
                          {"Inference-Header-Content-Length": str(len(header))})
    assert status == 400 and "2 bytes of binary data" in error_of(resp)
    assert_still_serving(server)


@pytest.mark.parametrize("value, expect", [("abc", "not a non-negative integer"), ("-5", "not a non-negative integer"),
                                           ("99999999", "only"), ("0", "missing"), ("10", "failed to parse")])
def test_error_bad_header_length(server, value, expect):
    a = np.ones((1, 16), np.float32)
    _, body = binary_request(a, a)
    status, _, resp = raw(server, "POST", "/v2/models/simple/infer", body, {"Inference-Header-Content-Length": value})
    assert status == 400 and expect in error_of(resp), resp
    assert_still_serving(server)


def test_error_oversized_body(start_server, tmp_path):
    s = start_server(make_repository(tmp_path / "repo", ["simple"]), "--max-body-bytes=4096")
    a = np.ones((8, 16), np.float32)
    status, _, resp = raw(s, "POST", "/v2/models/simple/infer", json_infer_body(a, a) + b" " * 4096)
    assert status == 413 and "larger than the server's limit of 4096 bytes" in error_of(resp)
    # A small body that inflates past the limit.
    status, _, resp = raw(s, "POST", "/v2/models/simple/infer", gzip.compress(b" " * 100000), {"Content-Encoding": "gzip"})
    assert status == 413 and "limit of 4096" in error_of(resp)
    assert_still_serving(s)


def test_error_endpoints_and_names(server):
    assert raw(server, "GET", "/v3/whatever")[0] == 404
    assert raw(server, "GET", "/v2/models/simple/infer")[0] == 405
    status, _, body = raw(server, "GET", "/v2/models/..%2F..%2Fetc/config")
    assert status == 400 and "unknown model" in error_of(body)
    status, _, body = raw(server, "GET", "/v2/models/simple/versions/01")
    assert status == 400 and "invalid model version" in error_of(body)
    # Model control is off in the default mode.
    status, _, body = raw(server, "POST", "/v2/repository/models/simple/unload")
    assert status == 403 and "--model-control-mode=explicit" in error_of(body)
    assert_still_serving(server)


# --- scheduling -----------------------------------------------------------------------------------

def stats_of(server, model):
    return client(server).get_inference_statistics(model)["model_stats"][0]


def test_dynamic_batching_batches(server):
    before = stats_of(server, "batching")
    a = np.ones((1, 16), np.float32)
    n = 16

    def one(k):
        x = np.full((1, 16), k, np.float32)
        r = client(server).infer("batching", simple_inputs(x, a), model_version="1")
        return np.array_equal(r.as_numpy("OUTPUT0"), x + a)

    with ThreadPoolExecutor(n) as ex:
        assert all(ex.map(one, range(n)))
    after = stats_of(server, "batching")
    inferences = after["inference_count"] - before["inference_count"]
    executions = after["execution_count"] - before["execution_count"]
    assert inferences == n
    assert executions < inferences, after
    assert any(b["batch_size"] > 1 for b in after["batch_stats"])


def test_exactly_once_under_concurrency(server):
    before = stats_of(server, "simple")
    n, threads = 200, 16
    seen = {}
    lock = threading.Lock()

    def one(k):
        c = client(server) if k % 2 else None
        x = np.full((1 + k % 3, 16), k, np.float32)
        y = np.arange(16, dtype=np.float32)[None, :].repeat(x.shape[0], 0)
        if c:
            r = c.infer("simple", simple_inputs(x, y, binary=k % 4 == 1), request_id=f"r{k}")
            rid, out = r.get_response()["id"], r.as_numpy("OUTPUT1")
        else:
            status, _, body = raw(server, "POST", "/v2/models/simple/infer", json_infer_body(x, y, id=f"r{k}"))
            assert status == 200, body
            j = json.loads(body)
            rid = j["id"]
            out = np.array(j["outputs"][1]["data"], np.float32).reshape(x.shape)
        with lock:
            seen[rid] = seen.get(rid, 0) + 1
        return np.array_equal(out, x - y)

    with ThreadPoolExecutor(threads) as ex:
        assert all(ex.map(one, range(n)))
    assert seen == {f"r{k}": 1 for k in range(n)}
    after = stats_of(server, "simple")
    assert after["inference_stats"]["success"]["count"] - before["inference_stats"]["success"]["count"] == n
    assert after["inference_stats"]["fail"]["count"] == before["inference_stats"]["fail"]["count"]


def test_full_queue_rejects_at_once(server):
    # slow_small: one instance, 800 ms per execution, max_queue_size 2. Of 12 concurrent requests,
    # one runs, two wait, the rest are refused at once with 503 -- and every one is answered.
    a = np.ones((1, 16), np.float32)
    body = json_infer_body(a, a)
    n = 12

    def one(_):
        t0 = time.time()
        status, _, resp = raw(server, "POST", "/v2/models/slow_small/infer", body)
        return status, resp, time.time() - t0

    with ThreadPoolExecutor(n) as ex:
        results = list(ex.map(one, range(n)))
    codes = sorted(r[0] for r in results)
    assert len(results) == n and set(codes) <= {200, 503}, results
    rejected = [r for r in results if r[0] == 503]
    assert rejected and codes.count(200) >= 3, codes
    assert all("Exceeds maximum queue size" in error_of(r[1]) for r in rejected)
    assert min(r[2] for r in rejected) < 0.6  # refused without waiting for the queue
    assert_still_serving(server)


def test_metrics_endpoint(server):
    import urllib.request
    assert_still_serving(server)
    text = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
    assert '# TYPE nv_inference_count counter' in text
    for name in ("nv_inference_request_success", "nv_inference_exec_count", "nv_inference_request_duration_us",
                 "nv_inference_queue_duration_us", "nv_inference_compute_infer_duration_us",
                 "nv_inference_pending_request_count", "nv_model_load_duration_secs",
                 "nv_inference_request_duration_histogram_us_bucket"):
        assert f'{name}{{model="simple"' in text or f'{name}{{' in text, name
    line = [l for l in text.splitlines() if l.startswith('nv_inference_request_success{model="simple",version="1"}')]
    assert line and float(line[0].split()[-1]) > 0
    assert 'nv_inference_request_failure{model="slow_small",reason="REJECTED",version="1"}' in text


# --- model control, versions, cache, auth, shutdown -----------------------------------------------

def test_explicit_load_unload(start_server, tmp_path):
    repo = make_repository(tmp_path / "repo", ["simple", "tiny_cnn"])
    s = start_server(repo, "--model-control-mode=explicit", "--load-model=simple")
    c = client(s)
    assert c.is_model_ready("simple") and not c.is_model_ready("tiny_cnn")
    c.load_model("tiny_cnn")
    assert c.is_model_ready("tiny_cnn")
    c.unload_model("simple")
    assert not c.is_model_ready("simple")
    idx = {e["name"]: e for e in c.get_model_repository_index()}
    assert idx["tiny_cnn"]["state"] == "READY" and idx["simple"]["state"] == "UNAVAILABLE"
    with pytest.raises(InferenceServerException, match="unknown model|not found"):
        c.load_model("does_not_exist")
    status, _, body = raw(s, "POST", "/v2/repository/models/..%2Fescape/load")
    assert status == 400 and "invalid model name" in error_of(body)
    # Load with a config override (JSON), as tritonclient sends it.
    c.load_model("simple", config=json.dumps({"max_batch_size": 4, "dynamic_batching": {},
                                               "input": [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [16]},
                                                         {"name": "INPUT1", "data_type": "TYPE_FP32", "dims": [16]}]}))
    assert c.get_model_config("simple")["max_batch_size"] == 4
    assert_still_serving(s)


def test_poll_mode_picks_up_new_version(start_server, tmp_path):
    repo = make_repository(tmp_path / "repo", ["simple"])
    s = start_server(repo, "--model-control-mode=poll", "--repository-poll-secs=1")
    c = client(s)
    assert c.get_model_metadata("simple")["versions"] == ["1"]
    write_simple(repo, "simple", version=2)
    deadline = time.time() + 20
    while time.time() < deadline and not c.is_model_ready("simple", "2"):
        time.sleep(0.2)
    assert c.is_model_ready("simple", "2")
    # Default version policy is latest(1): version 1 is retired, and unversioned requests go to 2.
    assert c.get_model_metadata("simple")["versions"] == ["2"]
    a = np.ones((1, 16), np.float32)
    assert c.infer("simple", simple_inputs(a, a)).get_response()["model_version"] == "2"


def test_engine_cache_second_start_loads(start_server, tmp_path):
    repo = make_repository(tmp_path / "repo", ["tiny_cnn"])
    s1 = start_server(repo)
    assert "built engine" in s1.log() and "engine cache hit" not in s1.log()
    assert s1.stop() == 0
    assert list((repo / ".kiln-cache").glob("tiny_cnn-*.engine"))
    s2 = start_server(repo)
    assert "engine cache hit" in s2.log() and "built engine" not in s2.log()
    x = np.zeros((1, 3, 32, 32), np.float32)
    i = th.InferInput("image", [1, 3, 32, 32], "FP32")
    i.set_data_from_numpy(x)
    assert client(s2).infer("tiny_cnn", [i]).as_numpy("probs").shape == (1, 10)


def test_bearer_token(start_server, tmp_path):
    s = start_server(make_repository(tmp_path / "repo", ["simple"]), "--http-token=s3cret", token="s3cret")
    c = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=10)
    c.request("GET", "/v2/health/ready")
    r = c.getresponse()
    assert r.status == 401 and "Bearer" in r.getheader("WWW-Authenticate", "")
    r.read()
    c.request("GET", "/v2/health/ready", headers={"Authorization": "Bearer wrong"})
    r = c.getresponse()
    assert r.status == 401 and "invalid bearer token" in error_of(r.read())
    c.request("GET", "/v2/health/ready", headers={"Authorization": "Bearer s3cret"})
    assert c.getresponse().status == 200
    tc = th.InferenceServerClient(s.http_url)
    assert tc.is_server_ready(headers={"Authorization": "Bearer s3cret"})


def test_sigterm_drains_queued_requests(start_server, tmp_path):
    repo = tmp_path / "repo"
    write_simple(repo, "slow", instances=1, exec_ms=150)
    s = start_server(repo, "--exit-timeout-secs=30")
    a = np.ones((1, 16), np.float32)
    results = []

    def one(_):
        results.append(raw(s, "POST", "/v2/models/slow/infer", json_infer_body(a, a))[0])

    threads = [threading.Thread(target=one, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    wait_accepted(s, "slow", 6)  # all six are queued or running
    s.proc.send_signal(15)
    for t in threads:
        t.join(30)
    assert s.proc.wait(30) == 0
    assert sorted(results) == [200] * 6, (results, s.log())
    assert "draining" in s.log()


def test_sigterm_deadline_fails_the_rest(start_server, tmp_path):
    repo = tmp_path / "repo"
    write_simple(repo, "slow", instances=1, exec_ms=400)
    s = start_server(repo, "--exit-timeout-secs=0.5")
    a = np.ones((8, 16), np.float32)  # a full batch each: they run one after another
    results = []

    def one(_):
        status, _, body = raw(s, "POST", "/v2/models/slow/infer", json_infer_body(a, a))
        results.append((status, body))

    threads = [threading.Thread(target=one, args=(k,)) for k in range(5)]
    for t in threads:
        t.start()
    wait_accepted(s, "slow", 5)
    s.proc.send_signal(15)
    for t in threads:
        t.join(30)
    assert s.proc.wait(30) == 0
    codes = [r[0] for r in results]
    # Every request got exactly one answer: some ran, the rest were failed with 503 at the deadline.
    assert len(codes) == 5 and set(codes) <= {200, 503} and 503 in codes, results
    assert all("shutting down" in error_of(b) for c, b in results if c == 503)


def test_expect_100_continue(server, tmp_path):
    # curl sends "Expect: 100-continue" for bodies over 1 KiB and waits up to 1 s for the go-ahead.
    import shutil as sh
    import subprocess
    if not sh.which("curl"):
        pytest.skip("curl not installed")
    a = np.ones((8, 16), np.float32)
    body = tmp_path / "body.json"
    body.write_bytes(json_infer_body(a, a))
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-H",
                          "Expect: 100-continue", "--data-binary", f"@{body}",
                          f"http://{server.http_url}/v2/models/simple/infer"], capture_output=True, text=True, timeout=30)
    code, seconds = out.stdout.split()
    assert code == "200" and float(seconds) < 0.9, out.stdout


def test_priority_levels_overtake(start_server, tmp_path):
    repo = tmp_path / "repo"
    write_simple(repo, "prio", instances=1, exec_ms=500, queue="priority_levels: 2 default_priority_level: 2")
    s = start_server(repo)
    full = np.ones((8, 16), np.float32)  # a full batch each: nothing merges, the order shows
    done = []
    lock = threading.Lock()

    def one(tag, priority):
        extra = {"parameters": {"priority": priority}} if priority else {}
        status, _, body = raw(s, "POST", "/v2/models/prio/infer", json_infer_body(full, full, **extra))
        assert status == 200, body
        with lock:
            done.append(tag)

    threads = [threading.Thread(target=one, args=("first", 0))]
    threads[0].start()
    wait_accepted(s, "prio", 1)  # "first" runs; the rest queue behind it
    for k in range(3):
        threads.append(threading.Thread(target=one, args=(f"low{k}", 0)))
        threads[-1].start()
    wait_accepted(s, "prio", 4)
    threads.append(threading.Thread(target=one, args=("high", 1)))
    threads[-1].start()
    for t in threads:
        t.join(30)
    assert done[0] == "first" and done[1] == "high", done
    # A priority the model does not have is refused.
    status, _, body = raw(s, "POST", "/v2/models/prio/infer", json_infer_body(full, full, parameters={"priority": 3}))
    assert status == 400 and "priority 3 is outside [1, 2]" in error_of(body)


def test_queue_timeout(start_server, tmp_path):
    repo = tmp_path / "repo"
    write_simple(repo, "tmo", instances=1, exec_ms=300,
                 queue="default_queue_policy { timeout_action: REJECT default_timeout_microseconds: 100000 "
                       "allow_timeout_override: true }")
    s = start_server(repo)
    full = np.ones((8, 16), np.float32)
    results = {}

    def one(tag, extra):
        results[tag] = raw(s, "POST", "/v2/models/tmo/infer", json_infer_body(full, full, **extra))

    a = threading.Thread(target=one, args=("running", {}))
    a.start()
    wait_accepted(s, "tmo", 1)
    b = threading.Thread(target=one, args=("queued", {}))
    b.start()
    a.join(30)
    b.join(30)
    # One ran; the other waited behind it longer than its 100 ms queue timeout and was refused.
    codes = sorted(r[0] for r in results.values())
    assert codes == [200, 503], results
    assert all("timeout" in error_of(r[2]).lower() for r in results.values() if r[0] == 503)
    # Alone, a request with a short timeout of its own still runs at once.
    status, _, body = raw(s, "POST", "/v2/models/tmo/infer", json_infer_body(full, full, parameters={"timeout": 1000}))
    assert status == 200, body


@pytest.mark.parametrize("payload", [
    b"GARBAGE\r\n\r\n",
    b"POST /v2/models/simple/infer HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
    b"GET /v2 HTTP/1.1\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n",
    b"POST /v2/models/simple/infer HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
def test_malformed_http_is_refused(server, payload):
    import socket
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as s:
        s.sendall(payload)
        reply = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                reply += d
        except (ConnectionResetError, socket.timeout):
            pass
    assert reply.startswith(b"HTTP/1.1 400") or reply.startswith(b"HTTP/1.1 431") or reply == b"", reply[:200]
    assert_still_serving(server)


def test_half_sent_request_then_hangup(server):
    # A client that announces a body and disappears must not hold anything up.
    import socket
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as s:
        s.sendall(b"POST /v2/models/simple/infer HTTP/1.1\r\nContent-Length: 5000\r\n\r\n{\"inputs\":")
    assert_still_serving(server)


def test_instance_group_placement_is_checked(start_server, tmp_path):
    # KIND_GPU on a machine without a usable GPU, GPU ids with KIND_CPU and a bad precision are
    # each refused at load with a reason; the default placement (KIND_AUTO) resolves to the CPU
    # here and the server keeps serving.
    repo = make_repository(tmp_path / "repo", ["simple"])
    s = start_server(repo, "--model-control-mode=explicit", "--load-model=simple")
    c = client(s)
    base = {"max_batch_size": 8, "input": [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [16]},
                                           {"name": "INPUT1", "data_type": "TYPE_FP32", "dims": [16]}]}
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{s.metrics_port}/metrics", timeout=10) as r:
        gpu_present = "nv_gpu_memory_total_bytes{" in r.read().decode()  # NVML sees a GPU
    if not gpu_present:
        with pytest.raises(InferenceServerException, match="KIND_GPU.*no usable GPU"):
            c.load_model("simple", config=json.dumps({**base, "instance_group": [{"kind": "KIND_GPU", "count": 1}]}))
    with pytest.raises(InferenceServerException, match="lists gpus but is not KIND_GPU"):
        c.load_model("simple", config=json.dumps({**base, "instance_group": [{"kind": "KIND_CPU", "gpus": [0]}]}))
    with pytest.raises(InferenceServerException, match="'precision' must be fp32, fp16 or bf16"):
        c.load_model("simple", config=json.dumps({**base, "parameters": {"precision": {"string_value": "fp12"}}}))
    # The failed reloads left the old version serving, and its config is still the one reported.
    assert c.is_model_ready("simple")
    assert "precision" not in c.get_model_config("simple").get("parameters", {})
    assert all(not g.get("gpus") for g in c.get_model_config("simple")["instance_group"])
    assert_still_serving(s)


def test_fixed_batch_engine_is_padded(start_server, tmp_path):
    # A prebuilt engine whose profile starts at batch 4: smaller batches are padded with zero rows
    # and each request still gets exactly its own rows back.
    import subprocess
    repo = tmp_path / "repo"
    onnx_path = tmp_path / "add_sub.onnx"
    _save(add_sub_model(), onnx_path)
    (repo / "fixed4" / "1").mkdir(parents=True)
    subprocess.run([kiln_binary(), "build", str(onnx_path), "-o", str(repo / "fixed4" / "1" / "model.engine"),
                    "--min-shapes", "INPUT0:4x16,INPUT1:4x16", "--opt-shapes", "INPUT0:4x16,INPUT1:4x16",
                    "--max-shapes", "INPUT0:8x16,INPUT1:8x16"], check=True, capture_output=True)
    (repo / "fixed4" / "config.pbtxt").write_text(
        'max_batch_size: 4\ninstance_group [ { count: 1 kind: KIND_CPU } ]\ndynamic_batching { }\n')
    s = start_server(repo, ready_timeout=30)
    c = client(s)
    rng = np.random.default_rng(3)
    for rows in (1, 3, 4):
        a = rng.standard_normal((rows, 16)).astype(np.float32)
        b = rng.standard_normal((rows, 16)).astype(np.float32)
        r = c.infer("fixed4", simple_inputs(a, b))
        assert r.as_numpy("OUTPUT0").shape == (rows, 16)
        np.testing.assert_allclose(r.as_numpy("OUTPUT0"), a + b, rtol=1e-6)
        np.testing.assert_allclose(r.as_numpy("OUTPUT1"), a - b, rtol=1e-6)


def nonzero_model():
    """x[3,5] -> idx = Transpose(NonZero(x)): an output whose size depends on the values."""
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 5])
    y = helper.make_tensor_value_info("idx", TensorProto.INT64, None)
    g = helper.make_graph([helper.make_node("NonZero", ["x"], ["nz"]),
                           helper.make_node("Transpose", ["nz"], ["idx"], perm=[1, 0])], "nonzero", [x], [y])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def test_data_dependent_output_shape(start_server, tmp_path):
    # A CPU engine sizes NonZero's output for every element; each response carries what was found.
    repo = tmp_path / "repo"
    (repo / "nonzero" / "1").mkdir(parents=True)
    _save(nonzero_model(), repo / "nonzero" / "1" / "model.onnx")
    s = start_server(repo)
    c = client(s)
    for zeros in (0.0, 0.6, 1.0):
        rng = np.random.default_rng(int(zeros * 10))
        x = np.where(rng.random((3, 5)) < zeros, 0, rng.integers(1, 4, (3, 5))).astype(np.float32)
        i = th.InferInput("x", [3, 5], "FP32")
        i.set_data_from_numpy(x)
        got = c.infer("nonzero", [i]).as_numpy("idx")
        np.testing.assert_array_equal(got, np.argwhere(x != 0))
