// LLM building-block CUDA kernels (cuda_llm_rotary, cuda_llm_swiglu, cuda_llm_tensorscatter,
// cuda_llm_causalconv, cuda_llm_linearattention) against the CPU reference: every float type,
// every attribute value and every optional input/output, odd sizes, random inputs that are never
// all zeros. LinearAttention also runs a head size whose value columns span several blocks. The
// registry checks at the end run without a GPU.
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "backends/cuda/gpu_kernel.h"
#include "data_test_util.h"
#include "gpu_test_util.h"

namespace kiln::testing {
namespace {

Tensor rnd(DType t, const Dims& d, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 rng(seed);
  return randomTensor(t, d, rng, lo, hi);
}

using data_test::attrs;
using data_test::spec;

// Relative L2 tolerances: the kernels mirror the reference's roundings, so what remains is exp's
// last-ulp differences, amplified at most by one rounding to the storage type.
double tolFor(DType t) {
  switch (t) {
    case DType::kFloat16: return 2e-3;
    case DType::kBFloat16: return 1.5e-2;
    case DType::kFloat64: return 1e-12;
    default: return 2e-5;
  }
}

const DType kRopeTypes[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};

// ---- RotaryEmbedding ----------------------------------------------------------------------------

struct RopeCase {
  DType type = DType::kFloat32;
  bool is4d = true;
  bool interleaved = false;
  int64_t rotDim = 0;  // 0 = the whole head
  bool positions = true;
  bool constPositions = false;
};

void expectRope(const RopeCase& c, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "RotaryEmbedding " << dtypeName(c.type) << (c.is4d ? " 4-D" : " 3-D")
                                    << " interleaved=" << c.interleaved << " rot=" << c.rotDim
                                    << " positions=" << c.positions << " const=" << c.constPositions);
  const int64_t B = 3, H = 5, S = 7, hd = 10, maxPos = 11;
  const int64_t half = (c.rotDim ? c.rotDim : hd) / 2;
  const Dims xd = c.is4d ? Dims{B, H, S, hd} : Dims{B, S, H * hd};
  AttrMap a = attrs({{"interleaved", AttrValue(int64_t{c.interleaved})}});
  if (c.rotDim) a.set("rotary_embedding_dim", AttrValue(c.rotDim));
  if (!c.is4d) a.set("num_heads", AttrValue(H));
  std::vector<Tensor> in = {rnd(c.type, xd, seed, -2.0, 2.0)};
  const Dims cd = c.positions ? Dims{maxPos, half} : Dims{B, S, half};
  in.push_back(rnd(c.type, cd, seed + 1));
  in.push_back(rnd(c.type, cd, seed + 2));
  std::vector<bool> consts;
  if (c.positions) {
    // Negative ids count from the end of the caches.
    in.push_back(rnd(DType::kInt64, {B, S}, seed + 3, static_cast<double>(-maxPos), static_cast<double>(maxPos - 1)));
    if (c.constPositions) consts = {false, false, false, true};
  }
  expectGpuMatchesCpu(spec("RotaryEmbedding", a, in, consts, 1, 23), tolFor(c.type));
}

TEST(LlmRotaryEmbedding, AllAttributes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 1;
  for (DType t : kRopeTypes)
    for (bool is4d : {true, false})
      for (bool interleaved : {false, true})
        for (int64_t rot : {int64_t{0}, int64_t{6}})
          for (bool positions : {true, false}) {
            RopeCase c;
            c.type = t;
            c.is4d = is4d;
            c.interleaved = interleaved;
            c.rotDim = rot;
            c.positions = positions;
            expectRope(c, seed);
            seed += 10;
          }
}

TEST(LlmRotaryEmbedding, ConstantPositionIds) {
  KILN_REQUIRE_GPU();
  RopeCase c;
  c.constPositions = true;
  expectRope(c, 7);
  c.is4d = false;
  c.interleaved = true;
  c.rotDim = 4;
  expectRope(c, 8);
}

// ---- SwiGLU -------------------------------------------------------------------------------------

TEST(LlmSwiGLU, TypesAndAlpha) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 100;
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16})
    for (const Dims& d : {Dims{7, 13}, Dims{3, 5, 11}, Dims{1031}})
      for (float alpha : {0.0f, 1.0f, 0.5f, -1.7f}) {  // 0: the attribute left at its default
        SCOPED_TRACE(::testing::Message() << "SwiGLU " << dtypeName(t) << " " << d.toString() << " alpha=" << alpha);
        AttrMap a;
        if (alpha != 0.0f) a.set("alpha", AttrValue(alpha));
        std::vector<Tensor> in = {rnd(t, d, seed, -4.0, 4.0), rnd(t, d, seed + 1, -2.0, 2.0)};
        expectGpuMatchesCpu(spec("SwiGLU", a, in, {}, 1, 28), tolFor(t));
        seed += 2;
      }
}

