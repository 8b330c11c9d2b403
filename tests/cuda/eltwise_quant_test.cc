// CUDA QuantizeLinear / DequantizeLinear (per tensor and per axis) against the CPU reference.
#include <cmath>
#include <limits>

#include "eltwise_test_util.h"

namespace kiln::testing {
namespace {

using eltwise_test::castTo;
using eltwise_test::rnd;
using eltwise_test::spec;

AttrMap axisAttr(int64_t axis) {
  AttrMap a;
  a.set("axis", AttrValue(axis));
  return a;
}

TEST(CudaEltwiseQuant, QuantizePerTensorAndPerAxis) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(41);
  for (DType q : {DType::kInt8, DType::kUInt8}) {
    const double zlo = q == DType::kInt8 ? -10 : 100, zhi = q == DType::kInt8 ? 10 : 140;
    for (DType xt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
      SCOPED_TRACE(std::string(dtypeName(q)) + " from " + std::string(dtypeName(xt)));
      // Values well past the range (saturation) and exact halves (round half to even).
      Tensor x = castTo(rnd(DType::kInt32, Dims{3, 5, 67}, rng, -600, 600), DType::kFloat32);
      for (int64_t i = 0; i < 10; ++i) x.data<float>()[i] = 0.5f + static_cast<float>(i) - 5.f;
      x = castTo(x, xt);
      Tensor scale = castTo(Tensor::fromVector<float>({2.0f}, Dims{}), xt);
      Tensor zp = castTo(rnd(DType::kInt32, Dims{}, rng, zlo, zhi), q);
      expectGpuMatchesCpu(spec("QuantizeLinear", {x, scale, zp}));
      if (q == DType::kUInt8) expectGpuMatchesCpu(spec("QuantizeLinear", {x, scale}));
      // Per axis 1 and per last axis, float32 scales.
      Tensor s1 = rnd(DType::kFloat32, Dims{5}, rng, 0.5, 4);
      Tensor z1 = castTo(rnd(DType::kInt32, Dims{5}, rng, zlo, zhi), q);
      expectGpuMatchesCpu(spec("QuantizeLinear", {x, s1, z1}, axisAttr(1)));
      Tensor s2 = rnd(DType::kFloat32, Dims{67}, rng, 0.5, 4);
      Tensor z2 = castTo(rnd(DType::kInt32, Dims{67}, rng, zlo, zhi), q);
      expectGpuMatchesCpu(spec("QuantizeLinear", {x, s2, z2}, axisAttr(-1)));
    }
  }
}

TEST(CudaEltwiseQuant, DequantizePerTensorAndPerAxis) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(42);
  for (DType xt : {DType::kInt8, DType::kUInt8, DType::kInt32}) {
    const double lo = xt == DType::kUInt8 ? 0 : -128, hi = xt == DType::kUInt8 ? 255 : 127;
    Tensor x = rnd(xt, Dims{4, 6, 33}, rng, lo, hi);
    for (DType st : {DType::kFloat32, DType::kFloat16}) {
      SCOPED_TRACE(std::string(dtypeName(xt)) + " scale " + std::string(dtypeName(st)));
      const double tol = st == DType::kFloat16 ? 2e-3 : 1e-6;
      Tensor s = castTo(Tensor::fromVector<float>({0.037f}, Dims{}), st);
      Tensor z = castTo(Tensor::fromVector<float>({xt == DType::kUInt8 ? 128.f : -3.f}, Dims{}), xt);
      expectGpuMatchesCpu(spec("DequantizeLinear", {x, s, z}), tol);
      expectGpuMatchesCpu(spec("DequantizeLinear", {x, s}), tol);
      Tensor s1 = castTo(rnd(DType::kFloat32, Dims{6}, rng, 0.01, 0.1), st);
      Tensor z1 = castTo(rnd(DType::kInt32, Dims{6}, rng, xt == DType::kUInt8 ? 100 : -5, xt == DType::kUInt8 ? 150 : 5), xt);
      expectGpuMatchesCpu(spec("DequantizeLinear", {x, s1, z1}, axisAttr(1)), tol);
      Tensor s0 = castTo(rnd(DType::kFloat32, Dims{4}, rng, 0.01, 0.1), st);
      expectGpuMatchesCpu(spec("DequantizeLinear", {x, s0}, axisAttr(0)), tol);
    }
  }
}

}  // namespace
}  // namespace kiln::testing
