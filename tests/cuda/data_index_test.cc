// Data movement GPU kernels, indexing part: Gather (axes, negative and int32 indices, BERT's
// embedding lookup), GatherElements, GatherND (batch_dims), ScatterND and ScatterElements (every
// reduction, duplicate indices), and out-of-range indices failing the run as on the CPU (the
// device never reads or writes out of bounds: zeros for gathers, skipped scatter updates).
#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "data_test_util.h"

namespace kiln::testing {
namespace {

using namespace data_test;

// Random indices in [-dim, dim) (negative ones count from the end).
Tensor indices(DType t, const Dims& d, int64_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> u(-dim, dim - 1);
  Tensor x = Tensor::allocate(t, d);
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (t == DType::kInt32) x.data<int32_t>()[i] = static_cast<int32_t>(u(rng));
    else x.data<int64_t>()[i] = u(rng);
  }
  return x;
}

// ---- Gather ---------------------------------------------------------------------------------------

TEST(DataGather, EmbeddingLookup) {
  KILN_REQUIRE_GPU();
  // BERT: word embeddings [vocab, hidden] gathered by token ids [B, S] (fp32 and fp16).
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    OpSpec s = spec("Gather", attrs({{"axis", int64_t{0}}}), {rnd(t, {1000, 768}, 1), indices(DType::kInt64, {2, 37}, 1000, 2)},
                    {true, false});
    expectExact(s);
  }
  // int32 ids, odd hidden size (no vector path).
  expectExact(spec("Gather", {}, {rnd(DType::kFloat32, {257, 33}, 3), indices(DType::kInt32, {3, 7}, 257, 4)}));
}

TEST(DataGather, AxesTypesAndScalarIndex) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 10;
  for (DType t : movableTypes())
    expectExact(spec("Gather", attrs({{"axis", int64_t{1}}}), {rnd(t, {3, 9, 5}, seed++), indices(DType::kInt64, {4, 2}, 9, seed++)}));
  expectExact(spec("Gather", attrs({{"axis", int64_t{-1}}}), {rnd(DType::kFloat32, {4, 6, 11}, 1), indices(DType::kInt32, {5}, 11, 2)}));
  // A scalar index drops the axis (the pooler's x[:, 0]).
  expectExact(spec("Gather", attrs({{"axis", int64_t{1}}}), {rnd(DType::kFloat32, {2, 9, 64}, 3), i64({0}, Dims{})}, {false, true}));
  expectExact(spec("Gather", attrs({{"axis", int64_t{0}}}), {rnd(DType::kInt64, {7}, 4), indices(DType::kInt64, {3, 3}, 7, 5)}));
}

TEST(DataGather, OutOfRangeIndexFailsTheRun) {
  KILN_REQUIRE_GPU();
  // As on the CPU: the run fails naming the index (the kernel writes zeros there and reads
  // nothing out of bounds; device_check_test.cc covers every indexing op).
  OpSpec s = spec("Gather", {}, {rnd(DType::kFloat32, {5, 8}, 1), i64({1, 7, -6, 4}, Dims{4})});
  auto got = runOpCuda(s, GpuRunOptions{.tactic = "cuda_data_gather"});
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().toString().find("holds 7 at position 1, out of range [-5, 5)"), std::string::npos)
      << got.status().toString();
}

TEST(DataGatherElements, AxesAndSmallerIndexShape) {
  KILN_REQUIRE_GPU();
  expectExact(spec("GatherElements", attrs({{"axis", int64_t{1}}}), {rnd(DType::kFloat32, {4, 7, 5}, 1), indices(DType::kInt64, {4, 3, 5}, 7, 2)}));
  expectExact(spec("GatherElements", attrs({{"axis", int64_t{0}}}), {rnd(DType::kFloat16, {6, 9}, 3), indices(DType::kInt32, {8, 4}, 6, 4)}));
  expectExact(spec("GatherElements", attrs({{"axis", int64_t{-1}}}), {rnd(DType::kInt8, {3, 2, 33}, 5), indices(DType::kInt64, {2, 2, 40}, 33, 6)}));
  expectExact(spec("GatherElements", {}, {rnd(DType::kInt64, {10}, 7), indices(DType::kInt64, {13}, 10, 8)}));
}

