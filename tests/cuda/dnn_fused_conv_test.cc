// cuDNN kiln:FusedConv (tactics cuda_dnn_fused_conv_bias_act, cuda_dnn_fused_conv) against the
// float32 CPU reference: NHWC fp16 (the ResNet-50 --fp16 path) and NC... fp32 with bias, residual
// and every activation, channels-last 1-D, depthwise with asymmetric SAME padding, non-constant
// weights (relaid on the device), every algorithm variant; and a ResNet basic block built through
// the optimizer (fuse-conv + channels-last + --fp16) compared with the CPU engine.
#include <cstdio>
#include <random>

#include <unistd.h>

#include <gtest/gtest.h>

#include "dnn_test_util.h"
#include "kiln/builder.h"
#include "kiln/engine.h"
#include "model_builder.h"
#include "plan/plan.h"

namespace kiln::testing {
namespace {

using dnn_test::attrs;
using dnn_test::expectEveryVariantMatches;
using dnn_test::expectGpuMatchesF32;
using dnn_test::randomIn;

using Ints = std::vector<int64_t>;

struct FusedCase {
  DType dtype = DType::kFloat32;
  bool channelsLast = false;
  Dims x;  // logical [N, C, S...]
  Dims w;  // [M, C/group, k...]
  Ints strides, pads, dilations;
  std::string autoPad = "NOTSET";
  int64_t group = 1;
  bool bias = true, residual = false, constW = true;
  std::string act;
  float alpha = 0.f, beta = 0.f;
};

// Logical output dims of the case (the ONNX formula; SAME: ceil(in / s)).
Dims outDims(const FusedCase& c) {
  const int n = c.x.rank() - 2;
  Dims y;
  y.push_back(c.x[0]);
  y.push_back(c.w[0]);
  for (int i = 0; i < n; ++i) {
    const int64_t s = c.strides.empty() ? 1 : c.strides[i], d = c.dilations.empty() ? 1 : c.dilations[i];
    const int64_t ek = (c.w[2 + i] - 1) * d + 1;
    if (c.autoPad == "SAME_UPPER" || c.autoPad == "SAME_LOWER") {
      y.push_back((c.x[2 + i] + s - 1) / s);
    } else {
      const int64_t pads = c.pads.empty() ? 0 : c.pads[i] + c.pads[i + n];
      y.push_back((c.x[2 + i] + pads - ek) / s + 1);
    }
  }
  return y;
}

Dims physical(const Dims& logical, bool channelsLast) {
  if (!channelsLast) return logical;
  Dims d;
  d.push_back(logical[0]);
  for (int i = 2; i < logical.rank(); ++i) d.push_back(logical[i]);
  d.push_back(logical[1]);
  return d;
}

OpSpec fusedSpec(const FusedCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  OpSpec s;
  s.op = "FusedConv";
  s.domain = "kiln";
  s.opset = 1;
  s.attrs.set("group", c.group);
  s.attrs.set("auto_pad", c.autoPad);
  if (!c.strides.empty()) s.attrs.set("strides", c.strides);
  if (!c.pads.empty()) s.attrs.set("pads", c.pads);
  if (!c.dilations.empty()) s.attrs.set("dilations", c.dilations);
  s.attrs.set("activation", c.act);
  s.attrs.set("activation_alpha", c.alpha);
  s.attrs.set("activation_beta", c.beta);
  s.attrs.set("channels_last", int64_t{c.channelsLast ? 1 : 0});
  s.inputs.push_back(randomIn(c.dtype, physical(c.x, c.channelsLast), rng));
  s.inputs.push_back(randomIn(c.dtype, c.w, rng, -0.5, 0.5));
  s.inputs.push_back(c.bias ? randomIn(c.dtype, Dims{c.w[0]}, rng) : Tensor());
  if (c.residual) s.inputs.push_back(randomIn(c.dtype, physical(outDims(c), c.channelsLast), rng));
  s.constInputs = {false, c.constW, true, false};
  return s;
}

constexpr double kF32Tol = 2e-4;
constexpr double kF16Tol = 5e-3;
constexpr double kBF16Tol = 2e-2;

TEST(DnnFusedConv, ResNetNhwcFp16BiasResidualRelu) {
  KILN_REQUIRE_GPU();
  FusedCase c;
  c.dtype = DType::kFloat16;
  c.channelsLast = true;
  c.x = {2, 64, 14, 14};
  c.w = {64, 64, 3, 3};
  c.pads = {1, 1, 1, 1};
  c.residual = true;
  c.act = "Relu";
  EXPECT_GE(expectGpuMatchesF32(fusedSpec(c, 1), kF16Tol), 2);
  c.residual = false;  // conv + bias + ReLU (most ResNet-50 layers)
  EXPECT_GE(expectGpuMatchesF32(fusedSpec(c, 2), kF16Tol), 2);
}

TEST(DnnFusedConv, ResNetNhwcFp16Downsample1x1AndStem) {
  KILN_REQUIRE_GPU();
  FusedCase c;
  c.dtype = DType::kFloat16;
  c.channelsLast = true;
  c.x = {2, 32, 15, 15};
  c.w = {64, 32, 1, 1};
  c.strides = {2, 2};
  expectGpuMatchesF32(fusedSpec(c, 3), kF16Tol);  // bias only, no activation
  FusedCase stem;
  stem.dtype = DType::kFloat16;
  stem.channelsLast = true;
  stem.x = {1, 3, 33, 33};
  stem.w = {16, 3, 7, 7};
  stem.strides = {2, 2};
  stem.pads = {3, 3, 3, 3};
  stem.act = "Relu";
  expectGpuMatchesF32(fusedSpec(stem, 4), kF16Tol);
}

TEST(DnnFusedConv, NchwFp32BiasResidualRelu) {
  KILN_REQUIRE_GPU();
  FusedCase c;
  c.x = {2, 8, 9, 11};
  c.w = {12, 8, 3, 3};
  c.pads = {1, 1, 1, 1};
  c.residual = true;
  c.act = "Relu";
  EXPECT_GE(expectGpuMatchesF32(fusedSpec(c, 5), kF32Tol), 2);
  c.act = "";  // identity: the cuDNN fused call with IMPLICIT_PRECOMP_GEMM
  EXPECT_GE(expectGpuMatchesF32(fusedSpec(c, 6), kF32Tol), 2);
  c.bias = false;
  c.act = "Relu";  // the fused call with a zero bias
  EXPECT_GE(expectGpuMatchesF32(fusedSpec(c, 7), kF32Tol), 2);
}

TEST(DnnFusedConv, EveryActivationBothLayouts) {
  KILN_REQUIRE_GPU();
  struct A {
    const char* name;
    float alpha, beta;
  };
  const A acts[] = {{"LeakyRelu", 0.1f, 0.f}, {"Clip", 0.f, 6.f}, {"Clip", -0.3f, 0.4f}, {"Sigmoid", 0.f, 0.f},
                    {"Tanh", 0.f, 0.f},       {"HardSwish", 0.f, 0.f}, {"Silu", 0.f, 0.f},  {"Gelu", 0.f, 0.f},
                    {"GeluTanh", 0.f, 0.f},   {"Relu", 0.f, 0.f},      {"", 0.f, 0.f}};
  uint32_t seed = 10;
  for (const A& a : acts) {
    for (bool cl : {false, true}) {
      for (DType t : {DType::kFloat32, DType::kFloat16}) {
        SCOPED_TRACE(std::string(a.name) + (cl ? " NHWC " : " NCHW ") + std::string(dtypeName(t)));
        FusedCase c;
        c.dtype = t;
        c.channelsLast = cl;
        c.x = {2, 8, 7, 9};
        c.w = {16, 8, 3, 3};
        c.pads = {1, 1, 1, 1};
        c.residual = seed % 2 == 0;
        c.act = a.name;
        c.alpha = a.alpha;
        c.beta = a.beta;
        EXPECT_GE(expectGpuMatchesF32(fusedSpec(c, seed++), t == DType::kFloat32 ? kF32Tol : kF16Tol,
                                      {"cuda_dnn_fused_conv"}),
                  2);
      }
    }
  }
}

TEST(DnnFusedConv, OddChannelsVectorFallback) {
  KILN_REQUIRE_GPU();
  // 7 output channels and a 5x3 output plane: the epilogue can't use 16-byte vectors.
  FusedCase c;
  c.dtype = DType::kFloat16;
  c.channelsLast = true;
  c.x = {3, 5, 7, 5};
  c.w = {7, 5, 3, 3};
  c.residual = true;
  c.act = "Silu";
  expectGpuMatchesF32(fusedSpec(c, 40), kF16Tol);
  c.channelsLast = false;
  c.dtype = DType::kFloat32;
  expectGpuMatchesF32(fusedSpec(c, 41), kF32Tol);
}

TEST(DnnFusedConv, DepthwiseSameUpperNhwc) {
  KILN_REQUIRE_GPU();
  // SAME_UPPER with stride 2 on an even size: begin 0, end 1 (pre-padded in NHWC).
  FusedCase c;
  c.dtype = DType::kFloat16;
  c.channelsLast = true;
  c.x = {2, 16, 10, 9};
  c.w = {16, 1, 3, 3};
  c.group = 16;
  c.strides = {2, 2};
  c.autoPad = "SAME_UPPER";
  c.act = "Clip";
  c.beta = 6.f;
  expectGpuMatchesF32(fusedSpec(c, 50), kF16Tol);
  c.autoPad = "SAME_LOWER";
  expectGpuMatchesF32(fusedSpec(c, 51), kF16Tol);
}

TEST(DnnFusedConv, NonConstantWeightsAndGroupsNhwc) {
  KILN_REQUIRE_GPU();
  FusedCase c;
  c.channelsLast = true;
  c.x = {2, 8, 9, 7};
  c.w = {12, 4, 3, 2};
  c.group = 2;
  c.pads = {1, 0, 1, 1};
  c.constW = false;
  c.residual = true;
  c.act = "Silu";
  expectGpuMatchesF32(fusedSpec(c, 60), kF32Tol);
  c.dtype = DType::kFloat16;
  expectGpuMatchesF32(fusedSpec(c, 61), kF16Tol);
}

TEST(DnnFusedConv, ChannelsLast1dAnd3dAndBf16) {
  KILN_REQUIRE_GPU();
  FusedCase c1;
  c1.dtype = DType::kFloat16;
  c1.channelsLast = true;
  c1.x = {2, 8, 33};
  c1.w = {8, 8, 3};
  c1.pads = {1, 1};
  c1.act = "Relu";
  c1.residual = true;
  expectGpuMatchesF32(fusedSpec(c1, 70), kF16Tol);
  FusedCase c3;
  c3.channelsLast = true;
  c3.x = {1, 4, 5, 6, 7};
  c3.w = {8, 4, 3, 3, 3};
  c3.pads = {1, 1, 1, 1, 1, 1};
  c3.act = "Relu";
  expectGpuMatchesF32(fusedSpec(c3, 71), kF32Tol);
  FusedCase cb;
  cb.dtype = DType::kBFloat16;
  cb.channelsLast = true;
  cb.x = {2, 16, 8, 8};
  cb.w = {16, 16, 3, 3};
  cb.pads = {1, 1, 1, 1};
  cb.act = "Relu";
  cb.residual = true;
  expectGpuMatchesF32(fusedSpec(cb, 72), kBF16Tol);
}

TEST(DnnFusedConv, EveryAlgorithmVariant) {
  KILN_REQUIRE_GPU();
  FusedCase c;
  c.dtype = DType::kFloat16;
  c.channelsLast = true;
  c.x = {2, 32, 14, 14};
  c.w = {64, 32, 3, 3};
  c.pads = {1, 1, 1, 1};
  c.residual = true;
  c.act = "Relu";
  EXPECT_GT(expectEveryVariantMatches(fusedSpec(c, 80), "cuda_dnn_fused_conv_bias_act", kF16Tol), 0);
  EXPECT_GT(expectEveryVariantMatches(fusedSpec(c, 81), "cuda_dnn_fused_conv", kF16Tol), 0);
  c.dtype = DType::kFloat32;
  c.channelsLast = false;
  EXPECT_GT(expectEveryVariantMatches(fusedSpec(c, 82), "cuda_dnn_fused_conv_bias_act", kF32Tol), 0);
}

// The GEMM tactic (im2col + cuBLASLt) on its own paths, every cuBLASLt variant: 1x1 unpadded
// (X multiplied directly) with residual + ReLU at ResNet's batch-1 deep-layer shape, 3x3 strided
// with 16-byte gathers, the 7x7 stem with 3 channels (element gathers, rows padded to 16 bytes),
// asymmetric pads with an activation cuBLASLt can't fuse (our epilogue after), and bf16.
TEST(DnnFusedConv, GemmTacticEveryVariant) {
  KILN_REQUIRE_GPU();
  const std::string tactic = "cuda_gemm_fused_conv";
  FusedCase c;
  c.dtype = DType::kFloat16;
  c.channelsLast = true;
  c.x = {1, 64, 7, 9};
  c.w = {40, 64, 1, 1};
  c.residual = true;
  c.act = "Relu";
  EXPECT_GT(expectEveryVariantMatches(fusedSpec(c, 100), tactic, kF16Tol), 0);
  c.x = {2, 24, 13, 11};
  c.w = {32, 24, 3, 3};
  c.strides = {2, 2};
  c.pads = {1, 1, 1, 1};
  c.residual = false;
  EXPECT_GT(expectEveryVariantMatches(fusedSpec(c, 101), tactic, kF16Tol), 0);
  FusedCase stem;
  stem.dtype = DType::kFloat16;
  stem.channelsLast = true;
  stem.x = {1, 3, 29, 31};
  stem.w = {16, 3, 7, 7};
  stem.strides = {2, 2};
  stem.pads = {3, 3, 3, 3};
  stem.act = "Relu";
  EXPECT_GT(expectEveryVariantMatches(fusedSpec(stem, 102), tactic, kF16Tol), 0);
  FusedCase f;
  f.channelsLast = true;
  f.x = {2, 5, 9, 8};
  f.w = {7, 5, 3, 2};
  f.pads = {1, 0, 0, 1};
  f.dilations = {2, 1};
  f.residual = true;
  f.act = "Silu";
  EXPECT_GT(expectEveryVariantMatches(fusedSpec(f, 103), tactic, kF32Tol), 0);
  f.dtype = DType::kBFloat16;
  f.bias = false;
  f.act = "";
  EXPECT_GT(expectEveryVariantMatches(fusedSpec(f, 104), tactic, kBF16Tol), 0);
}

// A ResNet basic block through the real optimizer: Conv+Relu and Conv+Add+Relu become FusedConv
// layers (channels-last on the CUDA target), --fp16 lowers them. Needs the Transpose/Cast kernels
// of the other families as well.
TEST(DnnFusedConvModel, ResNetBasicBlockFp16MatchesCpu) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(90);
  ModelBuilder mb;
  mb.input("x", {"2", "16", "14", "14"});
  mb.initializer("w1", randomTensor(DType::kFloat32, {16, 16, 3, 3}, rng, -0.2, 0.2));
  mb.initializer("b1", randomTensor(DType::kFloat32, {16}, rng));
  mb.initializer("w2", randomTensor(DType::kFloat32, {16, 16, 3, 3}, rng, -0.2, 0.2));
  mb.initializer("b2", randomTensor(DType::kFloat32, {16}, rng));
  auto& c1 = mb.node("Conv", {"x", "w1", "b1"}, {"c1"});
  ModelBuilder::attr(c1, "pads", std::vector<int64_t>{1, 1, 1, 1});
  mb.node("Relu", {"c1"}, {"r1"});
  auto& c2 = mb.node("Conv", {"r1", "w2", "b2"}, {"c2"});
  ModelBuilder::attr(c2, "pads", std::vector<int64_t>{1, 1, 1, 1});
  mb.node("Add", {"c2", "x"}, {"s"});
  mb.node("Relu", {"s"}, {"y"});
  mb.output("y");
  const Tensor x = randomTensor(DType::kFloat32, {2, 16, 14, 14}, rng);

