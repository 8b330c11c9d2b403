// LayerNormalization / RMSNormalization on the GPU against the CPU reference: the warp-per-row
// path (BERT hidden sizes 384/768/1024, vectorized and not), its packed-row tactic for 16-bit
// rows, the block path (d > 1024), axes other than the last, scalar parameters, the optional
// Mean/InvStdDev outputs, every float type, and parameter shapes the kernels refuse.
#include <gtest/gtest.h>

#include "reduce_test_util.h"

namespace kiln::testing {
namespace {

using namespace rn_test;

Dims blockOf(const Dims& x, int axis) {
  Dims d;
  for (int i = axis; i < x.rank(); ++i) d.push_back(x[i]);
  return d;
}

OpSpec lnSpec(DType t, const Dims& x, int64_t axis, bool bias, int outputs, uint32_t seed, bool constParams = true) {
  const int a = static_cast<int>(axis < 0 ? axis + x.rank() : axis);
  std::vector<Tensor> ins = {rnd(t, x, seed, -3.0, 5.0), rnd(t, blockOf(x, a), seed + 1, 0.5, 1.5)};
  if (bias) ins.push_back(rnd(t, blockOf(x, a), seed + 2));
  std::vector<bool> c(ins.size(), constParams);
  c[0] = false;
  return spec("LayerNormalization", attrs({{"axis", axis}, {"epsilon", 1e-5f}}), ins, c, outputs);
}

TEST(NormLayer, HiddenSizes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 1;
  for (int64_t d : {1, 3, 33, 64, 384, 768, 1000, 1024, 1025, 2048, 4099})
    for (bool bias : {true, false}) {
      SCOPED_TRACE("d " + std::to_string(d) + (bias ? " bias" : ""));
      expectGpuMatchesCpu(lnSpec(DType::kFloat32, {5, 3, d}, -1, bias, 1, seed), 1e-5);
      seed += 3;
    }
}

TEST(NormLayer, BertFp16) {
  // Both tactics: the float-holding kernel and the packed one (16-bit rows of whole 16-byte
  // vectors, 1-4 a lane; 8, 264 and 1000 leave some lanes without a vector in the last step).
  KILN_REQUIRE_GPU();
  uint32_t seed = 100;
  for (int64_t d : {8, 264, 384, 768, 1000, 1024})
    for (DType t : {DType::kFloat16, DType::kBFloat16})
      for (const char* tactic : {"cuda_norm_layernorm", "cuda_norm_packed_layernorm"}) {
        SCOPED_TRACE(tn(t) + " d " + std::to_string(d) + " " + tactic);
        const OpSpec s = lnSpec(t, {2, 128, d}, -1, d != 264, 1, seed);
        ASSERT_TRUE(runOpCuda(s, {.tactic = tactic}).ok());  // the forced tactic takes the layer
        expectGpuMatchesCpu(s, tolFor(t), {.tactic = tactic});
        seed += 3;
      }
}

TEST(NormLayer, PackedRowsManyRowsAndStatistics) {
  // The packed kernel with more rows than warps launched (warps walk rows), the optional
  // Mean/InvStdDev outputs, and RMSNormalization's packed tactic.
  KILN_REQUIRE_GPU();
  for (DType t : {DType::kFloat16, DType::kBFloat16}) {
    SCOPED_TRACE(tn(t));
    const GpuRunOptions o{.tactic = "cuda_norm_packed_layernorm"};
    for (const OpSpec& s : {lnSpec(t, {7, 1301, 768}, -1, true, 1, 170), lnSpec(t, {31, 136}, -1, false, 3, 171)}) {
      ASSERT_TRUE(runOpCuda(s, o).ok());  // the forced tactic takes the layer
      expectGpuMatchesCpu(s, tolFor(t), o);
    }
    for (int64_t d : {64, 768}) {
      Tensor x = rnd(t, {3, 5, d}, 172), sc = rnd(t, {d}, 173, 0.5, 1.5);
      const OpSpec s = spec("RMSNormalization", attrs({{"epsilon", 1e-6f}}), {x, sc}, {false, true});
      ASSERT_TRUE(runOpCuda(s, {.tactic = "cuda_norm_packed_rmsnorm"}).ok());
      expectGpuMatchesCpu(s, tolFor(t), {.tactic = "cuda_norm_packed_rmsnorm"});
    }
  }
}

TEST(NormLayer, PackedTacticRefusesRowsItCannotHold) {
  // Rows not made of whole 16-byte vectors, wider than 1024 values, float32, or a scalar Scale:
  // supports() refuses, so the packed tactic cannot be forced.
  KILN_REQUIRE_GPU();
  const GpuRunOptions o{.tactic = "cuda_norm_packed_layernorm"};
  EXPECT_FALSE(runOpCuda(lnSpec(DType::kFloat16, {4, 100}, -1, true, 1, 180), o).ok());
  EXPECT_FALSE(runOpCuda(lnSpec(DType::kFloat16, {4, 1032}, -1, true, 1, 181), o).ok());
  EXPECT_FALSE(runOpCuda(lnSpec(DType::kFloat32, {4, 768}, -1, true, 1, 182), o).ok());
  Tensor x = rnd(DType::kFloat16, {6, 64}, 183);
  Tensor sc = rnd(DType::kFloat16, {1}, 184);
  EXPECT_FALSE(runOpCuda(spec("LayerNormalization", {}, {x, sc}, {false, true}), o).ok());
  EXPECT_TRUE(runOpCuda(lnSpec(DType::kFloat16, {4, 1024}, -1, true, 1, 185), o).ok());
}

TEST(NormLayer, ManyRowsPerWarp) {
  // More rows than the warps launched (the grid is capped): warps walk several rows; row counts
  // not a multiple of the warps, the statistics outputs.
  KILN_REQUIRE_GPU();
  uint32_t seed = 150;
  for (DType t : {DType::kFloat16, DType::kBFloat16, DType::kFloat32}) {
    SCOPED_TRACE(tn(t));
    expectGpuMatchesCpu(lnSpec(t, {7, 1301, 768}, -1, true, 1, seed), tolFor(t));
    expectGpuMatchesCpu(lnSpec(t, {4099, 200}, -1, false, 3, seed + 3), tolFor(t));
    seed += 6;
  }
}

TEST(NormLayer, AxesAndStatistics) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 200;
  for (int64_t axis : {0, 1, 2, 3, -2})
    for (int outputs : {1, 3}) {
      SCOPED_TRACE("axis " + std::to_string(axis) + " outputs " + std::to_string(outputs));
      expectGpuMatchesCpu(lnSpec(DType::kFloat32, {2, 3, 4, 5}, axis, true, outputs, seed), 1e-5);
      seed += 3;
    }
  expectGpuMatchesCpu(lnSpec(DType::kFloat64, {7, 129}, -1, true, 3, 300), 1e-9);
  expectGpuMatchesCpu(lnSpec(DType::kFloat16, {7, 136}, -1, false, 3, 301), 2e-3);
}

TEST(NormLayer, FloatTypesAndRuntimeParams) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 400;
  for (DType t : floatTypes())
    for (int64_t d : {40, 200, 1536}) {
      SCOPED_TRACE(tn(t) + " d " + std::to_string(d));
      expectGpuMatchesCpu(lnSpec(t, {9, d}, -1, true, 1, seed, /*constParams=*/false), tolFor(t));
      seed += 3;
    }
}

