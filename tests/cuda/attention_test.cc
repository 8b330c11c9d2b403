// ONNX Attention on the GPU (cuda_attention_flash, cuda_attention_generic, cuda_attention_cudnn) against the CPU
// reference: BERT shapes with an additive mask, causal, boolean masks (broadcast, short last dim,
// fully masked rows), GQA, 3-D inputs, scale, odd sequence lengths and head sizes, fp32/fp16/bf16.
#include <random>

#include <cstdio>

#include "backends/cuda/kernels/attention_cudnn.h"
#include "gpu_test_util.h"

namespace kiln::testing {
namespace {

struct AttnCase {
  DType t = DType::kFloat16;
  int64_t B = 2, Hq = 4, Hkv = 4, Sq = 65, Skv = 65, D = 64, Dv = 64;
  int causal = 0;
  bool threeD = false;
  float scale = 0;  // 0: the default 1/sqrt(D)
};

OpSpec attention(const AttnCase& c, std::mt19937& rng) {
  OpSpec s;
  s.op = "Attention";
  s.opset = 23;
  if (c.threeD) {
    s.inputs = {randomTensor(c.t, {c.B, c.Sq, c.Hq * c.D}, rng), randomTensor(c.t, {c.B, c.Skv, c.Hkv * c.D}, rng),
                randomTensor(c.t, {c.B, c.Skv, c.Hkv * c.Dv}, rng)};
    s.attrs.set("q_num_heads", AttrValue(c.Hq));
    s.attrs.set("kv_num_heads", AttrValue(c.Hkv));
  } else {
    s.inputs = {randomTensor(c.t, {c.B, c.Hq, c.Sq, c.D}, rng), randomTensor(c.t, {c.B, c.Hkv, c.Skv, c.D}, rng),
                randomTensor(c.t, {c.B, c.Hkv, c.Skv, c.Dv}, rng)};
  }
  s.attrs.set("is_causal", AttrValue(c.causal));
  if (c.scale != 0) s.attrs.set("scale", AttrValue(c.scale));
  return s;
}

double tolFor(DType t) { return t == DType::kFloat32 ? 1e-4 : t == DType::kFloat16 ? 1e-2 : 2e-2; }

void setFloat(Tensor& m, int64_t i, float v) {
  if (m.dtype() == DType::kFloat32) m.data<float>()[i] = v;
  else if (m.dtype() == DType::kFloat16) m.data<Float16>()[i] = Float16(v);
  else m.data<BFloat16>()[i] = BFloat16(v);
}

// Boolean mask of the given dims, about `keep` of it true.
Tensor boolMask(const Dims& d, double keep, std::mt19937& rng) {
  Tensor m = Tensor::allocate(DType::kBool, d);
  std::bernoulli_distribution b(keep);
  for (int64_t i = 0; i < m.numel(); ++i) m.data<bool>()[i] = b(rng);
  return m;
}

// BERT's additive mask [B, 1, 1, S]: 0 where attended, -10000 on padding (the tail of each row).
Tensor bertMask(DType t, int64_t B, int64_t S) {
  Tensor m = Tensor::allocate(t, {B, 1, 1, S});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < S; ++j) {
      const float v = j < S - 7 * b ? 0.0f : -10000.0f;
      if (t == DType::kFloat32) m.data<float>()[b * S + j] = v;
      else if (t == DType::kFloat16) m.data<Float16>()[b * S + j] = Float16(v);
      else m.data<BFloat16>()[b * S + j] = BFloat16(v);
    }
  return m;
}

// kiln:PackedAttention: Q, K, V read in place as column blocks of the merged projection (row
// stride (Hq + 2 Hkv) * D): BERT heads with the additive mask (flash in fp16), GQA with a boolean
// mask and an odd length, float32 (generic), causal.
TEST(CudaPackedAttention, MatchesCpu) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(11);
  struct Case {
    DType t;
    int64_t B, S, hq, hkv, d;
    int causal;
    bool boolMaskInput;
  };
  for (const Case& c : {Case{DType::kFloat16, 2, 128, 12, 12, 64, 0, false}, Case{DType::kFloat16, 1, 77, 8, 2, 32, 0, true},
                        Case{DType::kBFloat16, 2, 33, 4, 4, 128, 1, false}, Case{DType::kFloat32, 2, 77, 12, 12, 64, 0, false},
                        Case{DType::kFloat32, 1, 19, 6, 3, 40, 1, true}}) {
    SCOPED_TRACE(std::string(dtypeName(c.t)) + " S " + std::to_string(c.S) + " heads " + std::to_string(c.hq) + "/" +
                 std::to_string(c.hkv) + " D " + std::to_string(c.d));
    OpSpec s;
    s.op = "PackedAttention";
    s.domain = "kiln";
    s.opset = 1;
    s.inputs = {randomTensor(c.t, {c.B, c.S, (c.hq + 2 * c.hkv) * c.d}, rng)};
    s.inputs.push_back(c.boolMaskInput ? boolMask({c.B, 1, c.S, c.S}, 0.8, rng) : bertMask(c.t, c.B, c.S));
    s.attrs.set("q_num_heads", AttrValue(c.hq));
    s.attrs.set("kv_num_heads", AttrValue(c.hkv));
    s.attrs.set("is_causal", AttrValue(int64_t{c.causal}));
    expectGpuMatchesCpu(s, tolFor(c.t));
  }
}

