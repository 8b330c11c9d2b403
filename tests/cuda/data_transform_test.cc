// Data movement GPU kernels, layout part: Transpose (tiled and generic paths, every element
// size, NCHW<->NHWC, rank 1..6), Concat, Split, Slice (negative steps, clamping), Expand, Tile,
// DepthToSpace/SpaceToDepth. Every case compares exactly with the CPU reference. The `supports`
// checks at the end run without a GPU.
#include <gtest/gtest.h>

#include "data_test_util.h"

namespace kiln::testing {
namespace {

using namespace data_test;

// ---- Transpose ------------------------------------------------------------------------------------

TEST(DataTranspose, NchwToNhwcEveryType) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 1;
  // [N, C, H, W] -> [N, H, W, C]: a batched 2-D transpose of [C, H*W] (tiled path).
  for (DType t : movableTypes())
    expectExact(spec("Transpose", attrs({{"perm", Ints{0, 2, 3, 1}}}), {rnd(t, {2, 33, 7, 9}, seed++)}));
}

TEST(DataTranspose, NhwcToNchwAndSmallChannels) {
  KILN_REQUIRE_GPU();
  expectExact(spec("Transpose", attrs({{"perm", Ints{0, 3, 1, 2}}}), {rnd(DType::kFloat32, {3, 13, 11, 64}, 2)}));
  expectExact(spec("Transpose", attrs({{"perm", Ints{0, 3, 1, 2}}}), {rnd(DType::kFloat16, {2, 17, 19, 40}, 3)}));
  // C = 3 (a network's input image): too narrow for tiles, generic path.
  expectExact(spec("Transpose", attrs({{"perm", Ints{0, 2, 3, 1}}}), {rnd(DType::kFloat32, {2, 3, 31, 29}, 4)}));
  expectExact(spec("Transpose", attrs({{"perm", Ints{0, 3, 1, 2}}}), {rnd(DType::kUInt8, {2, 31, 29, 3}, 5)}));
}

TEST(DataTranspose, Plain2dOddSizesAndDefaultPerm) {
  KILN_REQUIRE_GPU();
  expectExact(spec("Transpose", {}, {rnd(DType::kFloat32, {257, 1000}, 6)}));
  expectExact(spec("Transpose", {}, {rnd(DType::kInt64, {33, 65}, 7)}));
  expectExact(spec("Transpose", {}, {rnd(DType::kInt8, {7, 3, 5}, 8)}));  // reversed rank 3
  expectExact(spec("Transpose", {}, {rnd(DType::kFloat32, {1000}, 9)}));   // rank 1: a copy
}

TEST(DataTranspose, AttentionHeadsAndInnerPreserved) {
  KILN_REQUIRE_GPU();
  // BERT: [B, S, heads, dh] -> [B, heads, S, dh]: the inner axis stays (vectorized generic copy).
  expectExact(spec("Transpose", attrs({{"perm", Ints{0, 2, 1, 3}}}), {rnd(DType::kFloat32, {2, 37, 12, 64}, 10)}));
  expectExact(spec("Transpose", attrs({{"perm", Ints{0, 2, 1, 3}}}), {rnd(DType::kFloat16, {3, 33, 4, 7}, 11)}));
  // [B, heads, S, dh] -> [B, heads, dh, S] (K^T): tiled on the last two axes.
  expectExact(spec("Transpose", attrs({{"perm", Ints{0, 1, 3, 2}}}), {rnd(DType::kBFloat16, {2, 3, 45, 64}, 12)}));
}

TEST(DataTranspose, HighRanksAndNegativePerm) {
  KILN_REQUIRE_GPU();
  expectExact(spec("Transpose", attrs({{"perm", Ints{4, 2, 0, 3, 1}}}), {rnd(DType::kFloat32, {3, 4, 5, 6, 7}, 13)}));
  expectExact(spec("Transpose", attrs({{"perm", Ints{1, 5, 3, 0, 2, 4}}}), {rnd(DType::kInt32, {2, 3, 2, 5, 3, 9}, 14)}));
  expectExact(spec("Transpose", attrs({{"perm", Ints{-1, 0, -2}}}), {rnd(DType::kFloat32, {9, 10, 11}, 15)}));
  // Size-1 axes are dropped before the copy is planned.
  expectExact(spec("Transpose", attrs({{"perm", Ints{2, 0, 3, 1}}}), {rnd(DType::kFloat32, {1, 40, 1, 50}, 16)}));
}

// ---- Concat / Split -------------------------------------------------------------------------------

TEST(DataConcat, AxesAndTypes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 100;
  for (DType t : movableTypes())
    expectExact(spec("Concat", attrs({{"axis", int64_t{1}}}),
                     {rnd(t, {3, 5, 7}, seed++), rnd(t, {3, 2, 7}, seed++), rnd(t, {3, 9, 7}, seed++)}));
  expectExact(spec("Concat", attrs({{"axis", int64_t{0}}}), {rnd(DType::kFloat32, {4, 33}, 1), rnd(DType::kFloat32, {1, 33}, 2)}));
  expectExact(spec("Concat", attrs({{"axis", int64_t{-1}}}),
                   {rnd(DType::kFloat16, {2, 3, 8}, 3), rnd(DType::kFloat16, {2, 3, 16}, 4), rnd(DType::kFloat16, {2, 3, 1}, 5)}));
  // Aligned rows (16-byte words) and a single input.
  expectExact(spec("Concat", attrs({{"axis", int64_t{1}}}), {rnd(DType::kFloat32, {8, 64, 4}, 6), rnd(DType::kFloat32, {8, 32, 4}, 7)}));
  expectExact(spec("Concat", attrs({{"axis", int64_t{2}}}), {rnd(DType::kInt64, {2, 3, 5}, 8)}));
}

TEST(DataSplit, SizesNumOutputsAndEqual) {
  KILN_REQUIRE_GPU();
  expectExact(spec("Split", attrs({{"axis", int64_t{1}}}), {rnd(DType::kFloat32, {3, 10, 7}, 1), i64({2, 5, 3})},
                   {false, true}, 3));
  expectExact(spec("Split", attrs({{"axis", int64_t{-1}}}), {rnd(DType::kInt8, {4, 9}, 2)}, {}, 3));
  expectExact(spec("Split", attrs({{"axis", int64_t{0}}, {"num_outputs", int64_t{3}}}), {rnd(DType::kFloat16, {7, 5}, 3)},
                   {}, 3));
  // BERT's fused QKV: [B, S, 3*768] split on the last axis (aligned rows).
  expectExact(spec("Split", attrs({{"axis", int64_t{2}}}), {rnd(DType::kFloat32, {2, 17, 3 * 64}, 4)}, {}, 3));
  expectExact(spec("Split", attrs({{"axis", int64_t{0}}}), {rnd(DType::kInt64, {6, 3}, 5), i64({0, 6})}, {false, true}, 2));
}

// ---- Slice ----------------------------------------------------------------------------------------

TEST(DataSlice, StartsEndsAxesSteps) {
  KILN_REQUIRE_GPU();
  const Tensor x = rnd(DType::kFloat32, {7, 33, 20}, 1);
  // starts, ends
  expectExact(spec("Slice", {}, {x, i64({1, 3}), i64({5, 30})}, {false, true, true}));
  // axes (negative), steps > 1
  expectExact(spec("Slice", {}, {x, i64({2, 0}), i64({19, 7}), i64({-1, 0}), i64({3, 2})}, {false, true, true, true, true}));
  // negative steps with clamping ends, INT64_MIN / MAX style bounds
  expectExact(spec("Slice", {}, {x, i64({-1, 100}), i64({-1000, 0}), i64({1, 2}), i64({-1, -3})},
                   {false, true, true, true, true}));
  expectExact(spec("Slice", {}, {x, i64({INT64_MAX}), i64({INT64_MIN}), i64({0}), i64({-2})}, {false, true, true, true, true}));
  // inner-contiguous slice (vectorized) and every dtype
  uint32_t seed = 50;
  for (DType t : movableTypes())
    expectExact(spec("Slice", {}, {rnd(t, {4, 6, 64}, seed++), i64({1, 16}), i64({5, 48}), i64({1, 2})},
                     {false, true, true, true}));
}

TEST(DataSlice, BertStyleFirstToken) {
  KILN_REQUIRE_GPU();
  // [B, S, H] -> [B, 1, H] (the pooler's first token).
  expectExact(spec("Slice", {}, {rnd(DType::kFloat16, {4, 128, 768}, 2), i64({0}), i64({1}), i64({1})}, {false, true, true, true}));
}

// ---- Expand / Tile --------------------------------------------------------------------------------

TEST(DataExpand, BroadcastsAndRankIncrease) {
  KILN_REQUIRE_GPU();
  expectExact(spec("Expand", {}, {rnd(DType::kFloat32, {3, 1, 5}, 1), i64({2, 3, 7, 5})}, {false, true}));
  expectExact(spec("Expand", {}, {rnd(DType::kInt64, {1}, 2), i64({33, 17})}, {false, true}));
  expectExact(spec("Expand", {}, {rnd(DType::kFloat16, {4, 1}, 3), i64({4, 257})}, {false, true}));
  expectExact(spec("Expand", {}, {rnd(DType::kBool, {1, 6, 1}, 4), i64({5, 1, 3})}, {false, true}));
  // The shape may be smaller than the input's (it broadcasts too).
  expectExact(spec("Expand", {}, {rnd(DType::kUInt8, {2, 3, 64}, 5), i64({1, 64})}, {false, true}));
  // Attention mask: [B, 1, 1, S] -> [B, H, S, S].
  expectExact(spec("Expand", {}, {rnd(DType::kFloat32, {2, 1, 1, 37}, 6), i64({2, 12, 37, 37})}, {false, true}));
}

TEST(DataTile, Repeats) {
  KILN_REQUIRE_GPU();
  expectExact(spec("Tile", {}, {rnd(DType::kFloat32, {3, 5}, 1), i64({2, 3})}, {false, true}));
  expectExact(spec("Tile", {}, {rnd(DType::kInt16, {2, 3, 4}, 2), i64({1, 4, 1})}, {false, true}));
  expectExact(spec("Tile", {}, {rnd(DType::kFloat64, {7}, 3), i64({5})}, {false, true}));
  expectExact(spec("Tile", {}, {rnd(DType::kFloat16, {2, 1, 16}, 4), i64({3, 7, 2})}, {false, true}));
}

// ---- DepthToSpace / SpaceToDepth ----------------------------------------------------------------

TEST(DataDepthToSpace, DcrAndCrd) {
  KILN_REQUIRE_GPU();
  for (const char* mode : {"DCR", "CRD"}) {
    expectExact(spec("DepthToSpace", attrs({{"blocksize", int64_t{2}}, {"mode", mode}}), {rnd(DType::kFloat32, {2, 12, 5, 7}, 1)}));
    expectExact(spec("DepthToSpace", attrs({{"blocksize", int64_t{3}}, {"mode", mode}}), {rnd(DType::kFloat16, {1, 18, 4, 3}, 2)}));
    expectExact(spec("SpaceToDepth", attrs({{"blocksize", int64_t{2}}, {"mode", mode}}), {rnd(DType::kFloat32, {2, 3, 10, 14}, 3)}));
    expectExact(spec("SpaceToDepth", attrs({{"blocksize", int64_t{4}}, {"mode", mode}}), {rnd(DType::kInt8, {1, 5, 16, 8}, 4)}));
  }
}

// ---- supports (no GPU needed) -----------------------------------------------------------------------

TEST(DataSupports, StringsAndRanks) {
  Desc str("Transpose", {}, {DType::kString}, {DType::kString});
  EXPECT_FALSE(supports("cuda_data_transpose", str.d));
  Desc f("Transpose", {}, {DType::kFloat32}, {DType::kFloat32}, {Shape(Dims{2, 3})});
  EXPECT_TRUE(supports("cuda_data_transpose", f.d));
  Desc tileBig("Tile", {}, {DType::kFloat32, DType::kInt64}, {DType::kFloat32}, {Shape(Dims{1, 2, 3, 4, 5, 6, 7}), Shape(Dims{7})});
  EXPECT_FALSE(supports("cuda_data_tile", tileBig.d));
  Desc concatStr("Concat", attrs({{"axis", int64_t{0}}}), {DType::kFloat32, DType::kString}, {DType::kString});
  EXPECT_FALSE(supports("cuda_data_concat", concatStr.d));
  Desc d2s("DepthToSpace", attrs({{"blocksize", int64_t{2}}}), {DType::kFloat32}, {DType::kFloat32}, {Shape(Dims{1, 4, 2, 2})});
  EXPECT_TRUE(supports("cuda_data_depth_to_space", d2s.d));
}

}  // namespace
}  // namespace kiln::testing
