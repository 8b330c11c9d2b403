"""`kiln serve`'s system shared memory extension (Triton's), HTTP and gRPC, driven by Triton's own
client utilities (tritonclient.utils.shared_memory): registering, status, unregistering, inference
with inputs and outputs in shared memory, the errors (each leaves the server serving), unregistering
a region a request still uses, and perf_analyzer --shared-memory system. CUDA shared memory stays
unsupported and says so."""
import os
import subprocess
import threading
import time
import urllib.request

import numpy as np
import pytest

from conftest import bytes_identity, KilnServer, make_repository, ROOT, _save

th = pytest.importorskip("tritonclient.http")
tg = pytest.importorskip("tritonclient.grpc")
shm = pytest.importorskip("tritonclient.utils.shared_memory")
from tritonclient.utils import InferenceServerException, serialize_byte_tensor  # noqa: E402

PROTOCOLS = ["http", "grpc"]
VECTOR = 16 * 4  # bytes of one [1,16] FP32 tensor of the `simple` model


@pytest.fixture(scope="module")
def server(kiln_bin, tmp_path_factory):
    repo = make_repository(tmp_path_factory.mktemp("shm") / "models", ["simple", "slow_small"])
    _save(bytes_identity(), repo / "bytes_identity" / "1" / "model.onnx")
    s = KilnServer(kiln_bin, repo, [])
    if not s.grpc_port:
        s.stop()
        pytest.skip("this kiln build has no gRPC frontend")
    yield s
    s.stop()


def client(server, protocol):
    if protocol == "http":
        return th.InferenceServerClient(server.http_url, connection_timeout=30, network_timeout=30)
    return tg.InferenceServerClient(server.grpc_url)


def mod(protocol):
    return th if protocol == "http" else tg


class Regions:
    """Client-side regions of one test: created with tritonclient, destroyed (and unregistered
    from the server) afterwards, whatever the test did."""

    def __init__(self, server):
        self.server = server
        self.handles = []

    def create(self, tag, byte_size):
        key = f"/kiln_test_{os.getpid()}_{tag}"
        h = shm.create_shared_memory_region(tag, key, byte_size)
        self.handles.append(h)
        return h, key

    def close(self):
        try:
            client(self.server, "http").unregister_system_shared_memory()
        finally:
            for h in self.handles:
                shm.destroy_shared_memory_region(h)


@pytest.fixture
def regions(server):
    r = Regions(server)
    yield r
    r.close()


def status_by_name(c, protocol, name=""):
    """{name: (key, offset, byte_size)} from either client's status call."""
    if protocol == "http":
        return {s["name"]: (s["key"], int(s.get("offset", 0)), int(s["byte_size"]))
                for s in c.get_system_shared_memory_status(name)}
    resp = c.get_system_shared_memory_status(name)
    return {n: (s.key, s.offset, s.byte_size) for n, s in resp.regions.items()}


def error_of(fn):
    with pytest.raises(InferenceServerException) as e:
        fn()
    return str(e.value.status()), e.value.message()


def assert_still_serving(server):
    a = np.full((1, 16), 2, np.float32)
    i0 = th.InferInput("INPUT0", [1, 16], "FP32")
    i0.set_data_from_numpy(a)
    i1 = th.InferInput("INPUT1", [1, 16], "FP32")
    i1.set_data_from_numpy(a)
    r = client(server, "http").infer("simple", [i0, i1])
    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a + a)


def shm_inputs(protocol, region, a_offset, b_offset, shape=(1, 16), byte_size=VECTOR):
    ins = []
    for name, off in (("INPUT0", a_offset), ("INPUT1", b_offset)):
        i = mod(protocol).InferInput(name, list(shape), "FP32")
        i.set_shared_memory(region, byte_size, offset=off)
        ins.append(i)
    return ins


