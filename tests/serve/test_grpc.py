"""`kiln serve` over gRPC (inference.GRPCInferenceService): the real server process (conftest.py),
talked to with tritonclient.grpc, plus the generated stub directly for what that client does not
send (typed contents, mismatched raw contents). Every RPC, raw and typed tensor contents, BYTES,
FP16, streaming in order with errors mid-stream, status codes as Triton maps them (the server keeps
serving after each), messages over gRPC's default 4 MiB limit, and the configured size limit."""
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import bytes_identity, KilnServer, make_repository, write_simple, _save

tg = pytest.importorskip("tritonclient.grpc")
import grpc  # noqa: E402  (tritonclient.grpc depends on it)
from tritonclient.grpc import service_pb2, service_pb2_grpc  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

MAX_BODY = 32 << 20  # --max-body-bytes of this module's server


# --- models of this module, next to conftest's standard repository ------------------------------

def _two_input_model(name, dtype, op_out):
    """IN0, IN1 [n] of `dtype` -> OUT0 = IN0 + IN1, OUT1 = IN0 - IN1 (or Identity of IN0)."""
    from onnx import helper
    ins = [helper.make_tensor_value_info(n, dtype, ["n"]) for n in ("IN0", "IN1")]
    outs = [helper.make_tensor_value_info(n, dtype, ["n"]) for n in ("OUT0", "OUT1")]
    nodes = [helper.make_node(op_out[0], ["IN0", "IN1"], ["OUT0"]), helper.make_node(op_out[1], ["IN0", "IN1"], ["OUT1"])]
    m = helper.make_model(helper.make_graph(nodes, name, ins, outs), opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def make_grpc_repository(root):
    from onnx import TensorProto
    repo = make_repository(root)
    # No batching, any length: large tensors in one request. (Without a config, auto-complete would
    # take the dynamic first dim as a batch dim, as Triton does.)
    _save(_two_input_model("wide", TensorProto.FLOAT, ("Add", "Sub")), repo / "wide" / "1" / "model.onnx")
    (repo / "wide" / "config.pbtxt").write_text(
        'max_batch_size: 0\n'
        'input [ { name: "IN0" data_type: TYPE_FP32 dims: [ -1 ] }, { name: "IN1" data_type: TYPE_FP32 dims: [ -1 ] } ]\n'
        'output [ { name: "OUT0" data_type: TYPE_FP32 dims: [ -1 ] }, { name: "OUT1" data_type: TYPE_FP32 dims: [ -1 ] } ]\n'
        'parameters { key: "max_shapes" value: { string_value: "IN0:4194304,IN1:4194304" } }\n'
        'parameters { key: "opt_shapes" value: { string_value: "IN0:1024,IN1:1024" } }\n')
    _save(_two_input_model("int_add", TensorProto.INT32, ("Add", "Sub")), repo / "int_add" / "1" / "model.onnx")
    _save(bytes_identity(), repo / "bytes_identity" / "1" / "model.onnx")
    return repo


@pytest.fixture(scope="module")
def gserver(kiln_bin, tmp_path_factory):
    s = KilnServer(kiln_bin, make_grpc_repository(tmp_path_factory.mktemp("grpc") / "models"),
                   [f"--max-body-bytes={MAX_BODY}"])
    if not s.grpc_port:
        s.stop()
        pytest.skip("this kiln build has no gRPC frontend")
    yield s
    s.stop()


def client(server):
    return tg.InferenceServerClient(server.grpc_url)


def stub(server):
    """The generated stub on a channel without client-side size limits."""
    ch = grpc.insecure_channel(server.grpc_url, options=[("grpc.max_receive_message_length", -1),
                                                         ("grpc.max_send_message_length", -1)])
    return service_pb2_grpc.GRPCInferenceServiceStub(ch), ch


def fp32_inputs(a, b, names=("INPUT0", "INPUT1")):
    out = []
    for n, x in zip(names, (a, b)):
        i = tg.InferInput(n, list(x.shape), "FP32")
        i.set_data_from_numpy(x)
        out.append(i)
    return out


def int32_input(name, x):
    i = tg.InferInput(name, list(x.shape), "INT32")
    i.set_data_from_numpy(x.astype(np.int32))
    return i


def assert_still_serving(server):
    a = np.full((1, 16), 3, np.float32)
    r = client(server).infer("simple", fp32_inputs(a, a))
    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a + a)


