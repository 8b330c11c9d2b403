// TopK on the GPU against the CPU reference (both tactics: small K <= 32 and any-K selection):
// rows and strided slices, largest/smallest, ties (integers with repeated values), K = 0, 1, n,
// large K, and the dtypes the kernels take.
#include <gtest/gtest.h>

#include "reduce_test_util.h"

namespace kiln::testing {
namespace {

using namespace rn_test;

OpSpec topK(const Tensor& x, int64_t k, int64_t axis, int64_t largest) {
  return spec("TopK", attrs({{"axis", axis}, {"largest", largest}, {"sorted", int64_t{1}}}), {x, i64({k})},
              {false, true}, 2);
}

TEST(ReduceTopK, SmallK) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 1;
  for (const Dims& d : std::vector<Dims>{{40}, {3, 33}, {2, 1000}, {4, 50, 6}})
    for (int64_t axis = 0; axis < d.rank(); ++axis)
      for (int64_t k : {0, 1, 3, 5, 16, 32})
        for (int64_t largest : {0, 1}) {
          if (k > d[static_cast<int>(axis)]) continue;
          SCOPED_TRACE(d.toString() + " axis " + std::to_string(axis) + " k " + std::to_string(k));
          expectGpuMatchesCpu(topK(rnd(DType::kFloat32, d, seed++), k, axis, largest), 0.0);
        }
}

TEST(ReduceTopK, TiesAndTypes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 100;
  for (DType t : {DType::kInt32, DType::kInt64, DType::kInt8, DType::kUInt8, DType::kFloat16, DType::kBFloat16,
                  DType::kFloat64})
    for (int64_t largest : {0, 1}) {
      SCOPED_TRACE(tn(t));
      expectGpuMatchesCpu(topK(rnd(t, {5, 300}, seed++, -3.0, 3.0), 10, 1, largest), 0.0);
      expectGpuMatchesCpu(topK(rnd(t, {7, 3}, seed++, -3.0, 3.0), 3, 1, largest), 0.0);
    }
}

TEST(ReduceTopK, LargeKSelection) {
  KILN_REQUIRE_GPU();
  // K above the small-K kernel's 32: only cuda_reduce_topk_select runs.
  uint32_t seed = 200;
  for (int64_t k : {33, 100, 1000})
    for (int64_t largest : {0, 1}) {
      SCOPED_TRACE(k);
      expectGpuMatchesCpu(topK(rnd(DType::kFloat32, {3, 1000}, seed++), k, 1, largest), 0.0);
      expectGpuMatchesCpu(topK(rnd(DType::kInt32, {1000, 2}, seed++), k, 0, largest), 0.0);
    }
}

}  // namespace
}  // namespace kiln::testing
