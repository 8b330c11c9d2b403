// GroupNormalization, InstanceNormalization, BatchNormalization (inference), LpNormalization,
// MeanVarianceNormalization and LRN on the GPU against the CPU reference.
#include <gtest/gtest.h>

#include "reduce_test_util.h"

namespace kiln::testing {
namespace {

using namespace rn_test;

TEST(NormOther, GroupAndInstanceNorm) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 1;
  for (DType t : floatTypes())
    for (const Dims& d : std::vector<Dims>{{2, 6, 7, 5}, {1, 32, 33}, {3, 4, 1}, {2, 8, 40, 40}}) {
      SCOPED_TRACE(tn(t) + " " + d.toString());
      const int64_t c = d[1];
      expectGpuMatchesCpu(spec("InstanceNormalization", attrs({{"epsilon", 1e-5f}}),
                               {rnd(t, d, seed), rnd(t, {c}, seed + 1, 0.5, 1.5), rnd(t, {c}, seed + 2)},
                               {false, true, true}),
                          tolFor(t));
      for (int64_t g : {int64_t{1}, int64_t{2}, c}) {
        expectGpuMatchesCpu(spec("GroupNormalization", attrs({{"num_groups", g}}),
                                 {rnd(t, d, seed + 3), rnd(t, {c}, seed + 4, 0.5, 1.5), rnd(t, {c}, seed + 5)},
                                 {false, true, true}),
                            // One element per group: x - mean is pure rounding noise scaled by
                            // 1/sqrt(epsilon), so fp32 results differ from the CPU's by ~1e-5.
                            d.numel() / d[0] / g == 1 ? std::max(tolFor(t), 1e-4) : tolFor(t));
      }
      seed += 6;
    }
}

TEST(NormOther, BatchNormInference) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 100;
  for (DType t : floatTypes())
    for (const Dims& d : std::vector<Dims>{{2, 16, 7, 7}, {5, 3}, {1, 64, 33}, {2, 3, 4, 5, 6}}) {
      SCOPED_TRACE(tn(t) + " " + d.toString());
      const int64_t c = d[1];
      std::vector<Tensor> ins = {rnd(t, d, seed), rnd(t, {c}, seed + 1, 0.5, 1.5), rnd(t, {c}, seed + 2),
                                 rnd(t, {c}, seed + 3), rnd(t, {c}, seed + 4, 0.1, 2.0)};
      expectGpuMatchesCpu(spec("BatchNormalization", attrs({{"epsilon", 1e-3f}}), ins, {false, true, true, true, true}),
                          tolFor(t));
      seed += 5;
    }
  // float32 parameters with a float16 input.
  Tensor x = rnd(DType::kFloat16, {2, 8, 5, 5}, 7);
  std::vector<Tensor> ins = {x, rnd(DType::kFloat32, {8}, 8, 0.5, 1.5), rnd(DType::kFloat32, {8}, 9),
                             rnd(DType::kFloat32, {8}, 10), rnd(DType::kFloat32, {8}, 11, 0.1, 2.0)};
  expectGpuMatchesCpu(spec("BatchNormalization", {}, ins, {false, true, true, true, true}), 2e-3);
}

TEST(NormOther, LpNormalization) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 200;
  for (DType t : floatTypes())
    for (int64_t p : {1, 2})
      for (int64_t axis : {-1, 0, 1}) {
        SCOPED_TRACE(tn(t) + " p " + std::to_string(p) + " axis " + std::to_string(axis));
        expectGpuMatchesCpu(spec("LpNormalization", attrs({{"p", p}, {"axis", axis}}), {rnd(t, {5, 33, 7}, seed++)}),
                            tolFor(t));
      }
  // A zero row stays zero.
  Tensor z = Tensor::fromVector<float>({0, 0, 0, 1, 2, 3}, Dims{2, 3});
  expectGpuMatchesCpu(spec("LpNormalization", {}, {z}), 1e-6);
}

TEST(NormOther, MeanVarianceNormalization) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 300;
  for (DType t : floatTypes())
    for (const Ints& axes : std::vector<Ints>{{0, 2, 3}, {1}, {2, 3}, {0, 1, 2, 3}, {3}}) {
      SCOPED_TRACE(tn(t));
      AttrMap a;
      a.set("axes", axes);
      expectGpuMatchesCpu(spec("MeanVarianceNormalization", a, {rnd(t, {2, 3, 7, 9}, seed++)}), tolFor(t, 1e-5));
    }
}

TEST(NormOther, Lrn) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 400;
  for (DType t : floatTypes())
    for (int64_t size : {1, 2, 3, 5}) {
      SCOPED_TRACE(tn(t) + " size " + std::to_string(size));
      expectGpuMatchesCpu(spec("LRN", attrs({{"size", size}, {"alpha", 2e-3f}, {"beta", 0.75f}, {"bias", 1.5f}}),
                               {rnd(t, {2, 7, 5, 6}, seed++)}),
                          tolFor(t));
    }
}

}  // namespace
}  // namespace kiln::testing