// ---- TensorScatter ------------------------------------------------------------------------------

struct ScatterCase {
  DType type = DType::kFloat32;
  Dims cache;
  int64_t axis = -2;
  bool axisAttr = false;  // false: the default axis (-2)
  int64_t len = 1;
  bool circular = false;
  bool modeAttr = true;  // false: the default mode (linear)
  bool indices = true;
};

void expectScatter(const ScatterCase& c, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "TensorScatter " << dtypeName(c.type) << " " << c.cache.toString() << " axis="
                                    << c.axis << " len=" << c.len << " circular=" << c.circular
                                    << " indices=" << c.indices);
  const int rank = c.cache.rank();
  const int axis = static_cast<int>(c.axis < 0 ? c.axis + rank : c.axis);
  Dims ud = c.cache;
  ud[axis] = c.len;
  const int64_t batch = c.cache[0], maxLen = c.cache[axis];
  AttrMap a;
  if (c.axisAttr) a.set("axis", AttrValue(c.axis));
  if (c.modeAttr) a.set("mode", AttrValue(c.circular ? "circular" : "linear"));
  // Bool: values in {0, 1}; unsigned types: nonnegative values.
  const double lo = c.type == DType::kBool || c.type == DType::kUInt16 ? 0.0 : -100.0;
  const double hi = c.type == DType::kBool ? 1.0 : 100.0;
  std::vector<Tensor> in = {rnd(c.type, c.cache, seed, lo, hi), rnd(c.type, ud, seed + 1, lo, hi)};
  if (c.indices) {
    std::vector<int64_t> w(batch);
    std::mt19937 rng(seed + 2);
    for (int64_t b = 0; b < batch; ++b) {
      if (c.circular) w[b] = static_cast<int64_t>(rng() % (3 * maxLen)) - maxLen;  // wraps both ways
      else w[b] = static_cast<int64_t>(rng() % (maxLen - c.len + 1));
    }
    if (!c.circular) w[0] = maxLen - c.len;  // the last valid start
    in.push_back(Tensor::fromVector<int64_t>(w, Dims{batch}));
  }
  expectGpuMatchesCpu(spec("TensorScatter", a, in, {}, 1, 24), 0.0);
}

TEST(LlmTensorScatter, ModesAxesAndIndices) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 200;
  struct Layout {
    Dims cache;
    int64_t axis;
    bool axisAttr;
    int64_t len;
  };
  const Layout layouts[] = {
      {{3, 5, 9, 7}, -2, false, 3},  // (B, H, S, D), the default axis
      {{3, 5, 9, 7}, 2, true, 9},    // the whole cache length
      {{3, 9, 7}, 1, true, 4},       // (B, S, D)
      {{3, 5, 9}, -1, true, 2},      // the last axis (inner = 1)
      {{2, 3, 4, 9, 5}, 3, true, 1}, // a decode step in a rank-5 cache
  };
  for (const Layout& l : layouts)
    for (bool circular : {false, true})
      for (bool indices : {true, false}) {
        ScatterCase c;
        c.cache = l.cache;
        c.axis = l.axis;
        c.axisAttr = l.axisAttr;
        c.len = l.len;
        c.circular = circular;
        c.modeAttr = circular || seed % 2 == 0;
        c.indices = indices;
        expectScatter(c, seed);
        seed += 3;
      }
}

