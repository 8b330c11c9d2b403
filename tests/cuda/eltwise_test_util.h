// Helpers shared by the element-wise GPU tests (eltwise_*_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "op_test_util.h"

namespace kiln::testing::eltwise_test {

// x converted to dtype t by the CPU reference Cast (exact for widening conversions).
inline Tensor castTo(const Tensor& x, DType t) {
  if (x.dtype() == t) return x;
  OpSpec s;
  s.op = "Cast";
  s.attrs.set("to", AttrValue(static_cast<int64_t>(t)));
  s.inputs = {x};
  auto r = runOp(s);
  KILN_CHECK(r.ok());
  return (*r)[0];
}

// Random tensor of type t, drawn in float32 (or as integers) then cast: fp16/bf16 values are
// exactly representable, so the CPU reference and the GPU see the same numbers.
inline Tensor rnd(DType t, const Dims& d, std::mt19937& rng, double lo = -1.0, double hi = 1.0) {
  return randomTensor(t, d, rng, lo, hi);
}

inline OpSpec spec(const std::string& op, std::vector<Tensor> inputs, AttrMap attrs = {}) {
  OpSpec s;
  s.op = op;
  s.inputs = std::move(inputs);
  s.attrs = std::move(attrs);
  return s;
}

// Tolerance for element-wise results of type t (relative L2).
inline double tolFor(DType t) {
  switch (t) {
    case DType::kFloat64: return 1e-12;
    case DType::kFloat32: return 1e-5;
    case DType::kFloat16: return 2e-3;
    case DType::kBFloat16: return 1e-2;
    default: return 0;
  }
}

// Runs spec on the GPU only and compares with the CPU reference of the same op on float32 copies
// of the inputs (for layers the CPU runs only in float32, like kiln:ElementwiseChain in fp16).
inline void expectGpuMatchesCpuInFloat32(const OpSpec& spec, double tol) {
  OpSpec ref = spec;
  for (Tensor& t : ref.inputs)
    if (t.defined() && (t.dtype() == DType::kFloat16 || t.dtype() == DType::kBFloat16)) t = castTo(t, DType::kFloat32);
  auto want = runOp(ref);
  ASSERT_TRUE(want.ok()) << want.status().toString();
  auto got = runOpCuda(spec);
  ASSERT_TRUE(got.ok()) << got.status().toString();
  ASSERT_EQ(got->size(), want->size());
  for (size_t i = 0; i < got->size(); ++i) {
    Tensor g = castTo((*got)[i], DType::kFloat32);
    ASSERT_EQ(g.dims(), (*want)[i].dims());
    double e = relativeL2(g, (*want)[i]);
    EXPECT_LE(e, tol) << spec.op << " output " << i;
  }
}

}  // namespace kiln::testing::eltwise_test
