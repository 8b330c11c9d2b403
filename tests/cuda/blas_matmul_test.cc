// cuBLASLt MatMul / Gemm / kiln:FusedMatMul against the CPU reference: odd sizes, every batching
// mode (folded, strided, broadcast operand, general loop, 1-D operands), Gemm's transposes and C
// broadcasts, fused activations, fp32/fp16/bf16/fp64, each heuristic variant.
#include <random>

#include "gpu_test_util.h"

namespace kiln::testing {
namespace {

OpSpec matmul(DType t, const Dims& a, const Dims& b, std::mt19937& rng, bool constB = false) {
  OpSpec s;
  s.op = "MatMul";
  s.inputs = {randomTensor(t, a, rng), randomTensor(t, b, rng)};
  if (constB) s.constInputs = {false, true};
  return s;
}

double tolFor(DType t) { return t == DType::kFloat32 || t == DType::kFloat64 ? 1e-5 : 1e-2; }

TEST(CudaBlasMatMul, BatchingModesFloat32) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(1);
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{33, 257}, {257, 7}},              // plain 2-D, odd sizes
      {{2, 3, 33, 65}, {65, 17}},         // A's batches folded into M
      {{3, 33, 65}, {3, 65, 17}},         // strided batch
      {{33, 65}, {4, 65, 17}},            // A shared by every batch (stride 0)
      {{1, 33, 65}, {4, 65, 17}},         // same, with a unit batch dim
      {{2, 1, 5, 7}, {1, 3, 7, 9}},       // general broadcast: one call per matrix
      {{65}, {3, 65, 17}},                // 1-D A
      {{3, 33, 65}, {65}},                // 1-D B
      {{65}, {65}},                       // dot product
      {{1000, 1}, {1, 3}},                // K = 1
      {{7, 0}, {0, 5}},                   // K = 0: zeros
      {{0, 4}, {4, 5}},                   // empty output
  };
  for (const auto& [a, b] : cases) {
    SCOPED_TRACE(a.toString() + " x " + b.toString());
    expectGpuMatchesCpu(matmul(DType::kFloat32, a, b, rng), 1e-5);
  }
}

TEST(CudaBlasMatMul, HalfBFloatDouble) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(2);
  for (DType t : {DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    for (const auto& [a, b] : std::vector<std::pair<Dims, Dims>>{
             {{2, 128, 768}, {768, 768}}, {{3, 33, 65}, {3, 65, 17}}, {{2, 1, 5, 8}, {1, 3, 8, 9}}, {{64}, {64, 3}}}) {
      SCOPED_TRACE(std::string(dtypeName(t)) + " " + a.toString() + " x " + b.toString());
      expectGpuMatchesCpu(matmul(t, a, b, rng, /*constB=*/true), tolFor(t));
    }
  }
}

TEST(CudaBlasMatMul, EveryHeuristicVariant) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(3);
  for (DType t : {DType::kFloat32, DType::kFloat16}) {
    OpSpec s = matmul(t, {4, 64, 256}, {256, 384}, rng, true);
    for (int v = 0; v < 8; ++v) {
      GpuRunOptions o;
      o.tactic = "cuda_blas_matmul:" + std::to_string(v);
      SCOPED_TRACE(o.tactic);
      expectGpuMatchesCpu(s, tolFor(t), o);
    }
  }
}

TEST(CudaBlasMatMul, Tf32IsClose) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(4);
  GpuRunOptions o;
  o.tf32 = true;
  expectGpuMatchesCpu(matmul(DType::kFloat32, {2, 77, 300}, {300, 129}, rng), 5e-3, o);
}

OpSpec gemm(DType t, const Dims& a, const Dims& b, const Dims* c, int ta, int tb, float alpha, float beta,
            std::mt19937& rng) {
  OpSpec s;
  s.op = "Gemm";
  s.opset = 13;
  s.inputs = {randomTensor(t, a, rng), randomTensor(t, b, rng)};
  if (c) s.inputs.push_back(randomTensor(t, *c, rng));
  s.attrs.set("transA", AttrValue(ta));
  s.attrs.set("transB", AttrValue(tb));
  s.attrs.set("alpha", AttrValue(alpha));
  s.attrs.set("beta", AttrValue(beta));
  return s;
}