TEST(LlmTensorScatter, ElementTypes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 300;
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt8, DType::kInt64,
                  DType::kUInt16, DType::kBool})
    for (bool circular : {false, true}) {
      ScatterCase c;
      c.type = t;
      c.cache = {3, 5, 9, 7};
      c.len = 4;
      c.circular = circular;
      expectScatter(c, seed);
      seed += 3;
    }
}

// ---- CausalConvWithState ------------------------------------------------------------------------

struct ConvCase {
  DType type = DType::kFloat32;
  int64_t L = 9, K = 4;
  const char* activation = nullptr;  // nullptr: the default (none)
  bool bias = false, past = false, present = true;
};

void expectConv(const ConvCase& c, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "CausalConvWithState " << dtypeName(c.type) << " L=" << c.L << " K=" << c.K
                                    << " act=" << (c.activation ? c.activation : "<default>") << " bias=" << c.bias
                                    << " past=" << c.past << " present=" << c.present);
  const int64_t B = 3, C = 5;
  AttrMap a;
  if (c.activation) a.set("activation", AttrValue(c.activation));
  std::vector<Tensor> in = {rnd(c.type, {B, C, c.L}, seed, -2.0, 2.0), rnd(c.type, {C, 1, c.K}, seed + 1)};
  in.push_back(c.bias ? rnd(c.type, {C}, seed + 2) : Tensor());
  in.push_back(c.past ? rnd(c.type, {B, C, c.K - 1}, seed + 3, -2.0, 2.0) : Tensor());
  while (!in.back().defined()) in.pop_back();
  expectGpuMatchesCpu(spec("CausalConvWithState", a, in, {}, c.present ? 2 : 1, 27), tolFor(c.type));
}

TEST(LlmCausalConvWithState, AllOptions) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 400;
  for (DType t : kRopeTypes)
    for (const char* act : {static_cast<const char*>(nullptr), "none", "silu", "swish"})
      for (bool bias : {false, true})
        for (bool past : {false, true})
          for (bool present : {true, false}) {
            ConvCase c;
            c.type = t;
            c.activation = act;
            c.bias = bias;
            c.past = past;
            c.present = present;
            expectConv(c, seed);
            seed += 4;
          }
}

TEST(LlmCausalConvWithState, KernelAndLengthEdges) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 500;
  struct Size {
    int64_t L, K;
  };
  // K = 1 (empty state), input shorter than the state, decode steps, a long row.
  for (Size s : {Size{9, 1}, Size{2, 5}, Size{1, 4}, Size{1, 1}, Size{3, 4}, Size{300, 7}})
    for (bool past : {false, true}) {
      if (past && s.K == 1) continue;  // a (B, C, 0) past state: an empty input
      ConvCase c;
      c.L = s.L;
      c.K = s.K;
      c.activation = "silu";
      c.bias = true;
      c.past = past;
      c.present = s.K > 1;
      expectConv(c, seed);
      seed += 4;
    }
}

// ---- LinearAttention ----------------------------------------------------------------------------

struct LaCase {
  DType type = DType::kFloat32;
  DType stateType = DType::kUndefined;  // past_state's type; undefined = the input type
  const char* rule = "gated_delta";
  bool ruleAttr = true;  // false: the default (gated_delta)
  int64_t B = 2, T = 9, hq = 6, hkv = 2, dk = 5, dv = 7;
  bool decayPerKey = false;  // decay (B, T, hkv*dk) instead of (B, T, hkv)
  bool betaScalar = false;   // beta (B, T, 1) instead of (B, T, hkv)
  bool past = true, present = true;
  float scale = 0.0f;  // 0: the default 1/sqrt(dk)
};

