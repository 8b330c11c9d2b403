// cuda_cutlass_matmul / cuda_cutlass_fused_matmul (CUTLASS 3 Hopper ping-pong GEMMs) against the
// float32 CPU reference on the same fp16-rounded values: every tile/cluster variant, odd M (partial
// tiles, fewer tiles than SMs), K and N multiples of 8 that are not multiples of the tile, no
// activation and the erf GELU, with and without bias and residual; and the layers they refuse.
#include <random>
#include <string>

#include "backends/cuda/device.h"
#include "gpu_test_util.h"

namespace kiln::testing {
namespace {

constexpr const char* kTactic = "cuda_cutlass_fused_matmul";

// FusedMatMul y = act(a b + bias (+ residual)) in float32 with values exactly representable in fp16.
OpSpec fusedHalfValues(const Dims& a, int64_t k, int64_t n, const std::string& act, bool residual, std::mt19937& rng,
                       bool bias = true) {
  OpSpec s;
  s.op = "FusedMatMul";
  s.domain = "kiln";
  s.opset = 1;
  Dims y = a;
  y[y.rank() - 1] = n;
  s.inputs = {randomTensor(DType::kFloat32, a, rng, -2, 2), randomTensor(DType::kFloat32, Dims{k, n}, rng, -0.2, 0.2),
              bias ? randomTensor(DType::kFloat32, Dims{n}, rng) : Tensor()};
  s.constInputs = {false, true, true};
  if (residual) {
    s.inputs.push_back(randomTensor(DType::kFloat32, y, rng));
    s.constInputs.push_back(false);
  }
  if (!bias && !residual) {  // no trailing empty slot
    s.inputs.resize(2);
    s.constInputs.resize(2);
  }
  for (auto& x : s.inputs)
    if (x.defined()) x = toFloat32(toFloat16(x));
  s.attrs.set("activation", AttrValue(act));
  return s;
}

OpSpec asHalf(OpSpec s) {
  for (auto& x : s.inputs)
    if (x.defined()) x = toFloat16(x);
  return s;
}

void expectCloseToReference(const OpSpec& s32, const std::string& tactic) {
  auto ref = runOp(s32);
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  for (int v = 0; v < 3; ++v) {
    SCOPED_TRACE("variant " + std::to_string(v));
    GpuRunOptions o;
    o.tactic = tactic + ":" + std::to_string(v);
    auto got = runOpCuda(asHalf(s32), o);
    ASSERT_TRUE(got.ok()) << got.status().toString();
    ASSERT_EQ((*got)[0].dims(), (*ref)[0].dims());
    // fp16 output rounding (2^-11 relative) dominates; NaN (an unwritten output) fails.
    const double e = relativeL2(toFloat32((*got)[0]), (*ref)[0]);
    EXPECT_LE(e, 1e-3) << "relative L2 " << e;
  }
}

struct Case {
  Dims a;
  int64_t k, n;
};
const Case kCases[] = {{{1, 64}, 64, 16}, {{3, 77, 136}, 136, 264}, {{2, 301, 768}, 768, 2304}, {{1, 1000, 3072}, 3072, 768}};

TEST(CudaCutlassFusedMatMul, EveryVariantMatchesTheReference) {
  KILN_REQUIRE_HOPPER_TACTIC("FusedMatMul", "kiln", kTactic);
  std::mt19937 rng(21);
  for (const Case& c : kCases)
    for (const char* act : {"", "Gelu"})
      for (bool residual : {false, true})
        for (bool bias : {true, false}) {
          SCOPED_TRACE(c.a.toString() + " x [" + std::to_string(c.k) + ", " + std::to_string(c.n) + "] act '" + act +
                       "'" + (bias ? " + bias" : "") + (residual ? " + residual" : ""));
          OpSpec s = fusedHalfValues(c.a, c.k, c.n, act, residual, rng, bias);
          expectCloseToReference(s, kTactic);
        }
}

TEST(CudaCutlassMatMul, EveryVariantMatchesTheReference) {
  KILN_REQUIRE_HOPPER_TACTIC("FusedMatMul", "kiln", kTactic);
  std::mt19937 rng(23);
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.a.toString() + " x [" + std::to_string(c.k) + ", " + std::to_string(c.n) + "]");
    OpSpec s = fusedHalfValues(c.a, c.k, c.n, "", false, rng);
    s.op = "MatMul";
    s.domain = "";
    s.opset = 13;
    s.attrs = AttrMap();
    s.inputs.resize(2);
    s.constInputs = {false, true};
    expectCloseToReference(s, "cuda_cutlass_matmul");
  }
}

// What the tactic is not for: N or K not a multiple of 8, float32, other activations, a batched B.
TEST(CudaCutlassFusedMatMul, RefusesWhatItCannotRun) {
  KILN_REQUIRE_HOPPER_TACTIC("FusedMatMul", "kiln", kTactic);
  std::mt19937 rng(22);
  GpuRunOptions o;
  o.tactic = kTactic;
  auto refused = [&](const OpSpec& s, const std::string& what) {
    auto r = runOpCuda(s, o);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << what << ": " << r.status().toString();
  };
  refused(asHalf(fusedHalfValues({9, 64}, 64, 100, "", false, rng)), "N = 100");
  refused(asHalf(fusedHalfValues({9, 60}, 60, 64, "", false, rng)), "K = 60");
  refused(fusedHalfValues({9, 64}, 64, 64, "", false, rng), "float32");
  refused(asHalf(fusedHalfValues({9, 64}, 64, 64, "Relu", false, rng)), "Relu");
  OpSpec batchedB = asHalf(fusedHalfValues({2, 9, 64}, 64, 64, "", false, rng));
  batchedB.inputs[1] = toFloat16(randomTensor(DType::kFloat32, Dims{2, 64, 64}, rng));
  refused(batchedB, "a batched B");
}

}  // namespace
}  // namespace kiln::testing
