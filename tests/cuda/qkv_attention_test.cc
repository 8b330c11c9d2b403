// kiln:QkvAttention (the Q/K/V projection and the attention in one layer): the fused wgmma kernel
// (cuda_qkv_attention_wgmma) and the unfused tactic (cuBLASLt projection + packed attention)
// against the float32 CPU reference of the graph they replace: FusedMatMul(X, W, bias), its output
// rounded to fp16 (the tensor the unfused graph stores), then PackedAttention. Random inputs at
// BERT-base's geometry and odd ones: token counts below 128 and not multiples of 16 (rows the TMA
// box zero-fills), one and several items a block, hidden 64 / 320 / 768, with and without bias,
// no mask, a per-key additive mask, a boolean one, a general [B, 1, S, S] mask; and what the fused
// kernel refuses (bfloat16 among it: the unfused tactic runs that).
#include <initializer_list>
#include <random>
#include <string>

#include "gpu_test_util.h"

namespace kiln::testing {
namespace {

constexpr const char* kFused = "cuda_qkv_attention_wgmma";
constexpr const char* kUnfused = "cuda_qkv_attention_unfused";  // the reference tactic

enum class Mask { kNone, kPerKey, kBool, kGeneral };

struct Geometry {
  int64_t b, s, heads, hidden;
  bool bias;
  Mask mask;
};

// QkvAttention in float32 with values representable in t (the mask stays bool where it is).
OpSpec qkvAttention(const Geometry& g, std::mt19937& rng, int64_t headSize = 64, DType t = DType::kFloat16) {
  OpSpec s;
  s.op = "QkvAttention";
  s.domain = "kiln";
  s.opset = 1;
  const int64_t n = 3 * g.heads * headSize;
  // Weights spread so that the scores reach |q.k| of several units: the softmax is not flat.
  const double ws = 2.0 / std::sqrt(double(g.hidden));
  s.inputs = {roundTo(randomTensor(DType::kFloat32, Dims{g.b, g.s, g.hidden}, rng, -1, 1), t),
              roundTo(randomTensor(DType::kFloat32, Dims{g.hidden, n}, rng, -ws, ws), t),
              g.bias ? roundTo(randomTensor(DType::kFloat32, Dims{n}, rng, -0.5, 0.5), t) : Tensor()};
  s.constInputs = {false, true, true, false};
  Tensor m;
  std::uniform_real_distribution<float> u(0, 1);
  switch (g.mask) {
    case Mask::kNone: break;
    case Mask::kPerKey:
    case Mask::kGeneral: {
      m = Tensor::allocate(DType::kFloat32, g.mask == Mask::kPerKey ? Dims{g.b, 1, 1, g.s} : Dims{g.b, 1, g.s, g.s});
      for (int64_t i = 0; i < m.numel(); ++i) m.data<float>()[i] = u(rng) < 0.2f ? -10000.0f : u(rng) - 0.5f;
      m = roundTo(m, t);
      break;
    }
    case Mask::kBool: {
      m = Tensor::allocate(DType::kBool, Dims{g.b, 1, 1, g.s});
      for (int64_t i = 0; i < m.numel(); ++i) m.data<bool>()[i] = i % g.s == 0 || u(rng) > 0.3f;  // key 0 always kept
      break;
    }
  }
  s.inputs.push_back(m);
  while (!s.inputs.back().defined()) s.inputs.pop_back();
  s.constInputs.resize(s.inputs.size());
  s.attrs.set("q_num_heads", AttrValue(g.heads));
  s.attrs.set("kv_num_heads", AttrValue(g.heads));
  return s;
}

// The float32 inputs in t (float16 or bfloat16); a bool mask stays bool.
OpSpec asType(OpSpec s, DType t) {
  for (auto& x : s.inputs) {
    if (!x.defined() || x.dtype() != DType::kFloat32) continue;
    if (t == DType::kFloat16) {
      x = toFloat16(x);
      continue;
    }
    Tensor y = Tensor::allocate(DType::kBFloat16, x.dims());
    for (int64_t i = 0; i < x.numel(); ++i) y.data<BFloat16>()[i] = BFloat16(x.data<float>()[i]);
    x = y;
  }
  return s;
}
OpSpec asHalf(OpSpec s) { return asType(std::move(s), DType::kFloat16); }

// The unfused fp16 graph's function on the CPU: the projection in float32 rounded to fp16, then
// PackedAttention in float32.
Result<Tensor> unfusedReference(const OpSpec& s32, DType t = DType::kFloat16) {
  OpSpec fm;
  fm.op = "FusedMatMul";
  fm.domain = "kiln";
  fm.opset = 1;
  fm.inputs = {s32.inputs[0], s32.inputs[1]};
  if (s32.inputs.size() > 2 && s32.inputs[2].defined()) fm.inputs.push_back(s32.inputs[2]);
  KILN_ASSIGN_OR_RETURN(auto z, runOp(fm));
  OpSpec pa;
  pa.op = "PackedAttention";
  pa.domain = "kiln";
  pa.opset = 1;
  pa.attrs = s32.attrs;
  pa.inputs = {roundTo(z[0], t)};
  if (s32.inputs.size() > 3) pa.inputs.push_back(s32.inputs[3]);
  KILN_ASSIGN_OR_RETURN(auto y, runOp(pa));
  return y[0];
}

void expectTacticsMatch(const OpSpec& s32, DType t = DType::kFloat16,
                        std::initializer_list<const char*> tactics = {kFused, kUnfused}) {
  auto ref = unfusedReference(s32, t);
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  for (const char* tactic : tactics) {
    SCOPED_TRACE(tactic);
    GpuRunOptions o;
    o.tactic = tactic;
    auto got = runOpCuda(asType(s32, t), o);
    ASSERT_TRUE(got.ok()) << got.status().toString();
    ASSERT_EQ((*got)[0].dims(), ref->dims());
    ASSERT_EQ((*got)[0].dtype(), t);
    // Only the output's rounding, the 16-bit P in O = P V and summation order differ from the
    // reference (bfloat16 keeps 8 bits where float16 keeps 11). NaN (an unwritten row) fails.
    const Tensor g = toFloat32((*got)[0]);
    const double e = relativeL2(g, *ref);
    const bool bf16 = t == DType::kBFloat16;
    EXPECT_LE(e, bf16 ? 2e-2 : 3e-3) << "relative L2 " << e;
    EXPECT_LE(maxAbsDiff(g, *ref), bf16 ? 0.2 : 0.03);
  }
}

TEST(CudaQkvAttention, MatchesTheUnfusedGraph) {
  KILN_REQUIRE_HOPPER_TACTIC("QkvAttention", "kiln", kFused);
  std::mt19937 rng(41);
  const Geometry cases[] = {
      {8, 128, 12, 768, false, Mask::kPerKey},  // BERT-base's shape (96 items: one a block)
      {3, 77, 5, 320, true, Mask::kPerKey},     // 77 tokens: the TMA box zero-fills 51 rows
      {2, 128, 4, 192, true, Mask::kNone},
      {5, 33, 2, 64, false, Mask::kGeneral},    // hidden 64: one k-step an item
      {1, 100, 3, 768, true, Mask::kBool},
      {7, 16, 1, 128, false, Mask::kPerKey},
      {60, 50, 6, 128, true, Mask::kPerKey},    // 360 items: several a block, attention overlapping
  };
  for (const Geometry& c : cases) {
    SCOPED_TRACE("B " + std::to_string(c.b) + " S " + std::to_string(c.s) + " H " + std::to_string(c.heads) +
                 " hidden " + std::to_string(c.hidden) + " bias " + std::to_string(c.bias) + " mask " +
                 std::to_string(static_cast<int>(c.mask)));
    expectTacticsMatch(qkvAttention(c, rng));
  }
}

// bfloat16: the unfused tactic runs it; the fused kernel refuses it (its bfloat16 instance is not
// enabled until it has run on a device, so a --bf16 build does not fuse).
TEST(CudaQkvAttention, BFloat16RunsUnfused) {
  KILN_REQUIRE_HOPPER_TACTIC("QkvAttention", "kiln", kFused);
  std::mt19937 rng(44);
  const Geometry cases[] = {{4, 128, 12, 768, true, Mask::kPerKey}, {3, 45, 2, 192, false, Mask::kGeneral}};
  for (const Geometry& c : cases) {
    SCOPED_TRACE("B " + std::to_string(c.b) + " S " + std::to_string(c.s));
    const OpSpec s32 = qkvAttention(c, rng, 64, DType::kBFloat16);
    expectTacticsMatch(s32, DType::kBFloat16, {kUnfused});
    GpuRunOptions o;
    o.tactic = kFused;
    auto r = runOpCuda(asType(s32, DType::kBFloat16), o);
    ASSERT_FALSE(r.ok()) << "the fused kernel ran bfloat16";
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << r.status().toString();
  }
}

// The unfused tactic's variants are its projection's cuBLASLt candidates: each gives the layer's
// function; the first index past the last is refused as a variant that does not exist.
TEST(CudaQkvAttention, EveryVariantOfTheUnfusedTactic) {
  KILN_REQUIRE_HOPPER_TACTIC("QkvAttention", "kiln", kFused);
  std::mt19937 rng(42);
  const OpSpec s32 = qkvAttention({2, 64, 4, 256, true, Mask::kPerKey}, rng);
  auto ref = unfusedReference(s32);
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  const int ran = forEachVariant(asHalf(s32), kUnfused, [&](int v, const std::vector<Tensor>& got) {
    EXPECT_LE(relativeL2(toFloat32(got[0]), *ref), 3e-3) << "variant " << v;
  });
  EXPECT_GE(ran, 1);
}

// Head size 32, grouped heads, more than 128 tokens, a causal mask, float32, K not a multiple of
// 64: the fused kernel refuses them (Unsupported), and the unfused tactic still runs them.
TEST(CudaQkvAttention, FusedKernelRefusesWhatItCannotRun) {
  KILN_REQUIRE_HOPPER_TACTIC("QkvAttention", "kiln", kFused);
  std::mt19937 rng(43);
  auto refused = [&](const OpSpec& s, const std::string& what) {
    GpuRunOptions o;
    o.tactic = kFused;
    auto r = runOpCuda(s, o);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << what << ": " << r.status().toString();
    o.tactic = kUnfused;
    auto u = runOpCuda(s, o);
    EXPECT_TRUE(u.ok()) << what << " (unfused): " << u.status().toString();
  };
  refused(asHalf(qkvAttention({2, 40, 4, 128, false, Mask::kNone}, rng, 32)), "head size 32");
  refused(asHalf(qkvAttention({2, 130, 2, 128, false, Mask::kNone}, rng)), "130 tokens");
  refused(asHalf(qkvAttention({2, 40, 2, 96, false, Mask::kNone}, rng)), "K = 96");
  refused(qkvAttention({2, 40, 2, 128, false, Mask::kNone}, rng), "float32");
  OpSpec causal = asHalf(qkvAttention({2, 40, 2, 128, false, Mask::kNone}, rng));
  causal.attrs.set("is_causal", AttrValue(int64_t{1}));
  refused(causal, "causal");
  OpSpec grouped = asHalf(qkvAttention({2, 40, 4, 128, false, Mask::kNone}, rng));
  grouped.attrs.set("kv_num_heads", AttrValue(int64_t{2}));
  grouped.inputs[1] = toFloat16(randomTensor(DType::kFloat32, Dims{128, (4 + 2 * 2) * 64}, rng, -0.1, 0.1));
  refused(grouped, "grouped heads");
}

}  // namespace
}  // namespace kiln::testing