  auto runWith = [&](Target target, bool fp16) -> Result<Tensor> {
    BuildConfig cfg;
    cfg.target = target;
    cfg.fp16 = fp16;
    cfg.tf32 = false;
    KILN_ASSIGN_OR_RETURN(auto bytes, buildEngineFromBytes(mb.bytes(), ".", "resnet_block", cfg));
    KILN_ASSIGN_OR_RETURN(auto engine, Engine::loadBytes(std::move(bytes), "resnet_block"));
    KILN_ASSIGN_OR_RETURN(auto ctx, engine->createExecutionContext());
    std::vector<ExecutionContext::Named> outs;
    KILN_RETURN_IF_ERROR(ctx->run({{"x", x}}, &outs));
    if (outs.size() != 1) return InternalError("expected one output");
    return outs[0].tensor;
  };
  auto ref = runWith(Target::kCPU, false);
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  for (bool fp16 : {false, true}) {
    auto got = runWith(Target::kCUDA, fp16);
    ASSERT_TRUE(got.ok()) << (fp16 ? "fp16: " : "fp32: ") << got.status().toString();
    ASSERT_EQ(got->dims(), ref->dims());
    EXPECT_LE(relativeL2(*got, *ref), fp16 ? 1e-2 : 2e-4) << (fp16 ? "fp16" : "fp32");
  }
}

// Symbolic batch and spatial dims: the kernels re-describe the problem and pick an algorithm
// within their workspace budget whenever the input dims change (no variants, no static sizes).
TEST(DnnFusedConvModel, DynamicShapesMatchCpu) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(91);
  ModelBuilder mb;
  mb.input("x", {"batch", "8", "h", "w"});
  mb.initializer("w1", randomTensor(DType::kFloat32, {16, 8, 3, 3}, rng, -0.3, 0.3));
  mb.initializer("b1", randomTensor(DType::kFloat32, {16}, rng));
  mb.initializer("w2", randomTensor(DType::kFloat32, {8, 16, 3, 3}, rng, -0.3, 0.3));
  mb.initializer("w3", randomTensor(DType::kFloat32, {8, 4, 2, 2}, rng, -0.3, 0.3));
  auto& c1 = mb.node("Conv", {"x", "w1", "b1"}, {"c1"});
  ModelBuilder::attr(c1, "pads", std::vector<int64_t>{1, 1, 1, 1});
  mb.node("Relu", {"c1"}, {"r1"});
  auto& c2 = mb.node("Conv", {"r1", "w2"}, {"c2"});
  ModelBuilder::attr(c2, "pads", std::vector<int64_t>{1, 1, 1, 1});
  ModelBuilder::attr(c2, "strides", std::vector<int64_t>{2, 2});
  mb.node("Sigmoid", {"c2"}, {"s2"});
  auto& c3 = mb.node("ConvTranspose", {"s2", "w3"}, {"y"});
  ModelBuilder::attr(c3, "strides", std::vector<int64_t>{2, 2});
  mb.output("y");
  OptimizationProfile prof;
  ASSERT_TRUE(prof.set("x", {1, 8, 5, 5}, {2, 8, 12, 12}, {4, 8, 20, 20}).ok());
  const std::vector<Dims> shapes = {{3, 8, 9, 11}, {1, 8, 16, 7}, {3, 8, 9, 11}, {4, 8, 20, 20}};
  std::vector<Tensor> xs;
  for (const Dims& d : shapes) xs.push_back(randomTensor(DType::kFloat32, d, rng));