def grpc_error(fn):
    with pytest.raises(InferenceServerException) as e:
        fn()
    return e.value.status(), e.value.message()


# --- health, metadata, configuration, index, statistics ------------------------------------------

def test_health_and_server_metadata(gserver):
    c = client(gserver)
    assert c.is_server_live() and c.is_server_ready()
    md = c.get_server_metadata(as_json=True)
    assert md["name"] == "kiln" and md["version"]
    assert "model_repository" in md["extensions"] and "statistics" in md["extensions"]
    assert c.is_model_ready("simple") and c.is_model_ready("simple", "1")
    assert not c.is_model_ready("nope") and not c.is_model_ready("simple", "9")


def test_model_metadata_and_config(gserver):
    c = client(gserver)
    md = c.get_model_metadata("simple", as_json=True)
    assert md["name"] == "simple" and md["versions"] == ["1"]
    assert [(t["name"], t["datatype"], t["shape"]) for t in md["inputs"]] == \
        [("INPUT0", "FP32", ["-1", "16"]), ("INPUT1", "FP32", ["-1", "16"])]  # int64 as JSON strings
    assert [t["name"] for t in md["outputs"]] == ["OUTPUT0", "OUTPUT1"]
    cfg = c.get_model_config("simple").config  # a real ModelConfig message, Triton's field numbers
    assert cfg.name == "simple" and cfg.max_batch_size == 8
    assert [i.name for i in cfg.input] == ["INPUT0", "INPUT1"] and list(cfg.input[0].dims) == [16]
    assert cfg.input[0].data_type == 11  # TYPE_FP32
    assert cfg.HasField("dynamic_batching")
    assert cfg.instance_group[0].count == 2
    assert cfg.parameters["execute_delay_ms"].string_value == "0"
    # Auto-completed (tiny_cnn has no config.pbtxt).
    t = c.get_model_config("tiny_cnn").config
    assert [i.name for i in t.input] == ["image"] and list(t.input[0].dims) == [3, 32, 32]


def test_repository_index(gserver):
    idx = {m["name"]: m for m in client(gserver).get_model_repository_index(as_json=True)["models"]}
    assert {"simple", "tiny_cnn", "wide", "bytes_identity"} <= set(idx)
    assert all(m["state"] == "READY" for m in idx.values())


def test_statistics_count_grpc_inferences(gserver):
    c = client(gserver)

    def stats():
        s = c.get_inference_statistics("simple", as_json=True)["model_stats"][0]
        return int(s.get("inference_count", 0)), int(s["inference_stats"]["success"].get("count", 0))

    before = stats()
    a = np.ones((3, 16), np.float32)
    for _ in range(4):
        c.infer("simple", fp32_inputs(a, a))
    after = stats()
    assert after[0] - before[0] == 12  # inferences count batch elements
    assert after[1] - before[1] == 4   # successes count requests
    all_models = c.get_inference_statistics(as_json=True)["model_stats"]
    assert {"simple", "tiny_cnn"} <= {m["name"] for m in all_models}


# --- inference ------------------------------------------------------------------------------------

def test_infer_raw_contents(gserver):
    c = client(gserver)
    a = np.arange(32, dtype=np.float32).reshape(2, 16)
    b = np.full((2, 16), 0.5, np.float32)
    r = c.infer("simple", fp32_inputs(a, b), request_id="req-7")
    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a + b)
    np.testing.assert_array_equal(r.as_numpy("OUTPUT1"), a - b)
    resp = r.get_response()
    assert resp.id == "req-7" and resp.model_name == "simple" and resp.model_version == "1"
    assert len(resp.raw_output_contents) == 2
    # One output requested: only that one comes back.
    r = c.infer("simple", fp32_inputs(a, b), outputs=[tg.InferRequestedOutput("OUTPUT1")])
    assert [o.name for o in r.get_response().outputs] == ["OUTPUT1"]
    np.testing.assert_array_equal(r.as_numpy("OUTPUT1"), a - b)