TEST(CudaAttention, BertShapesWithAdditiveMask) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(1);
  for (DType t : {DType::kFloat16, DType::kBFloat16, DType::kFloat32}) {
    SCOPED_TRACE(std::string(dtypeName(t)));
    AttnCase c{.t = t, .B = 2, .Hq = 12, .Hkv = 12, .Sq = 128, .Skv = 128, .D = 64, .Dv = 64, .scale = 0.125f};
    OpSpec s = attention(c, rng);
    s.inputs.push_back(bertMask(t, c.B, c.Skv));
    expectGpuMatchesCpu(s, tolFor(t));
  }
}

TEST(CudaAttention, HeadSizesAndOddLengths) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(2);
  for (DType t : {DType::kFloat16, DType::kBFloat16, DType::kFloat32})
    for (int64_t D : {32, 64, 128, 40, 8})
      for (auto [Sq, Skv] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {7, 300}, {77, 77}, {130, 65}}) {
        SCOPED_TRACE(std::string(dtypeName(t)) + " D " + std::to_string(D) + " Sq " + std::to_string(Sq) + " Skv " +
                     std::to_string(Skv));
        AttnCase c{.t = t, .B = 1, .Hq = 3, .Hkv = 3, .Sq = Sq, .Skv = Skv, .D = D, .Dv = D};
        expectGpuMatchesCpu(attention(c, rng), tolFor(t));
      }
}

TEST(CudaAttention, Causal) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(3);
  for (DType t : {DType::kFloat16, DType::kFloat32})
    for (auto [Sq, Skv] : std::vector<std::pair<int64_t, int64_t>>{{100, 100}, {33, 200}, {200, 33}}) {
      SCOPED_TRACE(std::string(dtypeName(t)) + " Sq " + std::to_string(Sq) + " Skv " + std::to_string(Skv));
      AttnCase c{.t = t, .B = 2, .Hq = 2, .Hkv = 2, .Sq = Sq, .Skv = Skv, .D = 64, .Dv = 64, .causal = 1};
      expectGpuMatchesCpu(attention(c, rng), tolFor(t));
    }
}