def shm_outputs(protocol, region, offsets=(0, VECTOR), byte_size=VECTOR):
    outs = []
    for name, off in zip(("OUTPUT0", "OUTPUT1"), offsets):
        o = mod(protocol).InferRequestedOutput(name)
        o.set_shared_memory(region, byte_size, offset=off)
        outs.append(o)
    return outs


def wait_pending(server, model, n, timeout=20):
    """Waits until `model` has `n` requests queued or executing (Prometheus gauge)."""
    deadline = time.time() + timeout
    prefix = f'nv_inference_pending_request_count{{model="{model}",version="1"}}'
    while time.time() < deadline:
        text = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
        if any(line.startswith(prefix) and float(line.split()[-1]) >= n for line in text.splitlines()):
            return
        time.sleep(0.01)
    raise AssertionError(f"{model} never had {n} pending requests")


# --- metadata and the registry ------------------------------------------------------------------

def test_server_metadata_lists_system_shared_memory(server):
    http_ext = client(server, "http").get_server_metadata()["extensions"]
    grpc_ext = client(server, "grpc").get_server_metadata(as_json=True)["extensions"]
    for ext in (http_ext, grpc_ext):
        assert "system_shared_memory" in ext and "cuda_shared_memory" not in ext


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_register_status_unregister(server, regions, protocol):
    c = client(server, protocol)
    _, key = regions.create(f"reg_{protocol}", 3 * 4096)
    c.register_system_shared_memory("whole", key, 3 * 4096)
    c.register_system_shared_memory("tail", key, 100, offset=4196)  # not page-aligned: still fine
    assert status_by_name(c, protocol) == {"whole": (key, 0, 3 * 4096), "tail": (key, 4196, 100)}
    assert status_by_name(c, protocol, "tail") == {"tail": (key, 4196, 100)}
    c.unregister_system_shared_memory("whole")
    assert status_by_name(c, protocol) == {"tail": (key, 4196, 100)}
    c.unregister_system_shared_memory("whole")  # unknown name: not an error, as Triton
    c.unregister_system_shared_memory()
    assert status_by_name(c, protocol) == {}


def test_register_errors_http(server, regions):
    c = client(server, "http")
    _, key = regions.create("errs_http", 256)
    c.register_system_shared_memory("dup", key, 256)
    cases = [
        (lambda: c.register_system_shared_memory("dup", key, 64), "'dup' already in manager"),
        (lambda: c.register_system_shared_memory("x", f"/kiln_test_{os.getpid()}_missing", 64),
         "Unable to open shared memory region"),
        (lambda: c.register_system_shared_memory("x", key, 200, offset=100), "is beyond the end of"),
        (lambda: c.register_system_shared_memory("x", key, 0), "byte_size must be greater than 0"),
        (lambda: c.register_system_shared_memory("x", key.lstrip("/"), 64), "must start with '/'"),
        (lambda: c.register_system_shared_memory("x", key + "/sub", 64), "no '/' after the first"),
        (lambda: c.register_system_shared_memory("x" * 300, key, 64), "the limit is 256"),
        (lambda: c.get_system_shared_memory_status("nope"), "Unable to find system shared memory region: 'nope'"),
    ]
    for fn, text in cases:
        code, msg = error_of(fn)
        assert code == "400" and text in msg, (code, msg, text)
    # Bodies tritonclient would not send.
    for body, text in ((b"[]", "must be a JSON object"), (b'{"byte_size": 8}', "no 'key' field"),
                       (b'{"key": "/k"}', "no 'byte_size' field"),
                       (b'{"key": "/k", "byte_size": -1}', "'byte_size' must be a non-negative integer")):
        st, out = server.status("/v2/systemsharedmemory/region/y/register", "POST", body)
        assert st == 400 and text in out.decode(), (st, out)
    assert server.status("/v2/systemsharedmemory/status", "POST")[0] == 405
    assert server.status("/v2/systemsharedmemory/region/dup/register")[0] == 405
    assert server.status("/v2/systemsharedmemory/region/dup/frobnicate")[0] == 404
    assert status_by_name(c, "http") == {"dup": (key, 0, 256)}
    assert_still_serving(server)


