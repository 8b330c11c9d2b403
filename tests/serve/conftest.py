"""Fixtures for the `kiln serve` tests: a model repository in a temp dir, and the real server
process started on free ports.

How to use (tests/serve/test_*.py, HTTP and gRPC alike):

    def test_x(server):                 # module-scoped server on the standard repository
        server.http_url                 # "127.0.0.1:PORT" (tritonclient.http url)
        server.grpc_url                 # "127.0.0.1:PORT" (tritonclient.grpc url), None without gRPC
        server.metrics_url              # "http://127.0.0.1:PORT/metrics"
        server.http_port, server.grpc_port, server.metrics_port
        server.log()                    # the server's stderr so far (its log)

    def test_y(start_server, tmp_path):  # a server of your own, stopped after the test
        repo = make_repository(tmp_path / "repo", ["simple"])
        s = start_server(repo, "--model-control-mode=explicit", "--load-model=simple")
        rc = s.stop()                   # SIGTERM, waits; returns the exit code

Models in the standard repository (make_repository), all float32 unless said:
  simple      INPUT0, INPUT1 [-1,16] -> OUTPUT0 = sum, OUTPUT1 = difference; max_batch_size 8,
              dynamic batching, config parameter execute_delay_ms 0
  batching    same graph; one instance, execute_delay_ms 20, max_queue_delay 50 ms: concurrent
              requests pile up and are batched (statistics show fewer executions than inferences)
  tiny_cnn    models/tiny_cnn.onnx with no config.pbtxt (auto-completed): image [-1,3,32,32] -> probs [-1,10]
  identity_fp16  INPUT [-1,4] FP16 -> OUTPUT (Identity); FP16 travels only as binary data
  slow_small  like `simple`, max_queue_size 2, execute_delay_ms 800: fills up and rejects
The kiln binary comes from $KILN_BIN (ctest sets it), else build/tools/kiln.
"""
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def kiln_binary():
    p = os.environ.get("KILN_BIN") or str(ROOT / "build" / "tools" / "kiln")
    return p if os.path.exists(p) else None


# ---------------------------------------------------------------------------------------------
# Models