TEST(CudaAttention, BooleanMasksBroadcastShortAndFullyMasked) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(4);
  for (DType t : {DType::kFloat16, DType::kFloat32}) {
    AttnCase c{.t = t, .B = 2, .Hq = 4, .Hkv = 4, .Sq = 70, .Skv = 90, .D = 64, .Dv = 64};
    for (const Dims& md : std::vector<Dims>{{70, 90}, {2, 1, 70, 90}, {1, 4, 1, 90}, {90}, {2, 4, 70, 90}, {70, 60}}) {
      SCOPED_TRACE(std::string(dtypeName(t)) + " mask " + md.toString());
      OpSpec s = attention(c, rng);
      s.inputs.push_back(boolMask(md, 0.7, rng));
      expectGpuMatchesCpu(s, tolFor(t));
    }
    // Rows with every key masked give zeros (mostly-false mask: several rows are all false).
    OpSpec s = attention(c, rng);
    Tensor m = boolMask({70, 90}, 0.5, rng);
    for (int64_t i = 0; i < 70; i += 3)
      for (int64_t j = 0; j < 90; ++j) m.data<bool>()[i * 90 + j] = false;
    s.inputs.push_back(m);
    SCOPED_TRACE("fully masked rows");
    expectGpuMatchesCpu(s, tolFor(t));
    // Causal and a mask together.
    OpSpec sc = attention(AttnCase{.t = t, .B = 1, .Hq = 2, .Hkv = 2, .Sq = 64, .Skv = 64, .D = 32, .Dv = 32, .causal = 1}, rng);
    sc.inputs.push_back(boolMask({64, 64}, 0.8, rng));
    expectGpuMatchesCpu(sc, tolFor(t));
  }
}

TEST(CudaAttention, FloatMaskOfOtherShapes) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(5);
  AttnCase c{.t = DType::kFloat16, .B = 2, .Hq = 3, .Hkv = 3, .Sq = 40, .Skv = 50, .D = 32, .Dv = 32};
  for (const Dims& md : std::vector<Dims>{{40, 50}, {2, 3, 40, 50}, {2, 1, 1, 50}, {3, 1, 50}}) {
    SCOPED_TRACE(md.toString());
    OpSpec s = attention(c, rng);
    s.inputs.push_back(randomTensor(DType::kFloat16, md, rng, -3, 3));
    expectGpuMatchesCpu(s, tolFor(DType::kFloat16));
  }
}

// A mask of another float type than Q (the CPU reference converts it; so do the kernels).
TEST(CudaAttention, MaskOfAnotherFloatType) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(9);
  for (DType t : {DType::kFloat16, DType::kBFloat16})
    for (DType mt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
      SCOPED_TRACE(std::string(dtypeName(t)) + " mask " + std::string(dtypeName(mt)));
      OpSpec s = attention(AttnCase{.t = t, .B = 2, .Hq = 2, .Hkv = 2, .Sq = 45, .Skv = 45, .D = 64, .Dv = 64}, rng);
      s.inputs.push_back(randomTensor(mt, {2, 1, 45, 45}, rng, -2, 2));
      expectGpuMatchesCpu(s, tolFor(t));
    }
}

TEST(CudaAttention, GroupedQueryAndThreeD) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(6);
  for (DType t : {DType::kFloat16, DType::kFloat32}) {
    SCOPED_TRACE(std::string(dtypeName(t)));
    expectGpuMatchesCpu(attention(AttnCase{.t = t, .B = 2, .Hq = 8, .Hkv = 2, .Sq = 33, .Skv = 70, .D = 64, .Dv = 64}, rng),
                        tolFor(t));
    expectGpuMatchesCpu(
        attention(AttnCase{.t = t, .B = 2, .Hq = 4, .Hkv = 4, .Sq = 65, .Skv = 65, .D = 64, .Dv = 64, .threeD = true}, rng),
        tolFor(t));
    expectGpuMatchesCpu(attention(AttnCase{.t = t, .B = 1, .Hq = 6, .Hkv = 3, .Sq = 20, .Skv = 31, .D = 32, .Dv = 32,
                                           .causal = 1, .threeD = true},
                                  rng),
                        tolFor(t));
    // Dv != D: the generic kernel.
    expectGpuMatchesCpu(attention(AttnCase{.t = t, .B = 1, .Hq = 2, .Hkv = 2, .Sq = 17, .Skv = 19, .D = 64, .Dv = 48}, rng),
                        tolFor(t));
  }
}