TEST(CudaBlasGemm, TransposesAndCBroadcasts) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(5);
  const int64_t M = 33, K = 65, N = 17;
  const std::vector<Dims> cs = {Dims{N}, Dims{1, N}, Dims{M, N}, Dims{M, 1}, Dims{1}, Dims{}, Dims{1, 1}};
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      const Dims a = ta ? Dims{K, M} : Dims{M, K}, b = tb ? Dims{N, K} : Dims{K, N};
      SCOPED_TRACE("transA " + std::to_string(ta) + " transB " + std::to_string(tb));
      expectGpuMatchesCpu(gemm(DType::kFloat32, a, b, nullptr, ta, tb, 1.0f, 1.0f, rng), 1e-5);
      for (const Dims& c : cs) {
        SCOPED_TRACE("C " + c.toString());
        expectGpuMatchesCpu(gemm(DType::kFloat32, a, b, &c, ta, tb, 1.0f, 1.0f, rng), 1e-5);
        expectGpuMatchesCpu(gemm(DType::kFloat32, a, b, &c, ta, tb, 0.5f, -2.0f, rng), 1e-5);
      }
    }
  const Dims c{N};
  expectGpuMatchesCpu(gemm(DType::kFloat32, {M, K}, {K, N}, &c, 0, 0, 1.5f, 0.0f, rng), 1e-5);  // beta 0: C ignored
  const Dims cz{M, N};
  expectGpuMatchesCpu(gemm(DType::kFloat32, {M, 0}, {0, N}, &cz, 0, 0, 1.0f, 0.5f, rng), 1e-5);  // K = 0
}

TEST(CudaBlasGemm, ResNetClassifierHalfAndBFloat) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(6);
  for (DType t : {DType::kFloat16, DType::kBFloat16, DType::kFloat32, DType::kFloat64}) {
    SCOPED_TRACE(std::string(dtypeName(t)));
    const Dims c{1000};
    OpSpec s = gemm(t, {8, 2048}, {1000, 2048}, &c, 0, 1, 1.0f, 1.0f, rng);
    s.constInputs = {false, true, true};
    expectGpuMatchesCpu(s, tolFor(t));
  }
}

// ---- FusedMatMul ---------------------------------------------------------------------------------

Tensor convert(const Tensor& x, DType t) {
  Tensor y = Tensor::allocate(t, x.dims());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = static_cast<float>(x.doubleAt(i));
    if (t == DType::kFloat32) y.data<float>()[i] = v;
    else if (t == DType::kFloat16) y.data<Float16>()[i] = Float16(v);
    else if (t == DType::kBFloat16) y.data<BFloat16>()[i] = BFloat16(v);
  }
  return y;
}

OpSpec fused(const Dims& a, const Dims& b, bool bias, const std::string& act, std::mt19937& rng, float alpha = 0,
             float beta = 0) {
  OpSpec s;
  s.op = "FusedMatMul";
  s.domain = "kiln";
  s.opset = 1;
  s.inputs = {randomTensor(DType::kFloat32, a, rng, -2, 2), randomTensor(DType::kFloat32, b, rng)};
  if (bias) s.inputs.push_back(randomTensor(DType::kFloat32, Dims{b[b.rank() - 1]}, rng));
  s.constInputs = {false, true, true};
  s.attrs.set("activation", AttrValue(act));
  s.attrs.set("activation_alpha", AttrValue(alpha));
  s.attrs.set("activation_beta", AttrValue(beta));
  return s;
}

const std::vector<std::tuple<std::string, float, float>> kActs = {
    {"", 0, 0},          {"Relu", 0, 0},   {"GeluTanh", 0, 0}, {"Gelu", 0, 0}, {"LeakyRelu", 0.1f, 0},
    {"Clip", -0.5f, 0.7f}, {"Sigmoid", 0, 0}, {"Tanh", 0, 0},     {"HardSwish", 0, 0}, {"Silu", 0, 0}};

TEST(CudaBlasFusedMatMul, ActivationsFloat32) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(7);
  for (const auto& [act, al, be] : kActs)
    for (bool bias : {false, true}) {
      SCOPED_TRACE(act + (bias ? " with bias" : " no bias"));
      expectGpuMatchesCpu(fused({2, 33, 65}, {65, 97}, bias, act, rng, al, be), 1e-5);
      expectGpuMatchesCpu(fused({3, 9, 16}, {3, 16, 24}, bias, act, rng, al, be), 1e-5);  // strided batch + bias
    }
}

// The CPU reference is float32-only: compare 16-bit runs with it on the same (rounded) inputs.
TEST(CudaBlasFusedMatMul, HalfAndBFloat) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(8);
  for (DType t : {DType::kFloat16, DType::kBFloat16})
    for (const auto& [act, al, be] : kActs) {
      SCOPED_TRACE(std::string(dtypeName(t)) + " " + act);
      OpSpec s32 = fused({2, 64, 768}, {768, 256}, true, act, rng, al, be);
      OpSpec s16 = s32;
      for (auto& x : s16.inputs) x = convert(x, t);
      for (auto& x : s32.inputs) x = convert(convert(x, t), DType::kFloat32);  // same values as the 16-bit run
      auto ref = runOp(s32);
      ASSERT_TRUE(ref.ok()) << ref.status().toString();
      auto got = runOpCuda(s16);
      ASSERT_TRUE(got.ok()) << got.status().toString();
      const double e = relativeL2(convert((*got)[0], DType::kFloat32), (*ref)[0]);
      EXPECT_LE(e, 1e-2) << "relative L2 " << e;
    }
}

