"""Writes models/tiny_cnn.onnx: the small model Kiln's default command runs.

A 10-class image classifier on 3x32x32 inputs with a dynamic batch: Conv+BN+Relu, MaxPool,
Conv+Relu, GlobalAveragePool, Flatten, Gemm, Softmax. Weights are fixed-seed random. Regenerate with
  .venv/bin/python models/make_tiny_cnn.py
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(2026)


def init(name, shape, scale=0.2):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


inits = [
    init("conv1.w", [8, 3, 3, 3]), init("conv1.b", [8], 0.05),
    numpy_helper.from_array((1 + 0.1 * rng.standard_normal(8)).astype(np.float32), "bn.scale"),
    init("bn.bias", [8], 0.1), init("bn.mean", [8], 0.1),
    numpy_helper.from_array((1 + 0.2 * rng.random(8)).astype(np.float32), "bn.var"),
    init("conv2.w", [16, 8, 3, 3], 0.1), init("conv2.b", [16], 0.05),
    init("fc.w", [10, 16], 0.3), init("fc.b", [10], 0.1),
]
nodes = [
    helper.make_node("Conv", ["image", "conv1.w", "conv1.b"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
    helper.make_node("BatchNormalization", ["c1", "bn.scale", "bn.bias", "bn.mean", "bn.var"], ["b1"],
                     name="bn1", epsilon=1e-5),
    helper.make_node("Relu", ["b1"], ["r1"], name="relu1"),
    helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Conv", ["p1", "conv2.w", "conv2.b"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
    helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
    helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
    helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["logits"], name="fc", transB=1),
    helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
]
graph = helper.make_graph(
    nodes, "tiny_cnn",
    [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 32, 32])],
    [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 10])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="kiln")
model.ir_version = 8
onnx.checker.check_model(model, full_check=True)
onnx.save(model, __file__.replace("make_tiny_cnn.py", "tiny_cnn.onnx"))
print("wrote tiny_cnn.onnx")