def test_register_errors_grpc(server, regions):
    c = client(server, "grpc")
    _, key = regions.create("errs_grpc", 256)
    c.register_system_shared_memory("dup", key, 256)
    assert error_of(lambda: c.register_system_shared_memory("dup", key, 64))[0] == "StatusCode.ALREADY_EXISTS"
    code, msg = error_of(lambda: c.register_system_shared_memory("x", f"/kiln_test_{os.getpid()}_missing", 64))
    assert code == "StatusCode.NOT_FOUND" and "Unable to open shared memory region" in msg, msg
    code, msg = error_of(lambda: c.register_system_shared_memory("x", key, 257))
    assert code == "StatusCode.INVALID_ARGUMENT" and "beyond the end" in msg, msg
    code, msg = error_of(lambda: c.get_system_shared_memory_status("nope"))
    assert code == "StatusCode.NOT_FOUND" and "'nope'" in msg, msg
    assert_still_serving(server)


def test_cuda_shared_memory_is_not_supported(server):
    code, msg = error_of(lambda: client(server, "http").get_cuda_shared_memory_status())
    assert code == "501" and "CUDA shared memory is not supported" in msg, (code, msg)
    st, body = server.status("/v2/cudasharedmemory/region/r/register", "POST", b'{"raw_handle": {"b64": ""}}')
    assert st == 501 and b"CUDA shared memory is not supported" in body
    code, msg = error_of(lambda: client(server, "grpc").get_cuda_shared_memory_status())
    assert code == "StatusCode.UNIMPLEMENTED" and "CUDA shared memory is not supported" in msg, (code, msg)
    # Nothing can be registered, so unregistering succeeds, as on Triton without GPUs.
    for c in (client(server, "http"), client(server, "grpc")):
        c.unregister_cuda_shared_memory()
        c.unregister_cuda_shared_memory("r")