  auto runAll = [&](Target target, bool fp16) -> Result<std::vector<Tensor>> {
    BuildConfig cfg;
    cfg.target = target;
    cfg.fp16 = fp16;
    cfg.tf32 = false;
    cfg.profiles = {prof};
    KILN_ASSIGN_OR_RETURN(auto bytes, buildEngineFromBytes(mb.bytes(), ".", "dyn_conv", cfg));
    KILN_ASSIGN_OR_RETURN(auto engine, Engine::loadBytes(std::move(bytes), "dyn_conv"));
    KILN_ASSIGN_OR_RETURN(auto ctx, engine->createExecutionContext());
    std::vector<Tensor> ys;
    for (const Tensor& x : xs) {
      KILN_RETURN_IF_ERROR(ctx->setInputShape("x", x.dims()));
      std::vector<ExecutionContext::Named> outs;
      KILN_RETURN_IF_ERROR(ctx->run({{"x", x}}, &outs));
      if (outs.size() != 1) return InternalError("expected one output");
      ys.push_back(outs[0].tensor);
    }
    return ys;
  };
  auto ref = runAll(Target::kCPU, false);
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  for (bool fp16 : {false, true}) {
    auto got = runAll(Target::kCUDA, fp16);
    ASSERT_TRUE(got.ok()) << (fp16 ? "fp16: " : "fp32: ") << got.status().toString();
    for (size_t i = 0; i < xs.size(); ++i) {
      ASSERT_EQ((*got)[i].dims(), (*ref)[i].dims()) << i;
      EXPECT_LE(relativeL2((*got)[i], (*ref)[i]), fp16 ? 1e-2 : 2e-4) << (fp16 ? "fp16 run " : "fp32 run ") << i;
    }
  }
}