def test_infer_typed_contents_reply_raw(gserver):
    s, ch = stub(gserver)
    q = service_pb2.ModelInferRequest(model_name="int_add", id="typed")
    for name, vals in (("IN0", [1, -2, 2**31 - 1]), ("IN1", [10, 20, 5])):
        t = q.inputs.add(name=name, datatype="INT32", shape=[3])
        t.contents.int_contents.extend(vals)
    r = s.ModelInfer(q, timeout=30)
    assert r.id == "typed" and [o.name for o in r.outputs] == ["OUT0", "OUT1"]
    assert all(not o.HasField("contents") for o in r.outputs)  # always raw_output_contents
    np.testing.assert_array_equal(np.frombuffer(r.raw_output_contents[1], np.int32), [-9, -22, 2**31 - 6])
    # FP32 typed contents on the batching model.
    q = service_pb2.ModelInferRequest(model_name="simple")
    for name in ("INPUT0", "INPUT1"):
        q.inputs.add(name=name, datatype="FP32", shape=[1, 16]).contents.fp32_contents.extend(range(16))
    r = s.ModelInfer(q, timeout=30)
    np.testing.assert_array_equal(np.frombuffer(r.raw_output_contents[0], np.float32), np.arange(16) * 2)
    ch.close()


def test_bytes_raw_and_typed(gserver):
    c = client(gserver)
    x = np.array([b"kiln", b"", b"\x00\xffbinary", "ünï".encode()], dtype=np.object_)
    i = tg.InferInput("TEXT", [4], "BYTES")
    i.set_data_from_numpy(x)  # raw_input_contents, 4-byte length prefixes
    np.testing.assert_array_equal(c.infer("bytes_identity", [i]).as_numpy("ECHO"), x)
    s, ch = stub(gserver)
    q = service_pb2.ModelInferRequest(model_name="bytes_identity")
    q.inputs.add(name="TEXT", datatype="BYTES", shape=[2]).contents.bytes_contents.extend([b"ab", b"c"])
    r = s.ModelInfer(q, timeout=30)
    assert r.raw_output_contents[0] == b"\x02\x00\x00\x00ab\x01\x00\x00\x00c"
    ch.close()


def test_fp16_raw(gserver):
    x = np.array([[0.5, -2, 65504, 1e-3]], np.float16)
    i = tg.InferInput("INPUT", [1, 4], "FP16")
    i.set_data_from_numpy(x)
    np.testing.assert_array_equal(client(gserver).infer("identity_fp16", [i]).as_numpy("OUTPUT"), x)