TEST(CudaAttention, LongSequenceHalf) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(7);
  AttnCase c{.t = DType::kFloat16, .B = 1, .Hq = 4, .Hkv = 4, .Sq = 1024, .Skv = 1024, .D = 128, .Dv = 128, .causal = 1};
  expectGpuMatchesCpu(attention(c, rng), 1e-2);
}

TEST(CudaAttention, UnsupportedFeaturesAreRefused) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(8);
  AttnCase c{.t = DType::kFloat32, .B = 1, .Hq = 2, .Hkv = 2, .Sq = 8, .Skv = 8, .D = 16, .Dv = 16};
  OpSpec s = attention(c, rng);
  s.attrs.set("softcap", AttrValue(5.0f));
  auto r = runOpCuda(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << r.status().toString();
  OpSpec p = attention(c, rng);
  p.inputs.push_back(Tensor());  // no mask
  p.inputs.push_back(randomTensor(DType::kFloat32, {1, 2, 4, 16}, rng));  // past_key
  p.inputs.push_back(randomTensor(DType::kFloat32, {1, 2, 4, 16}, rng));  // past_value
  p.numOutputs = 3;
  auto r2 = runOpCuda(p);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), StatusCode::kUnsupported) << r2.status().toString();
}

TEST(CudaAttentionRegistry, TacticsAreRegistered) {
  const auto t = cudaTacticsFor("Attention");
#if KILN_HAVE_CUDNN_FRONTEND
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0], "cuda_attention_flash");
  EXPECT_EQ(t[1], "cuda_attention_cudnn");
  EXPECT_EQ(t[2], "cuda_attention_generic");
  EXPECT_EQ(cudaTacticsFor("PackedAttention", "kiln")[1], "cuda_packed_attention_cudnn");
#else
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0], "cuda_attention_flash");
  EXPECT_EQ(t[1], "cuda_attention_generic");
#endif
}