# --- inference ----------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_inputs_and_outputs_in_shared_memory(server, regions, protocol):
    c = client(server, protocol)
    a = np.arange(16, dtype=np.float32).reshape(1, 16)
    b = np.linspace(-3, 5, 16, dtype=np.float32).reshape(1, 16)
    hin, kin = regions.create(f"in_{protocol}", 2 * VECTOR)
    hout, kout = regions.create(f"out_{protocol}", 2 * VECTOR)
    shm.set_shared_memory_region(hin, [a, b])
    c.register_system_shared_memory("input_data", kin, 2 * VECTOR)
    c.register_system_shared_memory("output_data", kout, 2 * VECTOR)
    r = c.infer("simple", shm_inputs(protocol, "input_data", 0, VECTOR), outputs=shm_outputs(protocol, "output_data"))
    np.testing.assert_array_equal(shm.get_contents_as_numpy(hout, np.float32, [1, 16]), a + b)
    np.testing.assert_array_equal(shm.get_contents_as_numpy(hout, np.float32, [1, 16], offset=VECTOR), a - b)
    # No data travels for outputs in shared memory: only name, datatype and shape, as Triton.
    if protocol == "http":
        outs = r.get_response()["outputs"]
        assert outs == [{"name": "OUTPUT0", "datatype": "FP32", "shape": [1, 16]},
                        {"name": "OUTPUT1", "datatype": "FP32", "shape": [1, 16]}]
    else:
        resp = r.get_response()
        assert [o.name for o in resp.outputs] == ["OUTPUT0", "OUTPUT1"]
        assert list(resp.raw_output_contents) == [b"", b""]  # one (empty) entry per output
    # The same regions again with other data: nothing is cached.
    shm.set_shared_memory_region(hin, [b, a])
    c.infer("simple", shm_inputs(protocol, "input_data", 0, VECTOR), outputs=shm_outputs(protocol, "output_data"))
    np.testing.assert_array_equal(shm.get_contents_as_numpy(hout, np.float32, [1, 16], offset=VECTOR), b - a)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_inputs_in_shared_memory_outputs_in_response(server, regions, protocol):
    c = client(server, protocol)
    a = np.arange(48, dtype=np.float32).reshape(3, 16)
    b = np.full((3, 16), 0.5, np.float32)
    h, key = regions.create(f"inonly_{protocol}", 4096 + 2 + 6 * VECTOR)
    shm.set_shared_memory_region(h, [a], offset=4096)
    shm.set_shared_memory_region(h, [b], offset=4096 + 2 + 3 * VECTOR)
    # Registered at a non-page-aligned offset, and INPUT1 at an odd address (copied, not viewed).
    c.register_system_shared_memory("inputs", key, 2 + 6 * VECTOR, offset=4096)
    ins = shm_inputs(protocol, "inputs", 0, 2 + 3 * VECTOR, shape=(3, 16), byte_size=3 * VECTOR)
    outs = [mod(protocol).InferRequestedOutput("OUTPUT0"), mod(protocol).InferRequestedOutput("OUTPUT1")]
    r = c.infer("simple", ins, outputs=outs)
    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a + b)
    np.testing.assert_array_equal(r.as_numpy("OUTPUT1"), a - b)
    # One output in shared memory, the other in the response.
    hout, kout = regions.create(f"oneout_{protocol}", 3 * VECTOR)
    c.register_system_shared_memory("out1", kout, 3 * VECTOR)
    o1 = mod(protocol).InferRequestedOutput("OUTPUT1")
    o1.set_shared_memory("out1", 3 * VECTOR)
    r = c.infer("simple", ins, outputs=[mod(protocol).InferRequestedOutput("OUTPUT0"), o1])
    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a + b)
    np.testing.assert_array_equal(shm.get_contents_as_numpy(hout, np.float32, [3, 16]), a - b)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_one_input_in_shared_memory_one_in_request(server, regions, protocol):
    """HTTP: a binary-extension request whose body carries only INPUT1; gRPC: raw_input_contents
    with one entry, INPUT1's (inputs in shared memory have none)."""
    c = client(server, protocol)
    a = np.arange(32, dtype=np.float32).reshape(2, 16)
    b = np.full((2, 16), 7, np.float32)
    h, key = regions.create(f"mixed_{protocol}", 2 * VECTOR)
    shm.set_shared_memory_region(h, [a])
    c.register_system_shared_memory("in0", key, 2 * VECTOR)
    i0 = mod(protocol).InferInput("INPUT0", [2, 16], "FP32")
    i0.set_shared_memory("in0", 2 * VECTOR)
    i1 = mod(protocol).InferInput("INPUT1", [2, 16], "FP32")
    i1.set_data_from_numpy(b)  # binary data on HTTP (tritonclient's default)
    r = c.infer("simple", [i0, i1])
    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a + b)
    np.testing.assert_array_equal(r.as_numpy("OUTPUT1"), a - b)


def test_grpc_stream_with_shared_memory(server, regions):
    c = client(server, "grpc")
    hin, kin = regions.create("stream_in", 2 * VECTOR)
    hout, kout = regions.create("stream_out", 4 * VECTOR)
    c.register_system_shared_memory("s_in", kin, 2 * VECTOR)
    c.register_system_shared_memory("s_out", kout, 4 * VECTOR)
    a = np.full((1, 16), 10, np.float32)
    b = np.arange(16, dtype=np.float32).reshape(1, 16)
    shm.set_shared_memory_region(hin, [a, b])
    results = []
    done = threading.Event()

    def on_result(result, error):
        results.append((result, error))
        if len(results) == 3:
            done.set()

    c.start_stream(callback=on_result)
    try:
        # Two requests writing to different halves of the output region, then a bad one.
        c.async_stream_infer("simple", shm_inputs("grpc", "s_in", 0, VECTOR),
                             outputs=shm_outputs("grpc", "s_out", (0, VECTOR)), request_id="1")
        c.async_stream_infer("simple", shm_inputs("grpc", "s_in", VECTOR, 0),
                             outputs=shm_outputs("grpc", "s_out", (2 * VECTOR, 3 * VECTOR)), request_id="2")
        c.async_stream_infer("simple", shm_inputs("grpc", "nope", 0, VECTOR), request_id="3")
        assert done.wait(30), results
    finally:
        c.stop_stream()
    assert [e is None for _, e in results] == [True, True, False], results
    assert "Unable to find shared memory region: 'nope'" in str(results[2][1])
    got = [shm.get_contents_as_numpy(hout, np.float32, [1, 16], offset=k * VECTOR) for k in range(4)]
    for x, y in zip(got, (a + b, a - b, b + a, b - a)):
        np.testing.assert_array_equal(x, y)