def test_tiny_cnn_matches_onnxruntime(gserver):
    ort = pytest.importorskip("onnxruntime")
    x = np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype(np.float32)
    i = tg.InferInput("image", list(x.shape), "FP32")
    i.set_data_from_numpy(x)
    got = client(gserver).infer("tiny_cnn", [i]).as_numpy("probs")
    root = Path(__file__).resolve().parents[2]
    want = ort.InferenceSession(str(root / "models" / "tiny_cnn.onnx")).run(None, {"image": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_tensors_over_the_default_4mb_limit(gserver):
    n = 3 << 20  # 12 MiB per FP32 input: 24 MiB in, 24 MiB out (gRPC's default limit is 4 MiB)
    a = np.arange(n, dtype=np.float32)
    b = np.ones(n, np.float32)
    r = client(gserver).infer("wide", fp32_inputs(a, b, ("IN0", "IN1")))
    out = r.as_numpy("OUT0")
    assert out.shape == (n,) and out[0] == 1 and out[-1] == a[-1] + 1
    np.testing.assert_array_equal(r.as_numpy("OUT1")[:5], a[:5] - 1)


def test_message_over_the_configured_limit(gserver):
    n = (MAX_BODY // 4) // 2 + 1024  # two inputs: just over --max-body-bytes together
    a = np.zeros(n, np.float32)
    code, msg = grpc_error(lambda: client(gserver).infer("wide", fp32_inputs(a, a, ("IN0", "IN1"))))
    assert code == "StatusCode.RESOURCE_EXHAUSTED", (code, msg)
    assert_still_serving(gserver)


# --- errors: Triton's codes, and the server keeps serving ----------------------------------------

def test_error_codes(gserver):
    c = client(gserver)
    a = np.ones((1, 16), np.float32)
    cases = [
        ("unknown model", lambda: c.infer("nope", fp32_inputs(a, a)),
         "StatusCode.INVALID_ARGUMENT", "unknown model: 'nope'"),
        ("unknown version", lambda: c.infer("simple", fp32_inputs(a, a), model_version="9"),
         "StatusCode.INVALID_ARGUMENT", "version 9"),
        ("wrong shape", lambda: c.infer("simple", fp32_inputs(a[:, :15], a[:, :15])),
         "StatusCode.INVALID_ARGUMENT", "unexpected shape for input 'INPUT0'"),
        ("wrong datatype", lambda: c.infer("simple", [int32_input("INPUT0", a), fp32_inputs(a, a)[1]]),
         "StatusCode.INVALID_ARGUMENT", "data-type is 'INT32'"),
        ("missing input", lambda: c.infer("simple", fp32_inputs(a, a)[:1]),
         "StatusCode.INVALID_ARGUMENT", "'INPUT1' is missing"),
        ("batch over max", lambda: c.infer("simple", fp32_inputs(np.ones((9, 16), np.float32),
                                                                 np.ones((9, 16), np.float32))),
         "StatusCode.INVALID_ARGUMENT", "batch-size must be <= 8"),
        ("metadata of unknown model", lambda: c.get_model_metadata("nope"),
         "StatusCode.INVALID_ARGUMENT", "unknown model"),
        ("load with model control off", lambda: c.load_model("simple"),
         "StatusCode.UNAVAILABLE", "model control is disabled"),
        ("CUDA shared memory", lambda: c.get_cuda_shared_memory_status(),
         "StatusCode.UNIMPLEMENTED", "CUDA shared memory is not supported"),
    ]
    for what, fn, code, text in cases:
        got_code, msg = grpc_error(fn)
        assert got_code == code and text in msg, (what, got_code, msg)
        assert_still_serving(gserver)


def test_error_malformed_tensor_contents(gserver):
    s, ch = stub(gserver)

    def call(q):
        with pytest.raises(grpc.RpcError) as e:
            s.ModelInfer(q, timeout=30)
        return e.value.code(), e.value.details()

    q = service_pb2.ModelInferRequest(model_name="simple")
    for name in ("INPUT0", "INPUT1"):
        q.inputs.add(name=name, datatype="FP32", shape=[1, 16])
        q.raw_input_contents.append(b"\0" * 60)  # 15 floats for 16
    code, msg = call(q)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "has 60 bytes but FP32 [1,16] needs 64" in msg, msg

    q = service_pb2.ModelInferRequest(model_name="simple")  # raw for one input only
    q.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 16])
    q.inputs.add(name="INPUT1", datatype="FP32", shape=[1, 16])
    q.raw_input_contents.append(b"\0" * 64)
    code, msg = call(q)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "raw_input_contents has 1 entries" in msg, msg

    q = service_pb2.ModelInferRequest(model_name="bytes_identity")  # BYTES length past the end
    q.inputs.add(name="TEXT", datatype="BYTES", shape=[1])
    q.raw_input_contents.append(b"\x09\x00\x00\x00abc")
    code, msg = call(q)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "declares 9 bytes but only 3 remain" in msg, msg

    q = service_pb2.ModelInferRequest(model_name="simple")
    q.inputs.add(name="INPUT0", datatype="FP32", shape=[1, -16])
    code, msg = call(q)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "negative dimension" in msg, msg
    ch.close()
    assert_still_serving(gserver)


def test_full_queue_is_unavailable(gserver):
    # slow_small: one instance, 300 ms per execution, max_queue_size 2.
    c = client(gserver)
    a = np.ones((8, 16), np.float32)  # a full batch each: nothing merges
    results = []
    lock = threading.Lock()

    def done(result, error):
        with lock:
            results.append(error)

    for _ in range(8):
        c.async_infer("slow_small", fp32_inputs(a, a), done)
    deadline = time.time() + 30
    while time.time() < deadline and len(results) < 8:
        time.sleep(0.05)
    assert len(results) == 8
    rejected = [e for e in results if e is not None]
    assert rejected, "nothing was rejected"
    assert all(e.status() == "StatusCode.UNAVAILABLE" for e in rejected), [e.status() for e in rejected]
    assert 8 - len(rejected) >= 2  # the ones that fit were served
    assert_still_serving(gserver)


# --- concurrency and streaming -------------------------------------------------------------------

def test_async_infer_exactly_once(gserver):
    """200 concurrent requests on the batching model: each answered once, with its own result."""
    c = client(gserver)
    n = 200
    got = {}
    lock = threading.Lock()
    all_done = threading.Event()

    twice = []

    def cb(k, result, error):  # runs on a client thread: record, assert later
        with lock:
            if k in got:
                twice.append(k)
            got[k] = (result, error)
            if len(got) == n:
                all_done.set()

    for k in range(n):
        a = np.full((1, 16), k, np.float32)
        c.async_infer("batching", fp32_inputs(a, a), lambda result, error, k=k: cb(k, result, error), request_id=str(k))
    assert all_done.wait(60), f"{len(got)} of {n} answered"
    time.sleep(0.2)
    assert not twice, f"answered twice: {twice}"
    for k, (r, e) in got.items():
        assert e is None, e
        assert r.get_response().id == str(k)
        assert r.as_numpy("OUTPUT0")[0, 0] == 2 * k
    s = c.get_inference_statistics("batching", as_json=True)["model_stats"][0]
    assert int(s["execution_count"]) < int(s["inference_count"])  # the dynamic batcher merged some


def test_stream_infer_in_order_with_errors(gserver):
    c = client(gserver)
    results = []
    done = threading.Event()
    n = 40
    bad = {7: "unknown model", 13: "unexpected shape"}

    def cb(result, error):
        results.append((result, error))
        if len(results) == n:
            done.set()

    c.start_stream(callback=cb)
    for k in range(n):
        a = np.full((1, 16), k, np.float32)
        # Two models, one of them batching with a queue delay: responses complete out of order.
        model = "batching" if k % 2 else "simple"
        inputs = fp32_inputs(a, a)
        if k == 7:
            model = "nope"
        elif k == 13:
            inputs = fp32_inputs(a[:, :8], a[:, :8])
        c.async_stream_infer(model, inputs, request_id=str(k))
    assert done.wait(60), f"{len(results)} of {n} answered"
    c.stop_stream()
    for k, (r, e) in enumerate(results):
        if k in bad:
            assert r is None and e is not None and bad[k] in e.message(), (k, e)
        else:
            assert e is None, (k, e)
            resp = r.get_response()
            assert resp.id == str(k), f"response {k} has id {resp.id}: out of order"
            assert r.as_numpy("OUTPUT0")[0, 0] == 2 * k
    assert_still_serving(gserver)


def test_stream_malformed_request_is_a_message(gserver):
    """A request the frontend cannot even convert is answered in its place, with its id, and the
    stream goes on."""
    s, ch = stub(gserver)
    good = service_pb2.ModelInferRequest(model_name="simple", id="good")
    for name in ("INPUT0", "INPUT1"):
        good.inputs.add(name=name, datatype="FP32", shape=[1, 16])
        good.raw_input_contents.append(np.ones(16, np.float32).tobytes())
    bad = service_pb2.ModelInferRequest(model_name="simple", id="bad")
    bad.inputs.add(name="INPUT0", datatype="FP99", shape=[1])
    responses = list(s.ModelStreamInfer(iter([good, bad, good]), timeout=30))
    assert [r.infer_response.id for r in responses] == ["good", "bad", "good"]
    assert responses[0].error_message == "" and responses[2].error_message == ""
    assert "unknown datatype 'FP99'" in responses[1].error_message
    ch.close()


# --- servers of their own: model control, authentication, draining -------------------------------

def test_model_control_explicit(start_server, tmp_path):
    repo = make_repository(tmp_path / "repo", ["simple", "tiny_cnn"])
    s = start_server(repo, "--model-control-mode=explicit", "--load-model=simple")
    c = client(s)
    assert c.is_model_ready("simple") and not c.is_model_ready("tiny_cnn")
    c.load_model("tiny_cnn")
    assert c.is_model_ready("tiny_cnn")
    c.unload_model("simple")
    assert not c.is_model_ready("simple")
    idx = {m.name: m.state for m in c.get_model_repository_index().models}
    assert idx == {"simple": "UNAVAILABLE", "tiny_cnn": "READY"}
    code, msg = grpc_error(lambda: c.load_model("does_not_exist"))
    assert code != "StatusCode.OK" and "does_not_exist" in msg
    code, msg = grpc_error(lambda: c.load_model("../escape"))
    assert code == "StatusCode.INVALID_ARGUMENT", (code, msg)
    # Load with a JSON config override, as tritonclient sends it (parameters["config"]).
    c.load_model("simple", config=json.dumps({
        "max_batch_size": 4, "dynamic_batching": {},
        "input": [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [16]},
                  {"name": "INPUT1", "data_type": "TYPE_FP32", "dims": [16]}]}))
    assert c.get_model_config("simple").config.max_batch_size == 4
    assert_still_serving(s)