def bytes_identity():
    """A model echoing a STRING (BYTES) tensor: TEXT -> ECHO, dynamic length."""
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Identity", ["TEXT"], ["ECHO"])], "bytes_identity",
                          [helper.make_tensor_value_info("TEXT", TensorProto.STRING, ["n"])],
                          [helper.make_tensor_value_info("ECHO", TensorProto.STRING, ["n"])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _save(model, path):
    import onnx
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def add_sub_model(width=16):
    import onnx
    from onnx import TensorProto, helper
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", width]) for n in ("INPUT0", "INPUT1")]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", width]) for n in ("OUTPUT0", "OUTPUT1")]
    nodes = [helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
             helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"])]
    m = helper.make_model(helper.make_graph(nodes, "add_sub", ins, outs),
                          opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def identity_fp16_model():
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Identity", ["INPUT"], ["OUTPUT"])], "id16",
                          [helper.make_tensor_value_info("INPUT", TensorProto.FLOAT16, ["batch", 4])],
                          [helper.make_tensor_value_info("OUTPUT", TensorProto.FLOAT16, ["batch", 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


SIMPLE_CONFIG = """
name: "{name}"
max_batch_size: 8
input [ {{ name: "INPUT0" data_type: TYPE_FP32 dims: [ 16 ] }},
        {{ name: "INPUT1" data_type: TYPE_FP32 dims: [ 16 ] }} ]
output [ {{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 16 ] }},
         {{ name: "OUTPUT1" data_type: TYPE_FP32 dims: [ 16 ] }} ]
instance_group [ {{ count: {instances} kind: KIND_CPU }} ]
dynamic_batching {{
  max_queue_delay_microseconds: {delay_us}
  {queue}
}}
parameters {{ key: "execute_delay_ms" value: {{ string_value: "{exec_ms}" }} }}
"""


def write_simple(repo, name="simple", version=1, instances=2, delay_us=0, exec_ms=0, queue=""):
    d = Path(repo) / name
    _save(add_sub_model(), d / str(version) / "model.onnx")
    (d / "config.pbtxt").write_text(SIMPLE_CONFIG.format(name=name, instances=instances, delay_us=delay_us,
                                                          exec_ms=exec_ms, queue=queue))
    return d


def make_repository(repo, models=("simple", "batching", "tiny_cnn", "identity_fp16", "slow_small")):
    repo = Path(repo)
    repo.mkdir(parents=True, exist_ok=True)
    for m in models:
        if m == "simple":
            write_simple(repo, "simple")
        elif m == "batching":
            write_simple(repo, "batching", instances=1, delay_us=50000, exec_ms=20)
        elif m == "slow_small":
            write_simple(repo, "slow_small", instances=1, exec_ms=800,
                         queue="default_queue_policy { max_queue_size: 2 }")
        elif m == "tiny_cnn":
            (repo / "tiny_cnn" / "1").mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / "models" / "tiny_cnn.onnx", repo / "tiny_cnn" / "1" / "model.onnx")
        elif m == "identity_fp16":
            _save(identity_fp16_model(), repo / "identity_fp16" / "1" / "model.onnx")
        else:
            raise ValueError(m)
    return repo


# ---------------------------------------------------------------------------------------------
# The server process

class KilnServer:
    def __init__(self, binary, repo, args, token=None, ready_timeout=120):
        self.repo = Path(repo)
        self.token = token
        self._stderr_path = self.repo.parent / f"kiln-serve-{os.getpid()}-{time.monotonic_ns()}.log"
        self._stderr = open(self._stderr_path, "wb")
        cmd = [binary, "serve", f"--model-repository={repo}", "--http-port=0", "--grpc-port=0", "--metrics-port=0",
               *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        self.http_port = self.grpc_port = self.metrics_port = None
        self._lines = []
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        try:
            self._wait_ports(30)
            self.wait_ready(ready_timeout)
        except BaseException:
            # A server that never became ready must not outlive the failed fixture.
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
            raise

    def _read_stdout(self):
        for line in self.proc.stdout:
            self._lines.append(line)

    def _wait_ports(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in list(self._lines):
                m = re.match(r"(HTTP|gRPC|metrics) listening on [^:]+:(\d+)", line)
                if m:
                    port = int(m.group(2))
                    if m.group(1) == "HTTP":
                        self.http_port = port
                    elif m.group(1) == "gRPC":
                        self.grpc_port = port
                    else:
                        self.metrics_port = port
            if self.http_port and self.metrics_port:
                time.sleep(0.05)  # the gRPC line, if any, comes before the metrics line
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"kiln serve exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.02)
        raise RuntimeError(f"kiln serve printed no ports in {timeout}s:\n{self.log()}")

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def status(self, path, method="GET", body=None, headers=None):
        req = urllib.request.Request(f"http://{self.http_url}{path}", data=body, method=method,
                                     headers={**self.headers(), **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def wait_ready(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kiln serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.status("/v2/health/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"kiln serve not ready after {timeout}s:\n{self.log()}")

    @property
    def http_url(self):
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self):
        return f"127.0.0.1:{self.grpc_port}" if self.grpc_port else None

    @property
    def metrics_url(self):
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def log(self):
        self._stderr.flush()
        return self._stderr_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def kiln_bin():
    b = kiln_binary()
    if not b:
        pytest.skip("kiln binary not found: set KILN_BIN (ctest does) or build build/tools/kiln")
    return b


@pytest.fixture(scope="module")
def server(kiln_bin, tmp_path_factory):
    repo = make_repository(tmp_path_factory.mktemp("repo") / "models")
    s = KilnServer(kiln_bin, repo, [])
    yield s
    s.stop()


@pytest.fixture
def start_server(kiln_bin):
    started = []

    def start(repo, *args, token=None, ready_timeout=120):
        s = KilnServer(kiln_bin, repo, list(args), token=token, ready_timeout=ready_timeout)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()