TEST(DataGatherND, BatchDimsAndSlices) {
  KILN_REQUIRE_GPU();
  expectExact(spec("GatherND", {}, {rnd(DType::kFloat32, {5, 6, 7}, 1), indices(DType::kInt64, {4, 2}, 5, 2)}));   // slices of 7
  expectExact(spec("GatherND", {}, {rnd(DType::kFloat32, {5, 5, 5}, 3), indices(DType::kInt64, {2, 3, 3}, 5, 4)})); // elements
  expectExact(spec("GatherND", attrs({{"batch_dims", int64_t{1}}}), {rnd(DType::kFloat16, {3, 6, 4}, 5), indices(DType::kInt64, {3, 5, 1}, 6, 6)}));
  expectExact(spec("GatherND", attrs({{"batch_dims", int64_t{2}}}), {rnd(DType::kInt32, {2, 3, 4, 5}, 7), indices(DType::kInt64, {2, 3, 2}, 4, 8)}));
}

// ---- ScatterND / ScatterElements --------------------------------------------------------------------

// Distinct indices 0..n-1 in a random order (reduction 'none' needs unique targets).
Tensor permutation(int64_t n, uint32_t seed) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  std::mt19937 rng(seed);
  std::shuffle(v.begin(), v.end(), rng);
  return Tensor::fromVector<int64_t>(v, Dims{n, 1});
}

TEST(DataScatterND, NoneAndReductions) {
  KILN_REQUIRE_GPU();
  // Unique rows for 'none'.
  Tensor idx = permutation(9, 1);
  expectExact(spec("ScatterND", {}, {rnd(DType::kFloat32, {9, 5}, 2), idx, rnd(DType::kFloat32, {9, 5}, 3)}));
  expectExact(spec("ScatterND", {}, {rnd(DType::kInt8, {9, 5}, 4), idx, rnd(DType::kInt8, {9, 5}, 5)}));
  // Element indices into [4, 6] with duplicates, every reduction, several types.
  for (const char* red : {"add", "mul", "max", "min"}) {
    for (DType t : {DType::kFloat32, DType::kInt32, DType::kInt64, DType::kInt16, DType::kUInt8}) {
      // Duplicate targets: integer results are exact (the CPU check compares integers bit for
      // bit whatever the tolerance); float add/mul may round differently in another order.
      Tensor ind = Tensor::fromVector<int64_t>({0, 1, 3, 5, 0, 1, 2, 2, 3, -1, -4, 0}, Dims{6, 2});
      // Float add/mul over duplicate targets use atomics: the summation order (and so the last
      // bit) may change from run to run, so the repeat-equality check is off for them.
      GpuRunOptions o;
      if (isFloat(t) && (std::string(red) == "add" || std::string(red) == "mul")) o.runs = 1;
      expectGpuMatchesCpu(spec("ScatterND", attrs({{"reduction", red}}), {rnd(t, {4, 6}, 6), ind, rnd(t, {6}, 7)}), 1e-6, o);
    }
  }
  // float16 add with duplicates: the order of the additions differs from the CPU's.
  Tensor ind = Tensor::fromVector<int64_t>({1, 1, 0, 2, 1}, Dims{5, 1});
  GpuRunOptions once;
  once.runs = 1;  // atomics: run-to-run order differs
  expectGpuMatchesCpu(spec("ScatterND", attrs({{"reduction", "add"}}), {rnd(DType::kFloat16, {3, 8}, 8), ind, rnd(DType::kFloat16, {5, 8}, 9)}),
                      1e-3, once);
}

