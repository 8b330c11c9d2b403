// cuda_cutlass_matmul_layernorm (kiln:MatMulLayerNorm as a Hopper cluster GEMM that normalizes
// rows across its CTAs) and cuda_matmul_then_layernorm (cuBLASLt GEMM + LayerNorm kernel) against
// the float32 CPU reference on the same fp16-rounded values: every
// row width it has (384, 768, 1024: clusters of 1, 2 and 4 CTAs), M not a multiple of the 128-row
// tile and M with fewer row blocks than clusters or many more (several tiles per cluster, so the
// exchange barriers change phase), with and without bias, residual and LayerNorm bias; rows with a
// large common offset (the variance is taken around the mean); and the layers it refuses.
#include <random>
#include <string>

#include "backends/cuda/device.h"
#include "gpu_test_util.h"

namespace kiln::testing {
namespace {

constexpr const char* kTactic = "cuda_cutlass_matmul_layernorm";
constexpr const char* kUnfused = "cuda_matmul_then_layernorm";  // the reference tactic

struct Parts {
  bool bias = true, residual = true, beta = true;
  float offset = 0.0f;  // added to the residual: rows far from zero mean
};

// MatMulLayerNorm in float32 with fp16-representable values.
OpSpec layerNormGemm(const Dims& a, int64_t k, int64_t n, const Parts& p, std::mt19937& rng) {
  OpSpec s;
  s.op = "MatMulLayerNorm";
  s.domain = "kiln";
  s.opset = 1;
  Dims y = a;
  y[y.rank() - 1] = n;
  Tensor res = randomTensor(DType::kFloat32, y, rng, -2, 2);
  for (int64_t i = 0; i < res.numel(); ++i) res.data<float>()[i] += p.offset;
  s.inputs = {randomTensor(DType::kFloat32, a, rng, -1, 1), randomTensor(DType::kFloat32, Dims{k, n}, rng, -0.1, 0.1),
              p.bias ? randomTensor(DType::kFloat32, Dims{n}, rng) : Tensor(), p.residual ? res : Tensor(),
              randomTensor(DType::kFloat32, Dims{n}, rng, 0.5, 1.5)};
  s.constInputs = {false, true, true, false, true};
  if (p.beta) {
    s.inputs.push_back(randomTensor(DType::kFloat32, Dims{n}, rng));
    s.constInputs.push_back(true);
  }
  for (auto& x : s.inputs)
    if (x.defined()) x = roundTo(x, DType::kFloat16);
  s.attrs.set("epsilon", AttrValue(1e-5f));
  return s;
}

OpSpec asHalf(OpSpec s) {
  for (auto& x : s.inputs)
    if (x.defined()) x = toFloat16(x);
  return s;
}

// The unfused fp16 graph's function: FusedMatMul in float32, its output rounded to fp16 (the
// tensor the graph stores), then LayerNormalization in float32.
Result<Tensor> unfusedReference(const OpSpec& s32) {
  OpSpec fm;
  fm.op = "FusedMatMul";
  fm.domain = "kiln";
  fm.opset = 1;
  fm.inputs = {s32.inputs[0], s32.inputs[1], s32.inputs[2], s32.inputs[3]};
  while (!fm.inputs.back().defined()) fm.inputs.pop_back();
  KILN_ASSIGN_OR_RETURN(auto z, runOp(fm));
  OpSpec ln;
  ln.op = "LayerNormalization";
  ln.opset = 17;
  ln.attrs.set("epsilon", AttrValue(s32.attrs.getFloat("epsilon")));
  ln.inputs = {roundTo(z[0], DType::kFloat16), s32.inputs[4]};
  if (s32.inputs.size() > 5) ln.inputs.push_back(s32.inputs[5]);
  KILN_ASSIGN_OR_RETURN(auto y, runOp(ln));
  return y[0];
}

void expectCloseToReference(const OpSpec& s32) {
  auto ref = unfusedReference(s32);
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  auto fusedCpu = runOp(s32);  // the CPU kernel of the fused op (no fp16 rounding in between)
  ASSERT_TRUE(fusedCpu.ok()) << fusedCpu.status().toString();
  for (const char* tactic : {kTactic, kUnfused}) {
    SCOPED_TRACE(tactic);
    GpuRunOptions o;
    o.tactic = tactic;
    auto got = runOpCuda(asHalf(s32), o);
    ASSERT_TRUE(got.ok()) << got.status().toString();
    ASSERT_EQ((*got)[0].dims(), ref->dims());
    // Against the unfused graph: only the output's fp16 rounding (2^-11 relative) and summation
    // order differ. NaN (an unwritten row) fails.
    const Tensor g = toFloat32((*got)[0]);
    const double e = relativeL2(g, *ref);
    EXPECT_LE(e, 1e-3) << "relative L2 " << e;
    EXPECT_LE(maxAbsDiff(g, *ref), 0.02);
    // And the CPU kernel of the same layer agrees where the pre-normalization values are small.
    if (relativeL2(roundTo((*fusedCpu)[0], DType::kFloat16), *ref) < 1e-3) EXPECT_LE(relativeL2(g, (*fusedCpu)[0]), 2e-3);
  }
}

TEST(CudaMatMulLayerNorm, EveryWidthMatchesTheReference) {
  KILN_REQUIRE_HOPPER_TACTIC("MatMulLayerNorm", "kiln", kTactic);
  std::mt19937 rng(31);
  struct Case {
    Dims a;
    int64_t k, n;
  };
  // 77 rows: one partial tile; 3 x 301: eight row blocks, the last partial; K = 3072 as BERT's
  // FFN-down, 72 not a multiple of the k tile.
  // 9000 rows: 71 row blocks, more than an H100 holds clusters (66 of 2, about 30 of 4), so
  // clusters take a second tile and the exchange barriers a second phase.
  const Case cases[] = {{{77, 72}, 72, 768},       {{3, 301, 768}, 768, 768},   {{8, 128, 3072}, 3072, 768},
                        {{2, 150, 256}, 256, 384}, {{5, 97, 1024}, 1024, 1024}, {{9000, 64}, 64, 768},
                        {{9000, 64}, 64, 1024}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.a.toString() + " x [" + std::to_string(c.k) + ", " + std::to_string(c.n) + "]");
    expectCloseToReference(layerNormGemm(c.a, c.k, c.n, Parts{}, rng));
  }
}

TEST(CudaMatMulLayerNorm, OptionalInputsAndOffsetRows) {
  KILN_REQUIRE_HOPPER_TACTIC("MatMulLayerNorm", "kiln", kTactic);
  std::mt19937 rng(32);
  for (int mask = 0; mask < 8; ++mask) {
    Parts p;
    p.bias = mask & 1, p.residual = mask & 2, p.beta = mask & 4;
    SCOPED_TRACE("bias " + std::to_string(p.bias) + " residual " + std::to_string(p.residual) + " beta " +
                 std::to_string(p.beta));
    expectCloseToReference(layerNormGemm({2, 131, 64}, 64, 768, p, rng));
  }
  Parts offset;
  offset.offset = 40.0f;  // rows of mean ~40 and spread ~1: the variance is taken around the mean
  expectCloseToReference(layerNormGemm({300, 128}, 128, 384, offset, rng));
}

// The unfused tactic's variants are its GEMM's: the three CUTLASS configurations, then cuBLASLt's
// candidates. Every one of them must give the layer's function; the first index past the last is
// refused as a variant that does not exist (not some other failure).
TEST(CudaMatMulLayerNorm, EveryGemmVariantOfTheUnfusedTactic) {
  KILN_REQUIRE_HOPPER_TACTIC("MatMulLayerNorm", "kiln", kTactic);
  std::mt19937 rng(34);
  const OpSpec s32 = layerNormGemm({3, 101, 768}, 768, 768, Parts{}, rng);
  auto ref = unfusedReference(s32);
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  const int ran = forEachVariant(asHalf(s32), kUnfused, [&](int v, const std::vector<Tensor>& got) {
    const double e = relativeL2(toFloat32(got[0]), *ref);
    EXPECT_LE(e, 1e-3) << "variant " << v << ": relative L2 " << e;
  });
  EXPECT_GE(ran, 4) << "the three CUTLASS configurations and at least one cuBLASLt candidate";
}

// A scale, bias, beta or residual of the wrong size is an error from either tactic, never a wrong
// result or a crash.
TEST(CudaMatMulLayerNorm, WrongSizedInputsAreErrors) {
  KILN_REQUIRE_HOPPER_TACTIC("MatMulLayerNorm", "kiln", kTactic);
  std::mt19937 rng(35);
  for (const char* tactic : {kTactic, kUnfused}) {
    for (int which : {2, 3, 4, 5}) {
      SCOPED_TRACE(std::string(tactic) + " input " + std::to_string(which));
      OpSpec s = asHalf(layerNormGemm({2, 40, 64}, 64, 768, Parts{}, rng));
      s.inputs[which] = which == 3 ? toFloat16(randomTensor(DType::kFloat32, Dims{2, 40, 760}, rng))
                                   : toFloat16(randomTensor(DType::kFloat32, Dims{760}, rng));
      GpuRunOptions o;
      o.tactic = tactic;
      auto r = runOpCuda(s, o);
      EXPECT_FALSE(r.ok()) << "ran with a wrong-sized input";
    }
  }
}

// Widths without a cluster configuration, fp32, K not a multiple of 8: refused, not wrong.
TEST(CudaMatMulLayerNorm, RefusesWhatItCannotRun) {
  KILN_REQUIRE_HOPPER_TACTIC("MatMulLayerNorm", "kiln", kTactic);
  std::mt19937 rng(33);
  GpuRunOptions o;
  o.tactic = kTactic;
  auto refused = [&](const OpSpec& s, const std::string& what) {
    auto r = runOpCuda(s, o);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << what << ": " << r.status().toString();
  };
  refused(asHalf(layerNormGemm({9, 64}, 64, 512, Parts{}, rng)), "N = 512");
  refused(asHalf(layerNormGemm({9, 60}, 60, 768, Parts{}, rng)), "K = 60");
  refused(layerNormGemm({9, 64}, 64, 768, Parts{}, rng), "float32");
}

}  // namespace
}  // namespace kiln::testing
