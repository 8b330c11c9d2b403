"""The `kiln` command: every subcommand on the bundled model, and its error messages."""
import json
import re

import numpy as np

from conftest import model_path


def test_demo_builds_reloads_and_runs(kiln):
    r = kiln()
    assert "reloaded the engine" in r.stdout
    assert "output 'probs': float32[2,10]" in r.stdout


def test_build_inspect_run_bench(kiln, workdir):
    engine = workdir / "cnn.engine"
    cache = workdir / "timing.json"
    r = kiln("build", model_path("tiny_cnn.onnx"), "-o", engine, "--shapes", "image:2x3x32x32",
             "--timing-cache", cache)
    assert "layers from" in r.stdout and "arena" in r.stdout
    timed = re.search(r"tactics: (\d+) layers timed", r.stdout)  # convs, pools, gemm: oneDNN vs reference
    assert timed and int(timed.group(1)) > 0, r.stdout
    assert json.loads(cache.read_text())["format"] == "kiln-timing-cache"
    # A rebuild with the warm cache times nothing.
    r2 = kiln("build", model_path("tiny_cnn.onnx"), "-o", engine, "--shapes", "image:2x3x32x32",
              "--timing-cache", cache)
    assert f"tactics: 0 layers timed, {timed.group(1)} from the timing cache" in r2.stdout, r2.stdout

    info = json.loads(kiln("inspect", engine, "--json").stdout)
    assert info["target"]["kind"] == "cpu"
    assert [i["name"] for i in info["inputs"]] == ["image"]
    assert all(l["tactic"] for l in info["layers"])
    assert any(l["op"] == "FusedConv" and "bn1" in l["fused_from"] for l in info["layers"])  # conv1+bn1+relu1
    assert "tactic=" in kiln("inspect", engine).stdout

    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    np.save(workdir / "x.npy", x)
    kiln("run", engine, "--input", f"image={workdir / 'x.npy'}", "--output-dir", workdir / "out")
    probs = np.load(workdir / "out" / "probs.npy")
    assert probs.shape == (2, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)

    bench = workdir / "bench.json"
    r = kiln("bench", engine, "--iterations", 5, "--warmup", 1, "--duration", 0, "--json", bench)
    assert "median = " in r.stdout and "p99 = " in r.stdout
    b = json.loads(bench.read_text())
    assert b["iterations"] >= 5 and b["latency_ms"]["median"] > 0


def test_inspect_onnx_and_compare_with_onnxruntime(kiln):
    r = kiln("inspect", model_path("tiny_cnn.onnx"))
    assert "Conv=2" in r.stdout
    r = kiln("compare", model_path("mini_encoder.onnx"), "--shapes", "input_ids:2x9,attention_mask:2x9")
    assert "PASS: Kiln matches ONNX Runtime" in r.stdout, r.stdout


def test_errors_name_what_is_wrong(kiln, workdir):
    r = kiln("run", workdir / "missing.engine", check=False)
    assert r.returncode != 0 and "does not exist" in r.stderr
    bad = workdir / "bad.engine"
    bad.write_bytes(b"KILNENG\0" + b"\0" * 100)
    r = kiln("inspect", bad, check=False)
    assert r.returncode != 0 and "bad.engine" in r.stderr
    np.save(workdir / "wrong.npy", np.zeros((2, 3, 32, 32), np.int32))
    r = kiln("run", model_path("tiny_cnn.onnx"), "--input", f"image={workdir / 'wrong.npy'}", check=False)
    assert r.returncode != 0 and "input 'image'" in r.stderr and "float32" in r.stderr, r.stderr
    r = kiln("build", model_path("tiny_cnn.onnx"), "-o", workdir / "x.engine", check=False)
    assert r.returncode != 0 and "optimization profile" in r.stderr, r.stderr
    r = kiln("build", model_path("tiny_cnn.onnx"), "-o", workdir / "x.engine", "--shapes", "image:1x3x32x32",
             "--fp16", check=False)
    assert r.returncode != 0 and "--fp16" in r.stderr
    r = kiln("run", model_path("tiny_cnn.onnx"), "--random-inputs", "--shapes", "image:1x3xbadx32", check=False)
    assert r.returncode != 0 and "not a dimension" in r.stderr, r.stderr


def test_gpu_options_explain_themselves(kiln, workdir):
    # Without a GPU (CI), GPU requests fail with the reason; bad device lists are named.
    import shutil
    model = model_path("tiny_cnn.onnx")
    r = kiln("bench", model, "--shapes", "image:1x3x32x32", "--devices", "0,x", check=False)
    assert r.returncode != 0 and "'x' is not a GPU index" in r.stderr
    r = kiln("build", model, "-o", workdir / "t.engine", "--fp16", "--shapes", "image:1x3x32x32", check=False)
    assert r.returncode != 0 and "--target cuda" in r.stderr
    if shutil.which("nvidia-smi") is None:
        r = kiln("bench", model, "--shapes", "image:1x3x32x32", "--devices", "0", check=False)
        assert r.returncode != 0 and "GPU 0" in r.stderr and "CUDA" in r.stderr
        r = kiln("build", model, "-o", workdir / "g.engine", "--target", "cuda", "--shapes", "image:1x3x32x32",
                 check=False)
        assert r.returncode != 0 and "GPU" in r.stderr