// A rebuild whose tactics all come from a warm timing cache must size the workspace as the first
// build did: it once recorded 0 bytes, and every dynamic convolution then failed at run time.
TEST(DnnFusedConvModel, WarmTimingCacheRebuildKeepsTheWorkspace) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(17);
  ModelBuilder mb;
  mb.input("x", {"batch", "8", "13", "13"});
  mb.initializer("w", randomTensor(DType::kFloat32, {32, 8, 3, 3}, rng, -0.3, 0.3));
  mb.initializer("b", randomTensor(DType::kFloat32, {32}, rng));
  auto& c = mb.node("Conv", {"x", "w", "b"}, {"c"});
  ModelBuilder::attr(c, "pads", std::vector<int64_t>{1, 1, 1, 1});
  mb.node("Relu", {"c"}, {"y"});
  mb.output("y");
  OptimizationProfile prof;
  ASSERT_TRUE(prof.set("x", {1, 8, 13, 13}, {4, 8, 13, 13}, {8, 8, 13, 13}).ok());
  const std::string cachePath = ::testing::TempDir() + "kiln_warm_cache_" + std::to_string(::getpid()) + ".cache";
  std::remove(cachePath.c_str());
  BuildConfig cfg;
  cfg.target = Target::kCUDA;
  cfg.fp16 = true;
  cfg.profiles = {prof};
  cfg.timingCachePath = cachePath;
  BuildReport cold, warm;
  auto first = buildEngineFromBytes(mb.bytes(), ".", "warm_cache", cfg, &cold);
  ASSERT_TRUE(first.ok()) << first.status().toString();
  auto second = buildEngineFromBytes(mb.bytes(), ".", "warm_cache", cfg, &warm);
  ASSERT_TRUE(second.ok()) << second.status().toString();
  std::remove(cachePath.c_str());
  EXPECT_GT(warm.timingCacheHits, 0) << "the second build should take its tactics from the cache";
  // The cold build reports what it timed (each choice among its candidates); the warm one timed
  // nothing.
  EXPECT_EQ(cold.tacticTimings.size(), static_cast<size_t>(cold.tacticsTimed));
  for (const auto& t : cold.tacticTimings) {
    bool found = false;
    for (const auto& c : t.candidates) found |= c.tactic == t.chosen;
    EXPECT_TRUE(found) << t.layer << ": " << t.chosen;
  }
  EXPECT_TRUE(warm.tacticTimings.empty());
  auto e1 = Engine::loadBytes(std::move(*first), "cold");
  auto e2 = Engine::loadBytes(std::move(*second), "warm");
  ASSERT_TRUE(e1.ok() && e2.ok());
  EXPECT_GT((*e1)->plan().memory.workspaceBytes, 0u);
  EXPECT_EQ((*e2)->plan().memory.workspaceBytes, (*e1)->plan().memory.workspaceBytes);
  auto c1 = (*e1)->createExecutionContext();
  auto c2 = (*e2)->createExecutionContext();
  ASSERT_TRUE(c1.ok() && c2.ok());
  for (int64_t n : {3, 1, 8, 3}) {  // back to an earlier shape: cached per-shape descriptors
    Tensor x = randomTensor(DType::kFloat32, {n, 8, 13, 13}, rng);
    std::vector<ExecutionContext::Named> o1, o2;
    ASSERT_TRUE((*c1)->run({{"x", x}}, &o1).ok());
    Status st = (*c2)->run({{"x", x}}, &o2);
    ASSERT_TRUE(st.ok()) << "batch " << n << ": " << st.toString();
    EXPECT_LE(relativeL2(o2[0].tensor, o1[0].tensor), 1e-3) << "batch " << n;
  }
}

}  // namespace
}  // namespace kiln::testing
