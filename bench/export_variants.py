#!/usr/bin/env python3
"""Exports the model variants the optimizer is measured on (beyond torch_anchors.py's):
  bert-base-opset14.onnx   BERT-base at opset 14: LayerNorm and GELU arrive decomposed
  resnet50-bn.onnx         ResNet-50 with its BatchNormalization nodes kept (TorchScript exporter
                           with training=PRESERVE, do_constant_folding=False), like the dynamo
                           exporter writes it
Same weights and seeds as torch_anchors.py. Run with the bench venv: .bench-venv/bin/python
"""
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "..", "shared", "bench"))
import torch_anchors  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "bench", ".models")
os.makedirs(out, exist_ok=True)

bert = torch_anchors.build("bert-base")
x = torch_anchors.inputs("bert-base", 1, 128)
names = list(x)
axes = {k: {0: "batch", 1: "seq"} for k in names}
axes.update({"last_hidden_state": {0: "batch", 1: "seq"}, "pooler_output": {0: "batch"}})
torch.onnx.export(bert, tuple(x.values()), os.path.join(out, "bert-base-opset14.onnx"), input_names=names,
                  output_names=["last_hidden_state", "pooler_output"], dynamic_axes=axes, opset_version=14)
print("exported bert-base-opset14.onnx", flush=True)

resnet = torch_anchors.build("resnet50")
x = torch_anchors.inputs("resnet50", 1, None)
torch.onnx.export(resnet, tuple(x.values()), os.path.join(out, "resnet50-bn.onnx"), input_names=["input"],
                  output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                  opset_version=17, training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
print("exported resnet50-bn.onnx", flush=True)
