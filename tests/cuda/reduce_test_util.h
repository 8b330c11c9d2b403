// Helpers of the reduce / norm / pool GPU tests (tests/cuda/{reduce,norm,pool}_*_test.cc): random
// tensors (never all zeros), op specs whose host inputs (axes, K) are constants, and the check
// that every CUDA tactic of the op matches the CPU reference.
#pragma once

#include <initializer_list>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "gpu_test_util.h"

namespace kiln::testing::rn_test {

using Ints = std::vector<int64_t>;

inline AttrMap attrs(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  AttrMap a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

// Floats uniform in [lo, hi); integers in [-50, 50] (unsigned [0, 100]); bool random.
inline Tensor rnd(DType t, const Dims& d, uint32_t seed, double lo = -4.0, double hi = 4.0) {
  std::mt19937 rng(seed);
  if (t == DType::kBool) return randomTensor(t, d, rng, -1.0, 1.0);
  if (t == DType::kUInt8 || t == DType::kUInt32 || t == DType::kUInt64) return randomTensor(t, d, rng, 0.0, 100.0);
  if (!isFloat(t)) return randomTensor(t, d, rng, -50.0, 50.0);
  return randomTensor(t, d, rng, lo, hi);
}

inline std::string tn(DType t) { return std::string(dtypeName(t)); }

inline Tensor i64(const Ints& v) { return Tensor::fromVector<int64_t>(v, Dims{static_cast<int64_t>(v.size())}); }

inline OpSpec spec(const std::string& op, AttrMap a, std::vector<Tensor> inputs, std::vector<bool> constInputs = {},
                   int numOutputs = 1, const std::string& domain = "") {
  OpSpec s;
  s.op = op;
  s.attrs = std::move(a);
  s.inputs = std::move(inputs);
  s.constInputs = std::move(constInputs);
  s.numOutputs = numOutputs;
  s.domain = domain;
  if (!domain.empty()) s.opset = 1;
  return s;
}

// Tolerance (relative L2) by dtype: 16-bit floats round each output.
inline double tolFor(DType t, double f32 = 1e-5) {
  if (t == DType::kFloat16) return 2e-3;
  if (t == DType::kBFloat16) return 1.5e-2;
  if (t == DType::kFloat64) return 1e-9;
  return f32;
}

inline const std::vector<DType>& floatTypes() {
  static const std::vector<DType> v = {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64};
  return v;
}

}  // namespace kiln::testing::rn_test
