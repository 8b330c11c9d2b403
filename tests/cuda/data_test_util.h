// Helpers of the data movement GPU tests (tests/cuda/data_*_test.cc): random tensors of every
// dtype these ops move, host-input constants, and a check that runs every cuda_data_* tactic of
// an op against the CPU reference with exact comparison.
#pragma once

#include <initializer_list>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "backends/cuda/gpu_kernel.h"
#include "gpu_test_util.h"

namespace kiln::testing::data_test {

using Ints = std::vector<int64_t>;

inline AttrMap attrs(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  AttrMap a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

// Random values of any movable dtype (integers in [-100, 100], unsigned in [0, 200]); never all
// zeros, so a kernel that writes nothing is caught.
inline Tensor rnd(DType t, const Dims& d, uint32_t seed) {
  std::mt19937 rng(seed);
  const bool isUnsigned = t == DType::kUInt8 || t == DType::kUInt16 || t == DType::kUInt32 || t == DType::kUInt64;
  if (t == DType::kBool) return randomTensor(t, d, rng, -1.0, 1.0);
  if (isFloat(t)) return randomTensor(t, d, rng, -4.0, 4.0);
  return isUnsigned ? randomTensor(t, d, rng, 0.0, 200.0) : randomTensor(t, d, rng, -100.0, 100.0);
}

inline Tensor i64(const Ints& v, const Dims& d) { return Tensor::fromVector<int64_t>(v, d); }
inline Tensor i64(const Ints& v) { return Tensor::fromVector<int64_t>(v, Dims{static_cast<int64_t>(v.size())}); }

// The dtypes the byte-moving kernels must handle: one of each element size plus the 16-bit
// floats and bool.
inline std::vector<DType> movableTypes() {
  return {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt8, DType::kUInt8,
          DType::kInt16,   DType::kInt32,   DType::kInt64,    DType::kUInt64,  DType::kBool};
}

// An op spec whose data inputs are graph inputs and whose other inputs (host inputs: shapes,
// starts, pads...) are constants, as a CUDA engine needs.
inline OpSpec spec(const std::string& op, AttrMap a, std::vector<Tensor> inputs, std::vector<bool> constInputs = {},
                   int numOutputs = 1, int opset = 21) {
  OpSpec s;
  s.op = op;
  s.attrs = std::move(a);
  s.inputs = std::move(inputs);
  s.constInputs = std::move(constInputs);
  s.numOutputs = numOutputs;
  s.opset = opset;
  return s;
}

// Byte-moving ops must reproduce the CPU exactly (tolerance 0 for floats too).
inline void expectExact(const OpSpec& s) { expectGpuMatchesCpu(s, 0.0); }

// A LayerDesc for `supports` checks (no GPU needed).
struct Desc {
  AttrMap a;
  cuda::LayerDesc d;
  Desc(const std::string& op, AttrMap at, std::vector<DType> in, std::vector<DType> out, std::vector<Shape> inShapes = {})
      : a(std::move(at)) {
    d.op = op;
    d.attrs = &a;
    d.inputTypes = std::move(in);
    d.outputTypes = std::move(out);
    d.inputShapes = std::move(inShapes);
    d.constInputs.assign(d.inputTypes.size(), nullptr);
  }
  Desc(const Desc&) = delete;
};

inline bool supports(const std::string& tactic, const cuda::LayerDesc& d) {
  const cuda::GpuKernelDef* def = cuda::GpuKernelRegistry::global().findTactic(tactic);
  EXPECT_NE(def, nullptr) << tactic << " is not registered";
  if (!def) return false;
  return !def->supports || def->supports(d);
}

}  // namespace kiln::testing::data_test