#if KILN_HAVE_CUDNN_FRONTEND
// cuDNN's fused attention, forced, on the geometries BERT exports produce: it must match the CPU
// and actually run in cuDNN (a fallback to the own kernels would also match, hiding a tactic that
// never works). Masks of another type than Q/K/V fall back by design, and must still be right.
TEST(CudaAttentionCudnn, RunsInCudnnAndMatchesCpu) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(21);
  GpuRunOptions o;
  o.tactic = "cuda_attention_cudnn";
  for (DType t : {DType::kFloat16, DType::kBFloat16}) {
    SCOPED_TRACE(std::string(dtypeName(t)));
    // No mask, 4-D; and causal with GQA, 3-D, odd lengths.
    for (const AttnCase& c : {AttnCase{.t = t, .B = 2, .Hq = 12, .Hkv = 12, .Sq = 128, .Skv = 128, .D = 64, .Dv = 64},
                              AttnCase{.t = t, .B = 1, .Hq = 8, .Hkv = 2, .Sq = 77, .Skv = 77, .D = 128, .Dv = 128,
                                       .causal = 1, .threeD = true}}) {
      const uint64_t before = cuda::cudnnAttentionExecutions();
      expectGpuMatchesCpu(attention(c, rng), tolFor(t), o);
      EXPECT_GT(cuda::cudnnAttentionExecutions(), before)
          << "cuDNN did not run (Sq " << c.Sq << "): " << cuda::cudnnAttentionLastFallbackReason();
    }
    // The dynamo BERT export's mask: [B or 1, 1, S, S] additive, in the I/O type.
    for (const Dims& md : std::vector<Dims>{{2, 1, 96, 96}, {1, 1, 96, 96}}) {
      SCOPED_TRACE(md.toString());
      OpSpec s = attention(AttnCase{.t = t, .B = 2, .Hq = 4, .Hkv = 4, .Sq = 96, .Skv = 96, .D = 64, .Dv = 64}, rng);
      s.inputs.push_back(randomTensor(t, md, rng, -3, 3));
      const uint64_t before = cuda::cudnnAttentionExecutions();
      expectGpuMatchesCpu(s, tolFor(t), o);
      EXPECT_GT(cuda::cudnnAttentionExecutions(), before)
          << "cuDNN did not run with mask " << md.toString() << ": " << cuda::cudnnAttentionLastFallbackReason();
    }
    // BERT's [B, 1, 1, S] padding mask: cuDNN or the fallback, right either way.
    OpSpec s = attention(AttnCase{.t = t, .B = 3, .Hq = 12, .Hkv = 12, .Sq = 128, .Skv = 128, .D = 64, .Dv = 64}, rng);
    s.inputs.push_back(bertMask(t, 3, 128));
    const uint64_t ran = cuda::cudnnAttentionExecutions(), fell = cuda::cudnnAttentionFallbacks();
    expectGpuMatchesCpu(s, tolFor(t), o);
    std::printf("[ INFO ] %s [B,1,1,S] mask: %llu cuDNN runs, %llu fallbacks (%s)\n", std::string(dtypeName(t)).c_str(),
                static_cast<unsigned long long>(cuda::cudnnAttentionExecutions() - ran),
                static_cast<unsigned long long>(cuda::cudnnAttentionFallbacks() - fell),
                cuda::cudnnAttentionLastFallbackReason().c_str());
  }
  // Rows whose additive mask is all -inf give zeros in the reference (and in Kiln's kernels);
  // cuDNN must agree (or the tactic must not take such masks), and partially -inf rows are plain
  // masking. Causal with Sq != Skv (top-left aligned, as ONNX) both ways.
  for (DType t : {DType::kFloat16, DType::kBFloat16}) {
    SCOPED_TRACE(std::string(dtypeName(t)) + " -inf rows");
    OpSpec s = attention(AttnCase{.t = t, .B = 2, .Hq = 4, .Hkv = 4, .Sq = 64, .Skv = 64, .D = 64, .Dv = 64}, rng);
    Tensor m = randomTensor(t, {2, 1, 64, 64}, rng, -1, 1);
    for (int64_t j = 0; j < 64; ++j) {
      setFloat(m, 3 * 64 + j, -INFINITY);             // batch 0, query 3: fully masked
      if (j % 3 == 0) setFloat(m, 64 * 64 + 5 * 64 + j, -INFINITY);  // batch 1, query 5: partly
    }
    s.inputs.push_back(m);
    expectGpuMatchesCpu(s, tolFor(t), o);
    for (auto [Sq, Skv] : std::vector<std::pair<int64_t, int64_t>>{{40, 96}, {96, 40}}) {
      SCOPED_TRACE("causal Sq " + std::to_string(Sq) + " Skv " + std::to_string(Skv));
      expectGpuMatchesCpu(
          attention(AttnCase{.t = t, .B = 1, .Hq = 2, .Hkv = 2, .Sq = Sq, .Skv = Skv, .D = 64, .Dv = 64, .causal = 1}, rng),
          tolFor(t), o);
    }
  }
  // A float32 mask with float16 Q/K/V: not a cuDNN layer at all (its bias is of the I/O type).
  OpSpec s = attention(AttnCase{.t = DType::kFloat16, .B = 1, .Hq = 2, .Hkv = 2, .Sq = 33, .Skv = 33, .D = 64, .Dv = 64}, rng);
  s.inputs.push_back(randomTensor(DType::kFloat32, {1, 1, 33, 33}, rng, -2, 2));
  auto r = runOpCuda(s, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << r.status().toString();
}
#endif

}  // namespace
}  // namespace kiln::testing
