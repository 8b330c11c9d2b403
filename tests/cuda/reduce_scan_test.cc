// CumSum on the GPU against the CPU reference: rows (innermost axis) shorter and longer than a
// warp, columns, exclusive/reverse, float and integer types.
#include <gtest/gtest.h>

#include "reduce_test_util.h"

namespace kiln::testing {
namespace {

using namespace rn_test;

TEST(ReduceScan, CumSumAxesAndModes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 1;
  for (const Dims& d : std::vector<Dims>{{7}, {3, 33}, {2, 1000}, {4, 5, 6}, {2, 3, 257}})
    for (int64_t axis = -1; axis < d.rank(); ++axis)
      for (int64_t ex : {0, 1})
        for (int64_t rev : {0, 1}) {
          SCOPED_TRACE(d.toString() + " axis " + std::to_string(axis) + " ex " + std::to_string(ex) + " rev " +
                       std::to_string(rev));
          expectGpuMatchesCpu(spec("CumSum", attrs({{"exclusive", ex}, {"reverse", rev}}),
                                   {rnd(DType::kFloat32, d, seed++, 0.0, 1.0), i64({axis})}, {false, true}),
                              1e-5);
        }
}

TEST(ReduceScan, CumSumTypes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 100;
  for (DType t : {DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt32, DType::kInt64})
    for (int64_t axis : {0, 1})
      for (int64_t rev : {0, 1}) {
        SCOPED_TRACE(tn(t) + " axis " + std::to_string(axis));
        const double tol = isFloat(t) ? tolFor(t) : 0.0;
        expectGpuMatchesCpu(spec("CumSum", attrs({{"reverse", rev}}), {rnd(t, {5, 77}, seed++, 0.0, 1.0), i64({axis})},
                                 {false, true}),
                            tol);
      }
}

}  // namespace
}  // namespace kiln::testing