def test_bearer_token(start_server, tmp_path):
    s = start_server(make_repository(tmp_path / "repo", ["simple"]), "--http-token=s3cret", token="s3cret")
    c = client(s)
    code, msg = grpc_error(lambda: c.is_server_live())
    assert code == "StatusCode.UNAUTHENTICATED" and "authorization" in msg
    code, msg = grpc_error(lambda: c.is_server_live(headers={"authorization": "Bearer nope"}))
    assert code == "StatusCode.UNAUTHENTICATED" and "invalid bearer token" in msg
    auth = {"authorization": "Bearer s3cret"}
    assert c.is_server_live(headers=auth)
    a = np.ones((1, 16), np.float32)
    assert c.infer("simple", fp32_inputs(a, a), headers=auth).as_numpy("OUTPUT0")[0, 0] == 2
    errors = []
    c.start_stream(callback=lambda result, error: errors.append(error), headers={"authorization": "Bearer nope"})
    try:
        c.async_stream_infer("simple", fp32_inputs(a, a))
    except InferenceServerException:
        pass  # the stream already ended: the refusal is in the callback
    deadline = time.time() + 10
    while not errors and time.time() < deadline:
        time.sleep(0.05)
    c.stop_stream()
    assert errors and errors[0] is not None and "UNAUTHENTICATED" in str(errors[0].status())


def test_sigterm_answers_requests_in_flight(start_server, tmp_path):
    repo = tmp_path / "repo"
    write_simple(repo, "slow", instances=1, exec_ms=150)
    s = start_server(repo, "--exit-timeout-secs=30")
    c = client(s)
    a = np.ones((8, 16), np.float32)
    results = []
    for _ in range(5):
        c.async_infer("slow", fp32_inputs(a, a), lambda result, error: results.append(error))
    stream_results = []
    c.start_stream(callback=lambda result, error: stream_results.append(error))
    for _ in range(3):
        c.async_stream_infer("slow", fp32_inputs(a, a))
    time.sleep(0.3)  # everything is queued or running
    s.proc.send_signal(15)
    assert s.proc.wait(30) == 0, s.log()
    deadline = time.time() + 10
    while (len(results) < 5 or len(stream_results) < 3) and time.time() < deadline:
        time.sleep(0.05)
    c.stop_stream()
    assert results == [None] * 5, results
    # Each stream request answered; then the server ends the open stream (the client kept it open).
    assert stream_results[:3] == [None] * 3, stream_results
    assert all(e.status() == "StatusCode.UNAVAILABLE" for e in stream_results[3:]), stream_results