TEST(NormLayer, ScalarParameters) {
  KILN_REQUIRE_GPU();
  Tensor x = rnd(DType::kFloat32, {6, 50}, 1);
  Tensor s = Tensor::fromVector<float>({1.5f}, Dims{1});
  Tensor b = Tensor::fromVector<float>({-0.25f}, Dims{1, 1});
  expectGpuMatchesCpu(spec("LayerNormalization", {}, {x, s, b}, {false, true, true}), 1e-5);
}

TEST(NormLayer, RmsNorm) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 500;
  for (DType t : floatTypes())
    for (int64_t d : {7, 64, 768, 4096}) {
      SCOPED_TRACE(tn(t) + " d " + std::to_string(d));
      Tensor x = rnd(t, {3, 5, d}, seed), sc = rnd(t, {d}, seed + 1, 0.5, 1.5);
      expectGpuMatchesCpu(spec("RMSNormalization", attrs({{"epsilon", 1e-6f}}), {x, sc}, {false, true}), tolFor(t));
      seed += 2;
    }
  Tensor x = rnd(DType::kFloat32, {4, 6, 10}, 9);
  expectGpuMatchesCpu(spec("RMSNormalization", attrs({{"axis", int64_t{1}}}), {x, rnd(DType::kFloat32, {6, 10}, 10)},
                           {false, true}),
                      1e-5);
}

