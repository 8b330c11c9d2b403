// Helpers of the dnn (cuDNN convolution) GPU tests.
#pragma once

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gpu_test_util.h"

namespace kiln::testing::dnn_test {

// Float tensor converted on the host (float32 <-> float16/bfloat16/float64).
inline Tensor castFloat(const Tensor& t, DType to) {
  Tensor out = Tensor::allocate(to, t.dims());
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = t.doubleAt(i);
    switch (to) {
      case DType::kFloat32: out.data<float>()[i] = static_cast<float>(v); break;
      case DType::kFloat64: out.data<double>()[i] = v; break;
      case DType::kFloat16: out.data<Float16>()[i] = Float16(static_cast<float>(v)); break;
      case DType::kBFloat16: out.data<BFloat16>()[i] = BFloat16(static_cast<float>(v)); break;
      default: ADD_FAILURE() << "castFloat: unexpected dtype"; break;
    }
  }
  return out;
}

// Random values of dtype t that are exactly representable in it (generated in float32 first).
inline Tensor randomIn(DType t, const Dims& d, std::mt19937& rng, double lo = -1.0, double hi = 1.0) {
  Tensor f = randomTensor(DType::kFloat32, d, rng, lo, hi);
  return t == DType::kFloat32 ? f : castFloat(f, t);
}

// Runs `spec` (inputs of any float dtype) on the GPU with each CUDA tactic of the op (or only
// `tactics` when given) and with the builder's choice, and compares with the CPU reference run
// in float32 on the same values (the CPU's fused kernels run float32 only). Returns how many
// tactics ran.
inline int expectGpuMatchesF32(const OpSpec& spec, double tol, std::vector<std::string> tactics = {},
                               bool includeChosen = true) {
  OpSpec ref32 = spec;
  for (Tensor& t : ref32.inputs)
    if (t.defined() && t.dtype() != DType::kFloat32) t = castFloat(t, DType::kFloat32);
  auto ref = runOp(ref32);
  EXPECT_TRUE(ref.ok()) << "CPU reference of " << spec.op << ": " << ref.status().toString();
  if (!ref.ok()) return 0;
  if (tactics.empty()) tactics = cudaTacticsFor(spec.op, spec.domain);
  if (includeChosen) tactics.push_back("");
  int ran = 0;
  for (const std::string& tactic : tactics) {
    GpuRunOptions o;
    o.tactic = tactic;
    auto got = runOpCuda(spec, o);
    const std::string label = spec.op + " tactic '" + (tactic.empty() ? "<chosen>" : tactic) + "'";
    if (!got.ok()) {
      if (!tactic.empty() && got.status().code() == StatusCode::kUnsupported &&
          got.status().message().find("does not support") != std::string::npos)
        continue;
      // expectEveryVariantMatches probes indices 0..7; a layer may have fewer algorithms.
      if (tactic.find(':') != std::string::npos && got.status().code() == StatusCode::kInvalidArgument &&
          got.status().message().find("does not exist") != std::string::npos)
        continue;
      ADD_FAILURE() << label << ": " << got.status().toString();
      continue;
    }
    ++ran;
    EXPECT_EQ(got->size(), ref->size()) << label;
    if (got->empty() || ref->empty()) continue;
    const Tensor& a = (*got)[0];
    const Tensor& b = (*ref)[0];
    EXPECT_EQ(a.dtype(), spec.inputs[0].dtype()) << label;
    EXPECT_EQ(a.dims(), b.dims()) << label;
    if (a.dims() != b.dims()) continue;
    const double e = relativeL2(a, b);
    EXPECT_LE(e, tol) << label << " relative L2 " << e;
  }
  return ran;
}

// Runs every algorithm variant ("<tactic>:<v>") of `tactic` that exists for the layer; returns how
// many ran (each compared with the float32 CPU reference).
inline int expectEveryVariantMatches(const OpSpec& spec, const std::string& tactic, double tol) {
  std::vector<std::string> names;
  for (int v = 0; v < 8; ++v) names.push_back(tactic + ":" + std::to_string(v));
  const int ran = expectGpuMatchesF32(spec, tol, names, /*includeChosen=*/false);
  std::printf("[ variants ] %s: %d algorithm variants ran\n", tactic.c_str(), ran);
  return ran;
}

inline AttrMap attrs(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  AttrMap a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

}  // namespace kiln::testing::dnn_test
