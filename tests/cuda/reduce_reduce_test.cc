// Reduce* and ArgMax/ArgMin on the GPU against the CPU reference: row reductions (innermost axis
// reduced; warp and block paths, vectorized and not), column reductions (innermost axis kept),
// several reduced runs, all axes, keepdims, noop_with_empty_axes, empty reduced axes, integer and
// float dtypes.
#include <gtest/gtest.h>

#include "reduce_test_util.h"

namespace kiln::testing {
namespace {

using namespace rn_test;

const char* kReduceOps[] = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                            "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"};

// Inputs each op is well conditioned on: positive for the logs, within 1% of 1 for products (long
// products stay finite).
Tensor inputFor(const std::string& op, DType t, const Dims& d, uint32_t seed) {
  if (op == "ReduceLogSum") return rnd(t, d, seed, 0.1, 2.0);
  if (op == "ReduceProd") return isFloat(t) ? rnd(t, d, seed, 0.99, 1.0101) : rnd(t, d, seed);
  // Mostly positive, so long sums do not cancel (relative errors stay meaningful).
  return rnd(t, d, seed, -1.0, 3.0);
}

OpSpec reduceSpec(const std::string& op, const Tensor& x, const Ints& axes, int64_t keepdims = 1,
                  int64_t noop = 0) {
  AttrMap a = attrs({{"keepdims", keepdims}, {"noop_with_empty_axes", noop}});
  if (axes.empty()) return spec(op, a, {x});
  return spec(op, a, {x, i64(axes)}, {false, true});
}

struct Case {
  Dims dims;
  Ints axes;
};

TEST(ReduceReduce, LayoutsFp32) {
  KILN_REQUIRE_GPU();
  const std::vector<Case> cases = {
      {{3, 7, 33}, {2}},        {{3, 7, 33}, {1}},      {{3, 7, 33}, {0}},          {{3, 7, 33}, {0, 2}},
      {{3, 7, 33}, {}},         {{3, 7, 33}, {-1, -2}}, {{2, 3, 4, 5, 6}, {1, 3}},  {{2, 3, 4, 5, 6}, {0, 2, 4}},
      {{257, 1000}, {1}},       {{8, 4096}, {1}},       {{2, 70000}, {1}},          {{1000, 3}, {0}},
      {{33, 257}, {0}},         {{5, 1, 7}, {1}},       {{1, 1}, {0, 1}},           {{9}, {0}},
      {{4, 768}, {-1}},         {{12, 2, 384}, {0, 2}}, {{3, 3000, 5}, {1}}};
  uint32_t seed = 1;
  for (const char* op : kReduceOps)
    for (const Case& c : cases)
      for (int64_t keep : {1, 0}) {
        SCOPED_TRACE(std::string(op) + " " + c.dims.toString() + " keepdims " + std::to_string(keep));
        expectGpuMatchesCpu(reduceSpec(op, inputFor(op, DType::kFloat32, c.dims, seed++), c.axes, keep), 1e-4);
      }
}

TEST(ReduceReduce, FloatTypes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 1000;
  for (const char* op : kReduceOps)
    for (DType t : floatTypes())
      for (const Case& c : std::vector<Case>{{{4, 6, 64}, {2}}, {{4, 6, 65}, {1}}, {{3, 2000}, {1}}, {{7, 5}, {}}}) {
        SCOPED_TRACE(std::string(op) + " " + tn(t) + " " + c.dims.toString());
        // Sums of 16-bit inputs are exact in float on both sides; only the final rounding differs.
        expectGpuMatchesCpu(reduceSpec(op, inputFor(op, t, c.dims, seed++), c.axes), tolFor(t, 1e-4));
      }
}

TEST(ReduceReduce, IntegerTypes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 2000;
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceSumSquare"})
    for (DType t : {DType::kInt32, DType::kInt64})
      for (const Case& c : std::vector<Case>{{{5, 7, 9}, {2}}, {{5, 7, 9}, {1}}, {{5, 300}, {1}}, {{6, 4}, {}}}) {
        SCOPED_TRACE(std::string(op) + " " + tn(t) + " " + c.dims.toString());
        expectGpuMatchesCpu(reduceSpec(op, rnd(t, c.dims, seed++), c.axes), 0.0);
      }
  for (const char* op : {"ReduceMax", "ReduceMin"})
    for (DType t : {DType::kInt8, DType::kUInt8, DType::kBool}) {
      SCOPED_TRACE(std::string(op) + " " + tn(t));
      expectGpuMatchesCpu(reduceSpec(op, rnd(t, {6, 33}, seed++), {1}), 0.0);
      expectGpuMatchesCpu(reduceSpec(op, rnd(t, {6, 33}, seed++), {0}), 0.0);
    }
}

TEST(ReduceReduce, FewLongRowsSplitAcrossBlocks) {
  KILN_REQUIRE_GPU();
  // Few outputs over >= 64K contiguous elements: the split path (partials in the workspace).
  uint32_t seed = 5000;
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceLogSumExp",
                         "ReduceProd"}) {
    SCOPED_TRACE(op);
    expectGpuMatchesCpu(reduceSpec(op, inputFor(op, DType::kFloat32, {3, 200000}, seed++), {1}), 1e-4);
    // float16 outputs: only the reductions whose result stays in range over 2^20 elements.
    const std::string o = op;
    if (o != "ReduceSum" && o != "ReduceProd")
      expectGpuMatchesCpu(reduceSpec(op, inputFor(op, DType::kFloat16, {1 << 20}, seed++), {}), 2e-3);
    expectGpuMatchesCpu(reduceSpec(op, inputFor(op, DType::kFloat32, {2, 100003}, seed++), {1}), 1e-4);  // unaligned
  }
  for (const char* op : {"ReduceSum", "ReduceMax", "ReduceMin"}) {
    SCOPED_TRACE(op);
    expectGpuMatchesCpu(reduceSpec(op, rnd(DType::kInt32, {3, 200000}, seed++), {1}), 0.0);
    expectGpuMatchesCpu(reduceSpec(op, rnd(DType::kInt64, {300000}, seed++), {}), 0.0);
  }
}