TEST(DataScatterElements, NoneAndReductions) {
  KILN_REQUIRE_GPU();
  // 'none': each column of indices is a permutation of the axis, so targets are unique.
  Tensor ind = Tensor::fromVector<int64_t>({2, 0, 1, 3, 1, 2, 3, 0, 3, 1, 0, 2}, Dims{3, 4});
  Tensor perm = Tensor::allocate(DType::kInt64, Dims{4, 3});  // transpose: rows are permutations
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) perm.data<int64_t>()[i * 3 + j] = ind.data<int64_t>()[j * 4 + i];
  expectExact(spec("ScatterElements", attrs({{"axis", int64_t{0}}}), {rnd(DType::kFloat32, {4, 3}, 1), perm, rnd(DType::kFloat32, {4, 3}, 2)}));
  for (const char* red : {"add", "mul", "max", "min"})
    for (DType t : {DType::kFloat32, DType::kInt32, DType::kInt8, DType::kBool}) {
      Tensor i2 = Tensor::fromVector<int64_t>({0, 0, 4, -1, 2, 2, 1, 0}, Dims{2, 4});
      GpuRunOptions o;  // float add/mul over duplicates: atomics, order may change per run
      if (isFloat(t) && (std::string(red) == "add" || std::string(red) == "mul")) o.runs = 1;
      expectGpuMatchesCpu(spec("ScatterElements", attrs({{"axis", int64_t{1}}, {"reduction", red}}), {rnd(t, {3, 5}, 3), i2, rnd(t, {2, 4}, 4)}),
                          1e-6, o);
    }
  // int32 indices, axis -1, float64.
  Tensor i3 = Tensor::fromVector<int32_t>({1, 0, 2}, Dims{1, 3});
  expectExact(spec("ScatterElements", attrs({{"axis", int64_t{-1}}}), {rnd(DType::kFloat64, {2, 3}, 5), i3, rnd(DType::kFloat64, {1, 3}, 6)}));
}

TEST(DataScatterND, OutOfRangeIndexFailsTheRun) {
  KILN_REQUIRE_GPU();
  Tensor x = rnd(DType::kFloat32, {4, 3}, 1);
  Tensor u = rnd(DType::kFloat32, {2, 3}, 2);
  auto got = runOpCuda(spec("ScatterND", {}, {x, i64({9, 2}, Dims{2, 1}), u}), GpuRunOptions{.tactic = "cuda_data_scatter_nd"});
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().toString().find("holds 9 at position 0, out of range [-4, 4)"), std::string::npos)
      << got.status().toString();
}

// ---- supports (no GPU needed) -----------------------------------------------------------------------

TEST(DataIndexSupports, IndexTypesAndReductions) {
  Desc g("Gather", {}, {DType::kFloat32, DType::kInt32}, {DType::kFloat32});
  EXPECT_TRUE(supports("cuda_data_gather", g.d));
  Desc gbad("Gather", {}, {DType::kFloat32, DType::kInt16}, {DType::kFloat32});
  EXPECT_FALSE(supports("cuda_data_gather", gbad.d));
  Desc nd32("GatherND", {}, {DType::kFloat32, DType::kInt32}, {DType::kFloat32});
  EXPECT_FALSE(supports("cuda_data_gather_nd", nd32.d));
  Desc f8add("ScatterND", attrs({{"reduction", "add"}}), {DType::kFloat8E4M3FN, DType::kInt64, DType::kFloat8E4M3FN},
             {DType::kFloat8E4M3FN});
  EXPECT_FALSE(supports("cuda_data_scatter_nd", f8add.d));
  Desc f8none("ScatterND", attrs({{"reduction", "none"}}), {DType::kFloat8E4M3FN, DType::kInt64, DType::kFloat8E4M3FN},
              {DType::kFloat8E4M3FN});
  EXPECT_TRUE(supports("cuda_data_scatter_nd", f8none.d));
}

}  // namespace
}  // namespace kiln::testing