void expectLa(const LaCase& c, uint32_t seed) {
  const DType st = c.stateType == DType::kUndefined ? c.type : c.stateType;
  SCOPED_TRACE(::testing::Message() << "LinearAttention " << dtypeName(c.type) << " state " << dtypeName(st) << " "
                                    << c.rule << " B=" << c.B << " T=" << c.T << " hq=" << c.hq << " hkv=" << c.hkv
                                    << " dk=" << c.dk << " dv=" << c.dv << " decayPerKey=" << c.decayPerKey
                                    << " betaScalar=" << c.betaScalar << " past=" << c.past
                                    << " present=" << c.present << " scale=" << c.scale);
  const std::string rule = c.rule;
  const bool gating = rule == "gated" || rule == "gated_delta", delta = rule == "delta" || rule == "gated_delta";
  AttrMap a = attrs({{"q_num_heads", AttrValue(c.hq)}, {"kv_num_heads", AttrValue(c.hkv)}});
  if (c.ruleAttr) a.set("update_rule", AttrValue(c.rule));
  if (c.scale != 0.0f) a.set("scale", AttrValue(c.scale));
  // Keys small enough that the delta rule stays contractive (|k|^2 * beta < 2).
  const double kr = 1.0 / static_cast<double>(std::max<int64_t>(c.dk, 1));
  std::vector<Tensor> in = {rnd(c.type, {c.B, c.T, c.hq * c.dk}, seed, -1.0, 1.0),
                            rnd(c.type, {c.B, c.T, c.hkv * c.dk}, seed + 1, -kr * 2, kr * 2),
                            rnd(c.type, {c.B, c.T, c.hkv * c.dv}, seed + 2, -1.0, 1.0)};
  in.push_back(c.past ? rnd(st, {c.B, c.hkv, c.dk, c.dv}, seed + 3, -0.5, 0.5) : Tensor());
  in.push_back(gating ? rnd(c.type, {c.B, c.T, c.decayPerKey ? c.hkv * c.dk : c.hkv}, seed + 4, -0.7, -0.01)
                      : Tensor());
  in.push_back(delta ? rnd(c.type, {c.B, c.T, c.betaScalar ? 1 : c.hkv}, seed + 5, 0.05, 1.0) : Tensor());
  while (!in.back().defined()) in.pop_back();
  double tol = tolFor(c.type);
  if (st == DType::kBFloat16) tol = std::max(tol, tolFor(DType::kBFloat16));
  if (st == DType::kFloat16) tol = std::max(tol, tolFor(DType::kFloat16));
  expectGpuMatchesCpu(spec("LinearAttention", a, in, {}, c.present ? 2 : 1, 27), std::max(tol, 1e-4));
}

TEST(LlmLinearAttention, RulesAndOptions) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 600;
  for (const char* rule : {"linear", "gated", "delta", "gated_delta"})
    for (bool past : {false, true})
      for (bool present : {true, false})
        for (int variant = 0; variant < 2; ++variant) {
          LaCase c;
          c.rule = rule;
          c.ruleAttr = std::string(rule) != "gated_delta" || variant == 0;
          c.past = past;
          c.present = present;
          c.decayPerKey = variant == 1;
          c.betaScalar = variant == 1;
          c.scale = variant == 1 ? 0.3f : 0.0f;
          expectLa(c, seed);
          seed += 6;
        }
}

TEST(LlmLinearAttention, HeadLayouts) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 700;
  struct Heads {
    int64_t hq, hkv, dk, dv;
  };
  // MHA, GQA, MQA, dk != dv both ways, a single key/value dimension.
  for (Heads h : {Heads{3, 3, 5, 7}, Heads{6, 2, 8, 3}, Heads{5, 1, 4, 9}, Heads{2, 2, 1, 1}, Heads{4, 2, 1, 6}})
    for (const char* rule : {"linear", "gated_delta"}) {
      LaCase c;
      c.rule = rule;
      c.hq = h.hq;
      c.hkv = h.hkv;
      c.dk = h.dk;
      c.dv = h.dv;
      c.decayPerKey = seed % 2 == 0;
      expectLa(c, seed);
      seed += 6;
    }
}

TEST(LlmLinearAttention, TypesAndStateTypes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 800;
  for (DType t : kRopeTypes)
    for (DType st : kRopeTypes)
      for (bool past : {true, false}) {
        if (!past && st != t) continue;  // without past_state, present has the input's type
        LaCase c;
        c.type = t;
        c.stateType = st;
        c.past = past;
        expectLa(c, seed);
        seed += 6;
      }
}

