// Inputs of an op that device kernels read on the host: shapes, axes, counts, sizes (small int64
// tensors whose values decide shapes or index arithmetic). Shared by the CUDA backend (kernels
// receive these as host tensors), the builder (places the layers computing them on the host) and
// the runtime (binds host views). Header-only so that builds without CUDA see the same table.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace kiln::cuda {

inline const std::vector<int>& hostInputsOf(const std::string& domain, const std::string& op) {
  // ONNX inputs that carry shapes, axes, counts or sizes: small int64 tensors whose values decide
  // shapes or index arithmetic, so kernels want them on the host.
  static const std::map<std::pair<std::string, std::string>, std::vector<int>> table = [] {
    std::map<std::pair<std::string, std::string>, std::vector<int>> t;
    auto onnx = [&](const char* op, std::vector<int> v) { t[{"", op}] = std::move(v); };
    t[{"kiln", "HostToDevice"}] = {0};
    onnx("Reshape", {1});
    onnx("Expand", {1});
    onnx("Tile", {1});
    onnx("Slice", {1, 2, 3, 4});
    onnx("Pad", {1, 2, 3});
    onnx("Resize", {1, 2, 3});
    onnx("Upsample", {1});
    onnx("Squeeze", {1});
    onnx("Unsqueeze", {1});
    onnx("Split", {1});
    onnx("TopK", {1});
    onnx("OneHot", {1, 2});
    onnx("ConstantOfShape", {0});
    onnx("Range", {0, 1, 2});
    onnx("CumSum", {1});
    onnx("CumProd", {1});
    onnx("Trilu", {1});
    onnx("Dropout", {1, 2});
    onnx("CenterCropPad", {1});
    onnx("Col2Im", {1, 2});
    onnx("DFT", {1, 2});
    onnx("STFT", {1, 3});
    onnx("NonMaxSuppression", {2, 3, 4});
    // Sizes that decide output shapes.
    for (const char* w : {"BlackmanWindow", "HannWindow", "HammingWindow"}) onnx(w, {0});
    onnx("MelWeightMatrix", {0, 1, 2, 3, 4});
    onnx("MaxUnpool", {2});
    onnx("AffineGrid", {1});
    for (const char* r : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                          "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"})
      onnx(r, {1});
    return t;
  }();
  static const std::vector<int> none;
  auto it = table.find({domain, op});
  return it == table.end() ? none : it->second;
}

// Whether input `i` of `domain:op` is read on the host.
inline bool isHostInput(const std::string& domain, const std::string& op, size_t i) {
  for (int h : hostInputsOf(domain, op))
    if (static_cast<size_t>(h) == i) return true;
  return false;
}

}  // namespace kiln::cuda