def test_bytes_tensors_in_shared_memory(server, regions):
    c = client(server, "http")
    text = np.array([b"kiln", b"", b"shared memory"], dtype=np.object_)
    data = serialize_byte_tensor(text)  # a 0-d object array holding the 4-byte-length + bytes form
    size = len(data.item())
    hin, kin = regions.create("bytes_in", size)
    hout, kout = regions.create("bytes_out", size)
    shm.set_shared_memory_region(hin, [data])
    c.register_system_shared_memory("text_in", kin, size)
    c.register_system_shared_memory("text_out", kout, size)
    i = th.InferInput("TEXT", [3], "BYTES")
    i.set_shared_memory("text_in", size)
    o = th.InferRequestedOutput("ECHO")
    o.set_shared_memory("text_out", size)
    c.infer("bytes_identity", [i], outputs=[o])
    got = shm.get_contents_as_numpy(hout, np.object_, [3])
    assert list(got) == list(text)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_inference_errors(server, regions, protocol):
    c = client(server, protocol)
    h, key = regions.create(f"ierr_{protocol}", 2 * VECTOR)
    shm.set_shared_memory_region(h, [np.ones((1, 32), np.float32)])
    c.register_system_shared_memory("r", key, 2 * VECTOR)
    c.register_system_shared_memory("small", key, VECTOR // 2)
    bad = "400" if protocol == "http" else "StatusCode.INVALID_ARGUMENT"
    cases = [
        ("unknown region", lambda: c.infer("simple", shm_inputs(protocol, "nope", 0, VECTOR)),
         "Unable to find shared memory region: 'nope'"),
        ("byte size mismatch", lambda: c.infer("simple", shm_inputs(protocol, "r", 0, VECTOR, byte_size=VECTOR - 4)),
         "input byte size mismatch for input 'INPUT0' for model 'simple'. Expected 64, got 60"),
        ("range outside the region", lambda: c.infer("simple", shm_inputs(protocol, "r", 0, VECTOR + 4)),
         "Invalid offset + byte size for shared memory region: 'r'"),
        ("offset outside the region", lambda: c.infer("simple", shm_inputs(protocol, "r", 0, 4 * VECTOR)),
         "Invalid offset for shared memory region: 'r'"),
        ("output region too small", lambda: c.infer("simple", shm_inputs(protocol, "r", 0, VECTOR),
                                                    outputs=shm_outputs(protocol, "small", (0, 0), VECTOR // 2)),
         "should be at least 64 bytes to hold the results"),
        ("output range outside the region", lambda: c.infer("simple", shm_inputs(protocol, "r", 0, VECTOR),
                                                            outputs=shm_outputs(protocol, "small", (0, 0))),
         "Invalid offset + byte size for shared memory region: 'small'"),
    ]
    for what, fn, text in cases:
        code, msg = error_of(fn)
        assert code == bad and text in msg, (what, code, msg)
        assert_still_serving(server)


def test_data_in_request_and_shared_memory_is_refused(server, regions):
    import json
    _, key = regions.create("both", VECTOR)
    client(server, "http").register_system_shared_memory("both", key, VECTOR)
    shm_param = {"shared_memory_region": "both", "shared_memory_byte_size": VECTOR}
    body = {"inputs": [{"name": "INPUT0", "shape": [1, 16], "datatype": "FP32", "data": [0.0] * 16,
                        "parameters": shm_param},
                       {"name": "INPUT1", "shape": [1, 16], "datatype": "FP32", "parameters": shm_param}]}
    st, out = server.status("/v2/models/simple/infer", "POST", json.dumps(body).encode())
    assert st == 400 and "shared memory" in out.decode() and "send one" in out.decode(), out
    body["inputs"][0]["parameters"] = {"shared_memory_region": "both"}
    del body["inputs"][0]["data"]
    st, out = server.status("/v2/models/simple/infer", "POST", json.dumps(body).encode())
    assert st == 400 and "'shared_memory_byte_size' is missing" in out.decode(), out


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unregister_while_in_use(server, regions, protocol):
    """A request keeps the regions it was accepted with: unregistering them meanwhile removes only
    the names, the request still reads its inputs and writes its outputs; later requests that
    name them fail cleanly until they are registered again."""
    c = client(server, protocol)
    a = np.full((1, 16), 4, np.float32)
    b = np.full((1, 16), 1, np.float32)
    hin, kin = regions.create(f"busy_in_{protocol}", 2 * VECTOR)
    hout, kout = regions.create(f"busy_out_{protocol}", 2 * VECTOR)
    shm.set_shared_memory_region(hin, [a, b])
    c.register_system_shared_memory("busy_in", kin, 2 * VECTOR)
    c.register_system_shared_memory("busy_out", kout, 2 * VECTOR)
    result = {}

    def run():  # slow_small executes for 800 ms; each thread needs its own client (gevent)
        try:
            result["r"] = client(server, protocol).infer("slow_small", shm_inputs(protocol, "busy_in", 0, VECTOR),
                                                         outputs=shm_outputs(protocol, "busy_out"))
        except Exception as e:  # noqa: BLE001 (reported below)
            result["e"] = e

    t = threading.Thread(target=run)
    t.start()
    wait_pending(server, "slow_small", 1)
    c.unregister_system_shared_memory()
    assert status_by_name(c, protocol) == {}
    t.join(30)
    assert "e" not in result, result.get("e")
    np.testing.assert_array_equal(shm.get_contents_as_numpy(hout, np.float32, [1, 16]), a + b)
    np.testing.assert_array_equal(shm.get_contents_as_numpy(hout, np.float32, [1, 16], offset=VECTOR), a - b)
    code, msg = error_of(lambda: c.infer("simple", shm_inputs(protocol, "busy_in", 0, VECTOR)))
    assert "Unable to find shared memory region: 'busy_in'" in msg, (code, msg)
    c.register_system_shared_memory("busy_in", kin, 2 * VECTOR)
    r = c.infer("simple", shm_inputs(protocol, "busy_in", 0, VECTOR))
    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a + b)


# --- Triton's load generator --------------------------------------------------------------------

PERF_ANALYZER = ROOT / ".venv" / "bin" / "perf_analyzer"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_perf_analyzer_system_shared_memory(server, protocol):
    if not PERF_ANALYZER.exists():
        pytest.skip("perf_analyzer is not installed in the project venv (scripts/setup.sh)")
    url = server.http_url if protocol == "http" else server.grpc_url
    # Correctness, not speed: a loose stability threshold so that a busy machine cannot fail it.
    cmd = [str(PERF_ANALYZER), "-m", "simple", "-u", url, "-i", protocol, "--shared-memory", "system",
           "--concurrency-range", "2:2", "--measurement-mode", "count_windows", "--measurement-request-count", "50",
           "-s", "1000", "-r", "10"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    assert "Throughput" in out, out[-3000:]
    assert "Unable to" not in out, out[-3000:]  # e.g. "Unable to unregister all shared memory regions"
    # perf_analyzer unregisters what it registered.
    assert client(server, "http").get_system_shared_memory_status() == []