TEST(ReduceReduce, NoopAndEmpty) {
  KILN_REQUIRE_GPU();
  const Tensor x = rnd(DType::kFloat32, {3, 5}, 7);
  expectGpuMatchesCpu(reduceSpec("ReduceSum", x, {}, 1, 1), 0.0);
  expectGpuMatchesCpu(reduceSpec("ReduceMax", x, {}, 0, 1), 0.0);
  // A reduced axis of size 0: identities (0, 1; max/min of integers: the type's lowest/highest,
  // since infinities cannot be compared by relative L2).
  for (const char* op : {"ReduceSum", "ReduceProd", "ReduceSumSquare", "ReduceL1"}) {
    SCOPED_TRACE(op);
    expectGpuMatchesCpu(reduceSpec(op, rnd(DType::kFloat32, {0, 4}, 1), {0}), 0.0);
  }
  for (const char* op : {"ReduceMax", "ReduceMin"}) {
    SCOPED_TRACE(op);
    expectGpuMatchesCpu(reduceSpec(op, rnd(DType::kInt32, {0, 4}, 1), {0}), 0.0);
  }
}

TEST(ReduceReduce, BadAxesRefused) {
  KILN_REQUIRE_GPU();
  auto r = runOpCuda(reduceSpec("ReduceSum", rnd(DType::kFloat32, {3, 5}, 1), {0, 0}));
  EXPECT_FALSE(r.ok());
}

TEST(ReduceArg, MaxMinLayouts) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 3000;
  for (const char* op : {"ArgMax", "ArgMin"})
    for (const Dims& d : std::vector<Dims>{{7}, {3, 33}, {2, 1000}, {5, 7, 9}, {4, 3000}})
      for (int64_t axis = -1; axis < d.rank(); ++axis)
        for (int64_t keep : {0, 1})
          for (int64_t last : {0, 1}) {
            SCOPED_TRACE(std::string(op) + " " + d.toString() + " axis " + std::to_string(axis));
            expectGpuMatchesCpu(spec(op, attrs({{"axis", axis}, {"keepdims", keep}, {"select_last_index", last}}),
                                     {rnd(DType::kFloat32, d, seed++)}),
                                0.0);
          }
}

TEST(ReduceArg, TiesAndTypes) {
  KILN_REQUIRE_GPU();
  // Integers in [-50, 50] over rows of 300 repeat values: ties decide the index.
  uint32_t seed = 4000;
  for (const char* op : {"ArgMax", "ArgMin"})
    for (DType t : {DType::kInt32, DType::kInt64, DType::kInt8, DType::kUInt8, DType::kFloat16, DType::kBFloat16,
                    DType::kFloat64})
      for (int64_t axis : {0, 1})
        for (int64_t last : {0, 1}) {
          SCOPED_TRACE(std::string(op) + " " + tn(t));
          Tensor x = isFloat(t) ? rnd(t, {6, 300}, seed++, -3.0, 3.0) : rnd(t, {6, 300}, seed++);
          expectGpuMatchesCpu(spec(op, attrs({{"axis", axis}, {"select_last_index", last}}), {x}), 0.0);
        }
}

}  // namespace
}  // namespace kiln::testing