// Head sizes whose value columns span several blocks (and a decode step, T = 1; and T = 1 without
// any past, the first token).
TEST(LlmLinearAttention, LargeHeads) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 900;
  for (int64_t T : {int64_t{17}, int64_t{1}})
    for (const char* rule : {"gated_delta", "gated", "linear"}) {
      LaCase c;
      c.rule = rule;
      c.B = 1;
      c.T = T;
      c.hq = 4;
      c.hkv = 2;
      c.dk = 128;
      c.dv = 129;
      c.decayPerKey = T == 1;
      c.past = T == 17;
      expectLa(c, seed);
      seed += 6;
    }
}

// ---- registry (no GPU needed) -------------------------------------------------------------------

struct Desc {
  AttrMap a;
  cuda::LayerDesc d;
  Desc(const std::string& op, AttrMap at, std::vector<DType> in, std::vector<DType> out) : a(std::move(at)) {
    d.op = op;
    d.attrs = &a;
    d.inputTypes = std::move(in);
    d.outputTypes = std::move(out);
    d.constInputs.assign(d.inputTypes.size(), nullptr);
  }
  Desc(const Desc&) = delete;
};

bool supports(const std::string& tactic, const cuda::LayerDesc& d) {
  const cuda::GpuKernelDef* def = cuda::GpuKernelRegistry::global().findTactic(tactic);
  EXPECT_NE(def, nullptr) << tactic;
  return def && (!def->supports || def->supports(d));
}

TEST(LlmRegistry, TacticsAndTypes) {
  constexpr DType f32 = DType::kFloat32, f16 = DType::kFloat16, bf16 = DType::kBFloat16, f64 = DType::kFloat64,
                  i64 = DType::kInt64, none = DType::kUndefined;
  EXPECT_TRUE(supports("cuda_llm_rotary", Desc("RotaryEmbedding", {}, {f16, f16, f16, i64}, {f16}).d));
  EXPECT_TRUE(supports("cuda_llm_rotary", Desc("RotaryEmbedding", {}, {bf16, bf16, bf16}, {bf16}).d));
  EXPECT_FALSE(supports("cuda_llm_rotary", Desc("RotaryEmbedding", {}, {f64, f64, f64}, {f64}).d));
  EXPECT_TRUE(supports("cuda_llm_swiglu", Desc("SwiGLU", {}, {f64, f64}, {f64}).d));
  EXPECT_FALSE(supports("cuda_llm_swiglu", Desc("SwiGLU", {}, {i64, i64}, {i64}).d));
  EXPECT_TRUE(supports("cuda_llm_tensorscatter", Desc("TensorScatter", {}, {DType::kBool, DType::kBool, i64},
                                                      {DType::kBool}).d));
  EXPECT_FALSE(supports("cuda_llm_tensorscatter", Desc("TensorScatter", {}, {DType::kString, DType::kString},
                                                       {DType::kString}).d));
  EXPECT_TRUE(supports("cuda_llm_causalconv", Desc("CausalConvWithState", {}, {f32, f32, none, f32}, {f32, f32}).d));
  EXPECT_FALSE(supports("cuda_llm_causalconv", Desc("CausalConvWithState", {}, {f64, f64}, {f64, f64}).d));
  const AttrMap heads = attrs({{"q_num_heads", AttrValue(4)}, {"kv_num_heads", AttrValue(2)}});
  EXPECT_TRUE(supports("cuda_llm_linearattention",
                       Desc("LinearAttention", heads, {f32, f32, f32, f16, f32, f32}, {f32, f16}).d));
  EXPECT_FALSE(supports("cuda_llm_linearattention",
                        Desc("LinearAttention", heads, {f32, f32, f32, f16, f32, f32}, {f32, f32}).d));
  EXPECT_FALSE(supports("cuda_llm_linearattention", Desc("LinearAttention", heads, {f64, f64, f64}, {f64}).d));
  for (const char* op : {"RotaryEmbedding", "SwiGLU", "TensorScatter", "CausalConvWithState", "LinearAttention"})
    EXPECT_EQ(cudaTacticsFor(op).size(), 1u) << op;
}

}  // namespace
}  // namespace kiln::testing
