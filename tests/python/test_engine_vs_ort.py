"""Engines with dynamic shapes give ONNX Runtime's outputs across their optimization profile
(min, opt, max and shapes in between), fp32 relative L2 <= 1e-5, through the `kiln` command."""
import numpy as np
import onnxruntime as ort
import pytest

from conftest import model_path


def rel_l2(a, b):
    return float(np.linalg.norm((a - b).ravel()) / max(np.linalg.norm(b.ravel()), 1e-30))


def run_ort(model, feeds):
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def encoder_feeds(batch, seq, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 50, (batch, seq)).astype(np.int64)
    mask = np.ones((batch, seq), np.int64)
    if seq > 2:
        mask[0, seq - 2:] = 0  # padding in the first sequence
    return {"input_ids": ids, "attention_mask": mask}


def cnn_feeds(batch, seed):
    return {"image": np.random.default_rng(seed).standard_normal((batch, 3, 32, 32)).astype(np.float32)}


CASES = {
    "mini_encoder.onnx": {
        "profile": ("input_ids:1x1,attention_mask:1x1", "input_ids:2x16,attention_mask:2x16",
                    "input_ids:4x48,attention_mask:4x48"),
        "shapes": [(1, 1), (2, 16), (4, 48), (3, 7), (1, 33)],
        "feeds": lambda s, seed: encoder_feeds(*s, seed),
    },
    "gpt_block.onnx": {
        "profile": ("x:1x1x32", "x:2x16x32", "x:3x40x32"),
        "shapes": [(1, 1, 32), (2, 16, 32), (3, 40, 32), (2, 9, 32)],
        "feeds": lambda s, seed: {"x": np.random.default_rng(seed).standard_normal(s).astype(np.float32)},
    },
    "resnet_block.onnx": {
        "profile": ("image:1x3x16x16", "image:2x3x16x16", "image:4x3x16x16"),
        "shapes": [(1, 3, 16, 16), (4, 3, 16, 16), (3, 3, 16, 16)],
        "feeds": lambda s, seed: {"image": np.random.default_rng(seed).standard_normal(s).astype(np.float32)},
    },
    "tiny_cnn.onnx": {
        "profile": ("image:1x3x32x32", "image:4x3x32x32", "image:8x3x32x32"),
        "shapes": [(1,), (4,), (8,), (5,)],
        "feeds": lambda s, seed: cnn_feeds(s[0], seed),
    },
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_dynamic_engine_matches_onnxruntime(kiln, workdir, name):
    case = CASES[name]
    model = model_path(name)
    engine = workdir / "model.engine"
    mn, opt, mx = case["profile"]
    kiln("build", model, "-o", engine, "--min-shapes", mn, "--opt-shapes", opt, "--max-shapes", mx)
    for i, shape in enumerate(case["shapes"]):
        feeds = case["feeds"](shape, i)
        args = []
        for k, v in feeds.items():
            np.save(workdir / f"{k}.npy", v)
            args += ["--input", f"{k}={workdir / (k + '.npy')}"]
        out = workdir / f"out{i}"
        kiln("run", engine, *args, "--output-dir", out)
        expected = run_ort(model, feeds)
        sess_outputs = [o.name for o in ort.InferenceSession(model, providers=["CPUExecutionProvider"]).get_outputs()]
        for oname, want in zip(sess_outputs, expected):
            got = np.load(out / f"{oname}.npy")
            assert got.shape == want.shape, f"{name} {shape}: {oname} shape {got.shape} != {want.shape}"
            err = rel_l2(got, want)
            assert err <= 1e-5, f"{name} {shape}: {oname} relative L2 {err:.2e}"


def test_shape_outside_profile_is_refused(kiln, workdir):
    engine = workdir / "cnn.engine"
    kiln("build", model_path("tiny_cnn.onnx"), "-o", engine, "--min-shapes", "image:1x3x32x32",
         "--opt-shapes", "image:2x3x32x32", "--max-shapes", "image:4x3x32x32")
    np.save(workdir / "x.npy", np.zeros((5, 3, 32, 32), np.float32))
    r = kiln("run", engine, "--input", f"image={workdir / 'x.npy'}", check=False)
    assert r.returncode != 0
    assert "outside optimization profile 0's range [1, 4]" in r.stderr, r.stderr


# What the optimizer must make of each fixture (every pattern fused, nothing decomposed left).
# Attention layers end as PackedAttention (Q/K/V projections merged into one GEMM).
FUSIONS = {
    "mini_encoder.onnx": ("input_ids:2x16,attention_mask:2x16",
                          {"PackedAttention": 1, "LayerNormalization": 2, "EmbedLayerNorm": 1, "ElementwiseChain": 1},
                          ["Softmax", "Erf", "ReduceMean", "Sqrt"]),
    "gpt_block.onnx": ("x:2x16x32", {"PackedAttention": 1, "LayerNormalization": 2, "FusedMatMul": 4},
                       ["Softmax", "Tanh", "Where", "ReduceMean"]),
    "resnet_block.onnx": ("image:2x3x16x16", {"FusedConv": 4, "GroupNormalization": 1, "Swish": 1},
                          ["BatchNormalization", "Relu", "InstanceNormalization", "Sigmoid"]),
    "tiny_cnn.onnx": ("image:2x3x32x32", {"FusedConv": 2, "FusedMatMul": 1}, ["BatchNormalization", "Relu"]),
}


@pytest.mark.parametrize("name", sorted(FUSIONS))
def test_optimizer_fuses_every_pattern(kiln, workdir, name):
    import json
    shapes, want, gone = FUSIONS[name]
    report = workdir / "report.json"
    kiln("build", model_path(name), "-o", workdir / "m.engine", "--shapes", shapes, "--report-json", report)
    ops = json.loads(report.read_text())["layer_ops"]
    for op, n in want.items():
        assert ops.get(op, 0) == n, f"{name}: {op} x{ops.get(op, 0)}, expected {n}; layers {ops}"
    for op in gone:
        assert op not in ops, f"{name}: {op} left unfused; layers {ops}"