TEST(NormLayer, ParameterBroadcastInsideBlockHasNoCudaKernel) {
  KILN_REQUIRE_GPU();
  // Scale [5] over a normalized block [4, 5]: supports() refuses, so no CUDA tactic can be forced.
  Tensor x = rnd(DType::kFloat32, {3, 4, 5}, 1);
  OpSpec s = spec("LayerNormalization", attrs({{"axis", int64_t{1}}}), {x, rnd(DType::kFloat32, {5}, 2)}, {false, true});
  GpuRunOptions o;
  o.tactic = "cuda_norm_layernorm";
  EXPECT_FALSE(runOpCuda(s, o).ok());
}

}  // namespace
}  // namespace kiln::testing

namespace kiln::testing {
namespace {

using namespace rn_test;

Tensor ids(DType t, const Dims& d, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> u(-vocab, vocab - 1);  // negative ids count from the end
  Tensor x = Tensor::allocate(t, d);
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (t == DType::kInt64) x.data<int64_t>()[i] = u(rng);
    else x.data<int32_t>()[i] = static_cast<int32_t>(u(rng));
  }
  return x;
}

// kiln:EmbedLayerNorm: one or two gathered tables, an addend of [1, S, H], [H] or none, beta or
// none, int32/int64 ids, every float type; cuda_norm_embed_layernorm's warp path vectorized (768)
// and not (100) and its block path (1500), and for 16-bit tables of 16 and 768 values the packed
// tactic (cuda_norm_packed_embed_layernorm), which refuses the other widths.
TEST(NormLayer, EmbedLayerNorm) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 300;
  const Dims idsDims{3, 37};
  for (int64_t h : {16, 100, 768, 1500})
    for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
      for (int form = 0; form < 3; ++form) {
        SCOPED_TRACE(tn(t) + " H " + std::to_string(h) + " form " + std::to_string(form));
        const DType it = form == 1 ? DType::kInt32 : DType::kInt64;
        // ids0, table0, gamma, beta?, ids1?, table1?, addend?
        std::vector<Tensor> in = {ids(it, idsDims, 53, seed), rnd(t, {53, h}, seed + 1),
                                  rnd(t, {h}, seed + 2, 0.5, 1.5), form != 1 ? rnd(t, {h}, seed + 3) : Tensor()};
        std::vector<bool> c = {false, true, true, form != 1};
        if (form != 2) {
          in.push_back(ids(it, idsDims, 2, seed + 4));
          in.push_back(rnd(t, {2, h}, seed + 5));
          in.push_back(form == 0 ? rnd(t, {1, 37, h}, seed + 6) : rnd(t, {h}, seed + 6));
          c.insert(c.end(), {false, true, true});
        }
        const OpSpec sp = spec("EmbedLayerNorm", attrs({{"epsilon", 1e-5f}}), in, c, 1, "kiln");
        expectGpuMatchesCpu(sp, tolFor(t));
        const GpuRunOptions packed{.tactic = "cuda_norm_packed_embed_layernorm"};
        if (t != DType::kFloat32 && h % 8 == 0 && h <= 1024) {
          ASSERT_TRUE(runOpCuda(sp, packed).ok());  // the forced tactic takes the layer
          expectGpuMatchesCpu(sp, tolFor(t), packed);
        } else {
          EXPECT_FALSE(runOpCuda(sp, packed).ok()) << "the packed tactic cannot hold these rows";
        }
        seed += 7;
      }
}

}  // namespace
}  // namespace kiln::testing
