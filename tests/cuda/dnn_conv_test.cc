// cuDNN Conv and ConvTranspose (tactics cuda_dnn_conv, cuda_dnn_conv_bias_act,
// cuda_dnn_conv_transpose) against the CPU reference: odd sizes, strides, dilations, symmetric and
// asymmetric paddings (pre-padded), auto_pad, groups/depthwise, 1-D/2-D/3-D, fp32/fp16/bf16/fp64,
// constant and non-constant weights, and every algorithm variant of a layer. The `supports`
// checks at the end run without a GPU.
#include <random>

#include <gtest/gtest.h>

#include "backends/cuda/gpu_kernel.h"
#include "dnn_test_util.h"

namespace kiln::testing {
namespace {

using dnn_test::attrs;
using dnn_test::expectEveryVariantMatches;
using dnn_test::expectGpuMatchesF32;
using dnn_test::randomIn;

using Ints = std::vector<int64_t>;

OpSpec convSpec(DType t, const Dims& x, const Dims& w, bool bias, AttrMap a, uint32_t seed, bool constW = true) {
  std::mt19937 rng(seed);
  OpSpec s;
  s.op = "Conv";
  s.attrs = std::move(a);
  s.inputs = {randomIn(t, x, rng), randomIn(t, w, rng, -0.5, 0.5)};
  s.constInputs = {false, constW, true};
  if (bias) s.inputs.push_back(randomIn(t, Dims{w[0]}, rng));
  return s;
}

constexpr double kF32Tol = 2e-4;
constexpr double kF16Tol = 5e-3;
constexpr double kBF16Tol = 2e-2;

TEST(DnnConv, Basic2dWithBias) {
  KILN_REQUIRE_GPU();
  expectGpuMatchesCpu(convSpec(DType::kFloat32, {2, 3, 7, 9}, {4, 3, 3, 3}, true, attrs({{"pads", Ints{1, 1, 1, 1}}}), 1),
                      kF32Tol);
}

TEST(DnnConv, NoBiasNoPadding) {
  KILN_REQUIRE_GPU();
  expectGpuMatchesCpu(convSpec(DType::kFloat32, {3, 5, 11, 6}, {7, 5, 2, 3}, false, {}, 2), kF32Tol);
}

TEST(DnnConv, StridesDilationsSymmetricPads) {
  KILN_REQUIRE_GPU();
  expectGpuMatchesCpu(convSpec(DType::kFloat32, {2, 4, 17, 13}, {6, 4, 3, 3}, true,
                               attrs({{"strides", Ints{2, 3}}, {"dilations", Ints{2, 1}}, {"pads", Ints{2, 1, 2, 1}}}), 3),
                      kF32Tol);
}

TEST(DnnConv, AsymmetricPadsArePrePadded) {
  KILN_REQUIRE_GPU();
  // begin != end with no symmetric equivalent: the input is zero-padded in the workspace first.
  expectGpuMatchesCpu(convSpec(DType::kFloat32, {2, 3, 10, 9}, {5, 3, 3, 2}, true,
                               attrs({{"strides", Ints{2, 1}}, {"pads", Ints{0, 2, 1, 0}}}), 4),
                      kF32Tol);
  // Asymmetric but equivalent to a symmetric padding (the extra end row is never read).
  expectGpuMatchesCpu(convSpec(DType::kFloat32, {1, 2, 8, 8}, {3, 2, 3, 3}, false,
                               attrs({{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 2, 2}}}), 5),
                      kF32Tol);
}

TEST(DnnConv, AutoPad) {
  KILN_REQUIRE_GPU();
  for (const char* mode : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
    SCOPED_TRACE(mode);
    expectGpuMatchesCpu(convSpec(DType::kFloat32, {2, 3, 224 / 8, 27}, {4, 3, 3, 4}, true,
                                 attrs({{"auto_pad", mode}, {"strides", Ints{2, 2}}}), 6),
                        kF32Tol);
    expectGpuMatchesCpu(convSpec(DType::kFloat32, {1, 2, 9, 10}, {3, 2, 3, 3}, false, attrs({{"auto_pad", mode}}), 7),
                        kF32Tol);
  }
}

TEST(DnnConv, GroupsAndDepthwise) {
  KILN_REQUIRE_GPU();
  expectGpuMatchesCpu(convSpec(DType::kFloat32, {1, 6, 9, 9}, {9, 2, 3, 3}, true,
                               attrs({{"group", 3}, {"pads", Ints{1, 1, 1, 1}}}), 8),
                      kF32Tol);
  expectGpuMatchesCpu(convSpec(DType::kFloat32, {2, 8, 10, 10}, {8, 1, 3, 3}, true,
                               attrs({{"group", 8}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}), 9),
                      kF32Tol);
  expectGpuMatchesF32(convSpec(DType::kFloat16, {2, 32, 15, 15}, {32, 1, 5, 5}, true,
                               attrs({{"group", 32}, {"pads", Ints{2, 2, 2, 2}}}), 10),
                      kF16Tol);
}

TEST(DnnConv, OneAndThreeSpatialDims) {
  KILN_REQUIRE_GPU();
  expectGpuMatchesCpu(convSpec(DType::kFloat32, {2, 3, 33}, {5, 3, 4}, true,
                               attrs({{"strides", Ints{2}}, {"pads", Ints{1, 2}}}), 11),
                      kF32Tol);
  expectGpuMatchesCpu(convSpec(DType::kFloat32, {1, 2, 5, 6, 7}, {3, 2, 3, 3, 3}, true,
                               attrs({{"pads", Ints{1, 1, 1, 1, 1, 1}}}), 12),
                      kF32Tol);
  expectGpuMatchesCpu(convSpec(DType::kFloat32, {2, 4, 6, 7, 5}, {4, 2, 2, 3, 1}, false,
                               attrs({{"group", 2}, {"strides", Ints{1, 2, 1}}, {"dilations", Ints{2, 1, 1}}}), 13),
                      kF32Tol);
}

TEST(DnnConv, LowPrecisionAndDouble) {
  KILN_REQUIRE_GPU();
  const AttrMap a = attrs({{"pads", Ints{1, 1, 1, 1}}});
  expectGpuMatchesF32(convSpec(DType::kFloat16, {2, 16, 15, 15}, {32, 16, 3, 3}, true, a, 14), kF16Tol);
  expectGpuMatchesF32(convSpec(DType::kFloat16, {1, 3, 33, 33}, {8, 3, 7, 7}, true,
                               attrs({{"strides", Ints{2, 2}}, {"pads", Ints{3, 3, 3, 3}}}), 15),
                      kF16Tol);
  expectGpuMatchesF32(convSpec(DType::kBFloat16, {2, 8, 9, 9}, {16, 8, 3, 3}, true, a, 16), kBF16Tol);
  expectGpuMatchesCpu(convSpec(DType::kFloat64, {2, 3, 9, 8}, {4, 3, 3, 3}, true, a, 17), 1e-10);
}

TEST(DnnConv, NonConstantWeights) {
  KILN_REQUIRE_GPU();
  expectGpuMatchesCpu(convSpec(DType::kFloat32, {2, 4, 8, 8}, {6, 4, 3, 3}, true, attrs({{"pads", Ints{1, 1, 1, 1}}}),
                               18, /*constW=*/false),
                      kF32Tol);
}

TEST(DnnConv, ResNetShapes) {
  KILN_REQUIRE_GPU();
  expectGpuMatchesCpu(convSpec(DType::kFloat32, {4, 64, 14, 14}, {128, 64, 1, 1}, true, {}, 19), kF32Tol);
  expectGpuMatchesCpu(convSpec(DType::kFloat32, {1, 3, 64, 64}, {16, 3, 7, 7}, true,
                               attrs({{"strides", Ints{2, 2}}, {"pads", Ints{3, 3, 3, 3}}}), 20),
                      kF32Tol);
}

TEST(DnnConv, EveryAlgorithmVariant) {
  KILN_REQUIRE_GPU();
  const AttrMap a = attrs({{"pads", Ints{1, 1, 1, 1}}});
  EXPECT_GT(expectEveryVariantMatches(convSpec(DType::kFloat32, {2, 32, 14, 14}, {32, 32, 3, 3}, true, a, 21),
                                      "cuda_dnn_conv", kF32Tol),
            0);
  EXPECT_GT(expectEveryVariantMatches(convSpec(DType::kFloat16, {2, 32, 14, 14}, {64, 32, 3, 3}, true, a, 22),
                                      "cuda_dnn_conv", kF16Tol),
            0);
  EXPECT_GT(expectEveryVariantMatches(convSpec(DType::kFloat32, {2, 8, 9, 9}, {8, 8, 3, 3}, true, a, 23),
                                      "cuda_dnn_conv_bias_act", kF32Tol),
            0);
}

// ---- ConvTranspose ----------------------------------------------------------------------------

OpSpec convTSpec(DType t, const Dims& x, const Dims& w, bool bias, AttrMap a, uint32_t seed, int64_t group = 1) {
  std::mt19937 rng(seed);
  OpSpec s;
  s.op = "ConvTranspose";
  s.attrs = std::move(a);
  if (group != 1) s.attrs.set("group", group);
  s.inputs = {randomIn(t, x, rng), randomIn(t, w, rng, -0.5, 0.5)};
  s.constInputs = {false, true, true};
  if (bias) s.inputs.push_back(randomIn(t, Dims{w[1] * group}, rng));
  return s;
}

TEST(DnnConvTranspose, Basic) {
  KILN_REQUIRE_GPU();
  expectGpuMatchesCpu(convTSpec(DType::kFloat32, {2, 3, 5, 7}, {3, 4, 3, 3}, true, {}, 31), kF32Tol);
  expectGpuMatchesCpu(convTSpec(DType::kFloat32, {1, 4, 6, 5}, {4, 2, 3, 2}, false,
                                attrs({{"strides", Ints{2, 3}}, {"pads", Ints{1, 0, 1, 0}}}), 32),
                      kF32Tol);
}

TEST(DnnConvTranspose, OutputPaddingShapeAndAutoPad) {
  KILN_REQUIRE_GPU();
  expectGpuMatchesCpu(convTSpec(DType::kFloat32, {2, 3, 5, 5}, {3, 2, 3, 3}, true,
                                attrs({{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}, {"output_padding", Ints{1, 1}}}),
                                33),
                      kF32Tol);
  expectGpuMatchesCpu(convTSpec(DType::kFloat32, {1, 2, 4, 4}, {2, 3, 3, 3}, false,
                                attrs({{"strides", Ints{2, 2}}, {"output_shape", Ints{8, 8}}}), 34),
                      kF32Tol);
  expectGpuMatchesCpu(convTSpec(DType::kFloat32, {1, 2, 4, 5}, {2, 3, 3, 3}, true,
                                attrs({{"strides", Ints{2, 2}}, {"auto_pad", "SAME_UPPER"}}), 35),
                      kF32Tol);
}

TEST(DnnConvTranspose, AsymmetricPaddingsCropATemporary) {
  KILN_REQUIRE_GPU();
  expectGpuMatchesCpu(convTSpec(DType::kFloat32, {1, 3, 5, 6}, {3, 2, 3, 3}, true, attrs({{"pads", Ints{0, 1, 2, 0}}}), 42),
                      kF32Tol);
  expectGpuMatchesCpu(convTSpec(DType::kFloat32, {2, 2, 4, 4}, {2, 3, 3, 3}, true,
                                attrs({{"strides", Ints{2, 2}}, {"auto_pad", "SAME_LOWER"}}), 43),
                      kF32Tol);
  // A stride larger than the kernel with SAME_UPPER: negative begin padding (a shifted output).
  expectGpuMatchesCpu(convTSpec(DType::kFloat32, {1, 2, 3, 4}, {2, 2, 1, 1}, false,
                                attrs({{"strides", Ints{3, 3}}, {"auto_pad", "SAME_UPPER"}}), 44),
                      kF32Tol);
}

TEST(DnnConvTranspose, GroupsDilations1d3dAndTypes) {
  KILN_REQUIRE_GPU();
  expectGpuMatchesCpu(convTSpec(DType::kFloat32, {2, 4, 6, 6}, {4, 3, 3, 3}, true,
                                attrs({{"dilations", Ints{2, 2}}, {"strides", Ints{1, 2}}}), 36, /*group=*/2),
                      kF32Tol);
  expectGpuMatchesCpu(convTSpec(DType::kFloat32, {2, 3, 9}, {3, 5, 4}, true, attrs({{"strides", Ints{3}}}), 37),
                      kF32Tol);
  expectGpuMatchesCpu(convTSpec(DType::kFloat32, {1, 2, 3, 4, 3}, {2, 2, 2, 2, 2}, true,
                                attrs({{"strides", Ints{2, 2, 2}}}), 38),
                      kF32Tol);
  expectGpuMatchesF32(convTSpec(DType::kFloat16, {2, 16, 7, 7}, {16, 8, 4, 4}, true,
                                attrs({{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}), 39),
                      kF16Tol);
  expectGpuMatchesCpu(convTSpec(DType::kFloat64, {1, 3, 5, 4}, {3, 2, 3, 3}, true, {}, 40), 1e-10);
}

TEST(DnnConvTranspose, EveryAlgorithmVariant) {
  KILN_REQUIRE_GPU();
  EXPECT_GT(expectEveryVariantMatches(convTSpec(DType::kFloat32, {2, 8, 7, 7}, {8, 8, 3, 3}, true,
                                                attrs({{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}), 41),
                                      "cuda_dnn_conv_transpose", kF32Tol),
            0);
}

// ---- supports (no GPU needed) ----------------------------------------------------------------

const cuda::GpuKernelDef& def(const char* tactic) {
  const cuda::GpuKernelDef* d = cuda::GpuKernelRegistry::global().findTactic(tactic);
  EXPECT_NE(d, nullptr) << tactic;
  return *d;
}

cuda::LayerDesc layer(const char* op, DType t, Shape x, Shape w, Shape y, const AttrMap* a, bool bias,
                      const char* domain = "") {
  cuda::LayerDesc d;
  d.op = op;
  d.domain = domain;
  d.attrs = a;
  const Dim m = w[0];  // before w is moved
  d.inputTypes = {t, t};
  d.inputShapes = {std::move(x), std::move(w)};
  if (bias) {
    d.inputTypes.push_back(t);
    d.inputShapes.push_back(Shape{m});
  }
  d.constInputs.resize(d.inputTypes.size(), nullptr);
  d.outputTypes = {t};
  d.outputShapes = {std::move(y)};
  return d;
}

TEST(DnnConvSupports, DtypesRanksAndPaddings) {
  const auto& conv = def("cuda_dnn_conv");
  AttrMap pads;
  pads.set("group", int64_t{1});
  pads.set("pads", Ints{1, 1, 1, 1});
  EXPECT_TRUE(conv.supports(layer("Conv", DType::kFloat32, Shape{Dim(1), Dim(3), Dim(8), Dim(8)},
                                  Shape{Dim(4), Dim(3), Dim(3), Dim(3)}, Shape{Dim(1), Dim(4), Dim(8), Dim(8)}, &pads, true)));
  EXPECT_TRUE(conv.supports(layer("Conv", DType::kFloat16, Shape{Dim::symbol("n"), Dim(3), Dim::symbol("h"), Dim(8)},
                                  Shape{Dim(4), Dim(3), Dim(3), Dim(3)},
                                  Shape{Dim::symbol("n"), Dim(4), Dim::symbol("h"), Dim(8)}, &pads, false)));
  EXPECT_FALSE(conv.supports(layer("Conv", DType::kInt8, Shape{Dim(1), Dim(3), Dim(8), Dim(8)},
                                   Shape{Dim(4), Dim(3), Dim(3), Dim(3)}, Shape{Dim(1), Dim(4), Dim(8), Dim(8)}, &pads, false)));
  // 4 spatial dims: cuDNN has 2-D and 3-D convolutions only.
  AttrMap none;
  none.set("group", int64_t{1});
  EXPECT_FALSE(conv.supports(layer("Conv", DType::kFloat32, Shape{Dim(1), Dim(1), Dim(3), Dim(3), Dim(3), Dim(3)},
                                   Shape{Dim(1), Dim(1), Dim(1), Dim(1), Dim(1), Dim(1)},
                                   Shape{Dim(1), Dim(1), Dim(3), Dim(3), Dim(3), Dim(3)}, &none, false)));
  // Asymmetric paddings: pre-padded when static, refused when the input size is symbolic.
  AttrMap asym;
  asym.set("group", int64_t{1});
  asym.set("pads", Ints{0, 0, 1, 1});
  EXPECT_TRUE(conv.supports(layer("Conv", DType::kFloat32, Shape{Dim(1), Dim(3), Dim(8), Dim(8)},
                                  Shape{Dim(4), Dim(3), Dim(3), Dim(3)}, Shape{Dim(1), Dim(4), Dim(7), Dim(7)}, &asym, false)));
  EXPECT_FALSE(conv.supports(layer("Conv", DType::kFloat32, Shape{Dim(1), Dim(3), Dim::symbol("h"), Dim(8)},
                                   Shape{Dim(4), Dim(3), Dim(3), Dim(3)},
                                   Shape{Dim(1), Dim(4), Dim::unknown(), Dim(7)}, &asym, false)));
  // The fused cuDNN call on a plain Conv needs a bias (else there is nothing to fuse).
  const auto& biasAct = def("cuda_dnn_conv_bias_act");
  EXPECT_FALSE(biasAct.supports(layer("Conv", DType::kFloat32, Shape{Dim(1), Dim(3), Dim(8), Dim(8)},
                                      Shape{Dim(4), Dim(3), Dim(3), Dim(3)}, Shape{Dim(1), Dim(4), Dim(8), Dim(8)}, &pads,
                                      false)));
  EXPECT_TRUE(biasAct.supports(layer("Conv", DType::kFloat32, Shape{Dim(1), Dim(3), Dim(8), Dim(8)},
                                     Shape{Dim(4), Dim(3), Dim(3), Dim(3)}, Shape{Dim(1), Dim(4), Dim(8), Dim(8)}, &pads,
                                     true)));
  EXPECT_FALSE(biasAct.supports(layer("Conv", DType::kBFloat16, Shape{Dim(1), Dim(3), Dim(8), Dim(8)},
                                      Shape{Dim(4), Dim(3), Dim(3), Dim(3)}, Shape{Dim(1), Dim(4), Dim(8), Dim(8)}, &pads,
                                      true)));
}

TEST(DnnConvSupports, ConvTransposePaddings) {
  const auto& ct = def("cuda_dnn_conv_transpose");
  AttrMap a;
  a.set("group", int64_t{1});
  a.set("strides", Ints{2, 2});
  a.set("pads", Ints{1, 1, 1, 1});
  a.set("output_padding", Ints{1, 1});
  EXPECT_TRUE(ct.supports(layer("ConvTranspose", DType::kFloat32, Shape{Dim(1), Dim(3), Dim(5), Dim(5)},
                                Shape{Dim(3), Dim(2), Dim(3), Dim(3)}, Shape{Dim(1), Dim(2), Dim(10), Dim(10)}, &a, true)));
  EXPECT_TRUE(ct.supports(layer("ConvTranspose", DType::kFloat32, Shape{Dim::symbol("n"), Dim(3), Dim::symbol("h"), Dim(5)},
                                Shape{Dim(3), Dim(2), Dim(3), Dim(3)},
                                Shape{Dim::symbol("n"), Dim(2), Dim::unknown(), Dim(10)}, &a, true)));
  // begin padding 0, end 2: no symmetric cuDNN padding yields this size; with static shapes cuDNN
  // writes a larger temporary that is cropped, with a symbolic size the layer is refused.
  AttrMap b;
  b.set("group", int64_t{1});
  b.set("pads", Ints{0, 0, 2, 2});
  EXPECT_TRUE(ct.supports(layer("ConvTranspose", DType::kFloat32, Shape{Dim(1), Dim(3), Dim(5), Dim(5)},
                                Shape{Dim(3), Dim(2), Dim(3), Dim(3)}, Shape{Dim(1), Dim(2), Dim(5), Dim(5)}, &b, false)));
  EXPECT_FALSE(ct.supports(layer("ConvTranspose", DType::kFloat32, Shape{Dim(1), Dim(3), Dim::symbol("h"), Dim(5)},
                                 Shape{Dim(3), Dim(2), Dim(3), Dim(3)}, Shape{Dim(1), Dim(2), Dim::unknown(), Dim(5)}, &b,
                                 false)));
}

}  // namespace
}  // namespace kiln::testing