// cuda_blas_fused_matmul_tanh_gelu: an erf-GELU layer at 16 bits through cuBLASLt's tanh-GELU
// epilogue. Close to the exact float32 reference, measurably not the exact tactic (the
// approximation really runs), and refused in float32.
TEST(CudaBlasFusedMatMul, TanhGeluTacticAtLowPrecision) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(12);
  for (DType t : {DType::kFloat16, DType::kBFloat16}) {
    SCOPED_TRACE(std::string(dtypeName(t)));
    OpSpec s32 = fused({3, 77, 768}, {768, 301}, true, "Gelu", rng);
    OpSpec s16 = s32;
    for (auto& x : s16.inputs) x = convert(x, t);
    for (auto& x : s32.inputs) x = convert(convert(x, t), DType::kFloat32);
    auto ref = runOp(s32);
    ASSERT_TRUE(ref.ok()) << ref.status().toString();
    GpuRunOptions approx, exact;
    approx.tactic = "cuda_blas_fused_matmul_tanh_gelu";
    exact.tactic = "cuda_blas_fused_matmul";
    auto a = runOpCuda(s16, approx);
    ASSERT_TRUE(a.ok()) << a.status().toString();
    auto e = runOpCuda(s16, exact);
    ASSERT_TRUE(e.ok()) << e.status().toString();
    const Tensor af = convert((*a)[0], DType::kFloat32), ef = convert((*e)[0], DType::kFloat32);
    EXPECT_LE(relativeL2(af, (*ref)[0]), t == DType::kFloat16 ? 5e-3 : 1e-2);
    EXPECT_GT(relativeL2(af, ef), 0.0) << "the tanh epilogue did not run";
  }
  GpuRunOptions approx;
  approx.tactic = "cuda_blas_fused_matmul_tanh_gelu";
  auto f32 = runOpCuda(fused({2, 8, 16}, {16, 8}, true, "Gelu", rng), approx);
  ASSERT_FALSE(f32.ok());
  EXPECT_EQ(f32.status().code(), StatusCode::kUnsupported) << f32.status().toString();
}

TEST(CudaBlasFusedMatMul, KZeroIsActivationOfBias) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(9);
  expectGpuMatchesCpu(fused({5, 0}, {0, 7}, true, "Sigmoid", rng), 1e-5);
}

// The residual input (transformers' x + Linear(h)) as cuBLASLt's C: folded rows and strided
// batches, with and without bias, with an activation in the epilogue and after it (Sigmoid).
TEST(CudaBlasFusedMatMul, ResidualAsC) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(10);
  for (const char* act : {"", "Relu", "Sigmoid"})
    for (bool bias : {false, true}) {
      SCOPED_TRACE(std::string(act) + (bias ? " with bias" : " no bias"));
      for (const auto& [a, b, y] : {std::tuple<Dims, Dims, Dims>{{2, 33, 65}, {65, 97}, {2, 33, 97}},
                                    std::tuple<Dims, Dims, Dims>{{3, 9, 16}, {3, 16, 24}, {3, 9, 24}}}) {
        OpSpec s = fused(a, b, bias, act, rng);
        if (!bias) s.inputs.emplace_back();  // the omitted bias slot
        s.inputs.push_back(randomTensor(DType::kFloat32, y, rng));
        s.constInputs = {false, true, true, false};
        expectGpuMatchesCpu(s, 1e-5);
      }
    }
  // fp16 (the --fp16 BERT path) against the reference on the same rounded values.
  OpSpec s32 = fused({2, 64, 768}, {768, 768}, true, "", rng);
  s32.inputs.push_back(randomTensor(DType::kFloat32, Dims{2, 64, 768}, rng));
  s32.constInputs = {false, true, true, false};
  OpSpec s16 = s32;
  for (auto& x : s16.inputs) x = convert(x, DType::kFloat16);
  for (auto& x : s32.inputs) x = convert(convert(x, DType::kFloat16), DType::kFloat32);
  auto ref = runOp(s32);
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  auto got = runOpCuda(s16);
  ASSERT_TRUE(got.ok()) << got.status().toString();
  EXPECT_LE(relativeL2(convert((*got)[0], DType::kFloat32), (*ref)[0]), 1e-2);
}

TEST(CudaBlasRegistry, TacticsAreRegistered) {
  EXPECT_FALSE(cudaTacticsFor("MatMul").empty());
  EXPECT_FALSE(cudaTacticsFor("Gemm").empty());
  EXPECT_FALSE(cudaTacticsFor("FusedMatMul", "kiln").empty());
}

}  // namespace
}  // namespace kiln::testing
