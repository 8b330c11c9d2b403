// ONNX Attention on the GPU (cuda_attention_resident, _wgmma, _flash, _generic, _cudnn) against the CPU
// reference: BERT shapes with an additive mask, causal, boolean masks (broadcast, short last dim,
// fully masked rows), GQA, 3-D inputs, scale, odd sequence lengths and head sizes, fp32/fp16/bf16;
// and what only the generic tactic's full kernel runs: past/present K/V, qk_matmul_output modes
// 0-3, softcap, nonpad_kv_seqlen, sliding windows, masks of other types, softmax_precision.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <onnx/onnx_pb.h>

#include "backends/cuda/kernels/attention_cudnn.h"
#include "gpu_test_util.h"
#include "kiln/builder.h"
#include "kiln/engine.h"
#include "model_builder.h"

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

// kiln:PackedAttention over BERT-base's 12 heads of 64 at batch 32, seq 128, fp16, with an additive
// key mask padding up to 45 keys a row (bertMask's 7 a batch would mask whole rows with -10000 past
// batch 18: a softmax the CPU's fp16 score rounding makes meaningless).
OpSpec packedBertHeads(std::mt19937& rng) {
  OpSpec s;
  s.op = "PackedAttention";
  s.domain = "kiln";
  s.opset = 1;
  Tensor mask = Tensor::allocate(DType::kFloat16, {32, 1, 1, 128});
  for (int64_t b = 0; b < 32; ++b)
    for (int64_t j = 0; j < 128; ++j) mask.data<Float16>()[b * 128 + j] = Float16(j < 128 - 3 * (b % 16) ? 0.0f : -10000.0f);
  s.inputs = {randomTensor(DType::kFloat16, {32, 128, 3 * 12 * 64}, rng), mask};
  s.attrs.set("q_num_heads", AttrValue(int64_t{12}));
  s.attrs.set("kv_num_heads", AttrValue(int64_t{12}));
  return s;
}

// The resident tactic forced on larger grids than the other tests: BERT heads at batch 32 with
// per-row padding, GQA with a query length of five 64-row blocks, and exactly 128 keys (the
// bounds-free instance), causal or with a general boolean mask, float16 and bfloat16.
TEST(CudaAttention, ResidentKernelOnLargerGrids) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(41);
  {
    SCOPED_TRACE("packed BERT heads, batch 32");
    GpuRunOptions o;
    o.tactic = "cuda_packed_attention_resident";
    expectGpuMatchesCpu(packedBertHeads(rng), tolFor(DType::kFloat16), o);
  }
  for (int maskKind : {0, 2}) {
    for (DType t : {DType::kFloat16, DType::kBFloat16}) {
      SCOPED_TRACE(std::string(dtypeName(t)) + " mask kind " + std::to_string(maskKind));
      AttnCase c{.t = t, .B = 12, .Hq = 8, .Hkv = 2, .Sq = 300, .Skv = 97, .D = 32, .Dv = 32, .causal = maskKind == 0};
      OpSpec s = attention(c, rng);
      if (maskKind == 2) s.inputs.push_back(boolMask({c.B, 1, c.Sq, c.Skv}, 0.7, rng));
      GpuRunOptions o;
      o.tactic = "cuda_attention_resident";
      expectGpuMatchesCpu(s, tolFor(t), o);
    }
  }
  // Exactly 128 keys: the kernel's bounds-free instance, causal or with a general boolean mask.
  for (int maskKind : {0, 2}) {
    for (DType t : {DType::kFloat16, DType::kBFloat16}) {
      SCOPED_TRACE(std::string(dtypeName(t)) + " 128 keys, mask kind " + std::to_string(maskKind));
      AttnCase c{.t = t, .B = 3, .Hq = 4, .Hkv = 4, .Sq = 128, .Skv = 128, .D = 64, .Dv = 64, .causal = maskKind == 0};
      OpSpec s = attention(c, rng);
      if (maskKind == 2) s.inputs.push_back(boolMask({c.B, 1, c.Sq, c.Skv}, 0.7, rng));
      GpuRunOptions o;
      o.tactic = "cuda_attention_resident";
      ASSERT_TRUE(runOpCuda(s, o).ok());
      expectGpuMatchesCpu(s, tolFor(t), o);
    }
  }
}

// The wgmma tactic (Hopper only) against the CPU on the shapes its kernel is for (head size 64,
// keys <= 128) at odd sizes: BERT heads at batch 32 with per-row padding (packed), a query length
// past two 64-row blocks with fewer keys than a tile, GQA, causal, general boolean masks, exactly
// 128 keys (the bounds-free instance), float16 and bfloat16; a layer of more than 128 keys is
// not the tactic's.
TEST(CudaAttention, WgmmaKernelMatchesCpu) {
  KILN_REQUIRE_HOPPER_TACTIC("Attention", "", "cuda_attention_wgmma");
  std::mt19937 rng(43);
  {
    SCOPED_TRACE("packed BERT heads, batch 32");
    const OpSpec s = packedBertHeads(rng);
    GpuRunOptions o;
    o.tactic = "cuda_packed_attention_wgmma";
    ASSERT_TRUE(runOpCuda(s, o).ok());
    expectGpuMatchesCpu(s, tolFor(DType::kFloat16), o);
  }
  for (DType t : {DType::kFloat16, DType::kBFloat16}) {
    for (int maskKind : {0, 1, 2}) {
      for (auto [Sq, Skv] : std::vector<std::pair<int64_t, int64_t>>{{130, 97}, {128, 128}, {1, 5}, {65, 128}}) {
        SCOPED_TRACE(std::string(dtypeName(t)) + " mask kind " + std::to_string(maskKind) + " Sq " + std::to_string(Sq) +
                     " Skv " + std::to_string(Skv));
        AttnCase c{.t = t, .B = 3, .Hq = 6, .Hkv = 2, .Sq = Sq, .Skv = Skv, .D = 64, .Dv = 64, .causal = maskKind == 0};
        OpSpec s = attention(c, rng);
        if (maskKind == 1) s.inputs.push_back(randomTensor(t, {c.B, 1, 1, c.Skv}, rng, -3, 1));  // per key, BERT's form
        if (maskKind == 2) s.inputs.push_back(boolMask({c.B, 1, c.Sq, c.Skv}, 0.7, rng));
        GpuRunOptions o;
        o.tactic = "cuda_attention_wgmma";
        ASSERT_TRUE(runOpCuda(s, o).ok());
        expectGpuMatchesCpu(s, tolFor(t), o);
      }
    }
  }
  {
    SCOPED_TRACE("more than 128 keys");
    AttnCase c{.t = DType::kFloat16, .B = 2, .Hq = 2, .Hkv = 2, .Sq = 70, .Skv = 200, .D = 64, .Dv = 64};
    OpSpec s = attention(c, rng);
    GpuRunOptions o;
    o.tactic = "cuda_attention_wgmma";
    // A static 200-key layer is not the tactic's: it refuses it at build time.
    EXPECT_FALSE(runOpCuda(s, o).ok());
  }
}

// A symbolic key length through an engine with the wgmma tactic forced: runs of up to 128 keys take
// the wgmma kernel, longer ones the flash kernel (launchOwnAttention falls back per run), each
// against the CPU engine on the same inputs.
TEST(CudaAttention, WgmmaTacticRunsPast128KeysThroughTheFlashKernel) {
  KILN_REQUIRE_HOPPER_TACTIC("Attention", "", "cuda_attention_wgmma");
  std::mt19937 rng(47);
  ModelBuilder mb(23);
  const int32_t f16 = ::onnx::TensorProto::FLOAT16;
  mb.input("q", {"2", "4", "sq", "64"}, f16);
  mb.input("k", {"2", "4", "skv", "64"}, f16);
  mb.input("v", {"2", "4", "skv", "64"}, f16);
  mb.node("Attention", {"q", "k", "v"}, {"y"});
  mb.output("y");
  OptimizationProfile prof;
  for (const char* name : {"q", "k", "v"}) ASSERT_TRUE(prof.set(name, {2, 4, 1, 64}, {2, 4, 64, 64}, {2, 4, 256, 64}).ok());
  const std::vector<std::pair<int64_t, int64_t>> runs = {{77, 100}, {130, 200}, {64, 128}, {5, 256}, {1, 1}};
  std::vector<std::vector<Tensor>> feeds;
  for (auto [sq, skv] : runs)
    feeds.push_back({randomTensor(DType::kFloat16, {2, 4, sq, 64}, rng), randomTensor(DType::kFloat16, {2, 4, skv, 64}, rng),
                     randomTensor(DType::kFloat16, {2, 4, skv, 64}, rng)});
  auto runAll = [&](Target target) -> Result<std::vector<Tensor>> {
    BuildConfig cfg;
    cfg.target = target;
    cfg.passes = {"none"};
    if (target == Target::kCUDA) cfg.forcedTactics["Attention"] = "cuda_attention_wgmma";
    cfg.profiles = {prof};
    KILN_ASSIGN_OR_RETURN(auto bytes, buildEngineFromBytes(mb.bytes(), ".", "dyn_attention", cfg));
    KILN_ASSIGN_OR_RETURN(auto engine, Engine::loadBytes(std::move(bytes), "dyn_attention"));
    KILN_ASSIGN_OR_RETURN(auto ctx, engine->createExecutionContext());
    std::vector<Tensor> ys;
    for (const auto& f : feeds) {
      for (int i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(ctx->setInputShape(std::string(1, "qkv"[i]), f[i].dims()));
      std::vector<ExecutionContext::Named> outs;
      KILN_RETURN_IF_ERROR(ctx->run({{"q", f[0]}, {"k", f[1]}, {"v", f[2]}}, &outs));
      if (outs.size() != 1) return InternalError("expected one output");
      ys.push_back(outs[0].tensor);
    }
    return ys;
  };
  auto ref = runAll(Target::kCPU);
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  auto got = runAll(Target::kCUDA);
  ASSERT_TRUE(got.ok()) << got.status().toString();
  for (size_t i = 0; i < runs.size(); ++i) {
    SCOPED_TRACE("Sq " + std::to_string(runs[i].first) + " Skv " + std::to_string(runs[i].second));
    ASSERT_EQ((*got)[i].dims(), (*ref)[i].dims());
    EXPECT_LE(relativeL2(toFloat32((*got)[i]), toFloat32((*ref)[i])), tolFor(DType::kFloat16));
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

// ---- What only the full kernel of cuda_attention_generic runs --------------------------------------

// A run with a KV cache and the inputs/outputs/attributes only the full kernel implements. The
// defaults are odd sizes: GQA with 6 query heads on 2 kv heads, 5 queries, 3 past keys then 7 new
// ones, head size 12.
struct FullCase {
  DType t = DType::kFloat32;
  int64_t B = 2, Hq = 6, Hkv = 2, Sq = 5, Skv = 7, Tp = 3, D = 12, Dv = 12;
  int causal = 0;
  bool threeD = false;
  int outputs = 3;  // 1: Y; 3: and present_key/present_value; 4: and qk_matmul_output
  int qkMode = 0;
  float softcap = 0;
  int64_t softmaxPrecision = 0;  // 0: no attribute
  int64_t T() const { return Tp + Skv; }
};

// inputs[3] (attn_mask) and inputs[6] (nonpad_kv_seqlen) are left to the test.
OpSpec fullAttention(const FullCase& c, std::mt19937& rng) {
  OpSpec s = attention(AttnCase{.t = c.t, .B = c.B, .Hq = c.Hq, .Hkv = c.Hkv, .Sq = c.Sq, .Skv = c.Skv, .D = c.D,
                                .Dv = c.Dv, .causal = c.causal, .threeD = c.threeD},
                       rng);
  s.opset = 24;
  s.inputs.resize(7);
  if (c.Tp > 0) {
    s.inputs[4] = randomTensor(c.t, {c.B, c.Hkv, c.Tp, c.D}, rng);
    s.inputs[5] = randomTensor(c.t, {c.B, c.Hkv, c.Tp, c.Dv}, rng);
  }
  s.numOutputs = c.outputs;
  if (c.qkMode) s.attrs.set("qk_matmul_output_mode", AttrValue(c.qkMode));
  if (c.softcap != 0) s.attrs.set("softcap", AttrValue(c.softcap));
  if (c.softmaxPrecision) s.attrs.set("softmax_precision", AttrValue(c.softmaxPrecision));
  return s;
}

Tensor nonpadLengths(std::vector<int64_t> v) {
  Tensor n = Tensor::allocate(DType::kInt64, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) n.data<int64_t>()[i] = v[i];
  return n;
}

// The reference's rounding is reproduced, so only float sums differ in order: tighter than tolFor.
double fullTol(DType t) { return t == DType::kFloat32 ? 1e-5 : t == DType::kFloat16 ? 2e-3 : 1e-2; }

// Relative L2 over the elements where the reference is finite; the others (qk_matmul_output's
// -inf scores in mode 2) must be equal. "" when within tol.
std::string compareWithInf(const Tensor& got, const Tensor& want, double tol) {
  if (got.dtype() != want.dtype() || got.dims() != want.dims())
    return "got " + got.describe() + ", expected " + want.describe();
  double num = 0, den = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double g = got.doubleAt(i), w = want.doubleAt(i);
    if (!std::isfinite(w)) {
      if (!(g == w || (std::isnan(g) && std::isnan(w))))
        return "element " + std::to_string(i) + " is " + std::to_string(g) + ", expected " + std::to_string(w);
      continue;
    }
    num += (g - w) * (g - w);
    den += w * w;
  }
  const double e = den == 0 ? std::sqrt(num) : std::sqrt(num / den);
  return e <= tol ? "" : "relative L2 " + std::to_string(e) + " over " + std::to_string(tol);
}

// The generic tactic (forced, and as the builder's choice) matches the CPU reference on every
// output, present K/V bit for bit; the flash and cuDNN tactics refuse the layer.
void expectFullMatchesCpu(OpSpec s, double tol) {
  while (!s.inputs.empty() && !s.inputs.back().defined()) s.inputs.pop_back();  // omitted trailing inputs
  auto ref = runOp(s);
  ASSERT_TRUE(ref.ok()) << "CPU reference: " << ref.status().toString();
  for (const char* tactic : {"cuda_attention_generic", ""}) {
    GpuRunOptions o;
    o.tactic = tactic;
    auto got = runOpCuda(s, o);
    const std::string label = *tactic ? tactic : "<chosen>";
    ASSERT_TRUE(got.ok()) << label << ": " << got.status().toString();
    ASSERT_EQ(got->size(), ref->size()) << label;
    for (size_t i = 0; i < ref->size(); ++i) {
      const Tensor &a = (*got)[i], &b = (*ref)[i];
      if (i == 1 || i == 2) {  // present_key/present_value: copies
        ASSERT_EQ(a.dims(), b.dims()) << label << " output " << i;
        EXPECT_EQ(std::memcmp(a.raw(), b.raw(), b.nbytes()), 0) << label << " output " << i << " differs";
        continue;
      }
      const std::string d = compareWithInf(a, b, tol);
      EXPECT_TRUE(d.empty()) << label << " output " << i << ": " << d;
    }
  }
  for (const std::string& tactic : cudaTacticsFor("Attention")) {
    if (tactic == "cuda_attention_generic") continue;
    GpuRunOptions o;
    o.tactic = tactic;
    auto r = runOpCuda(s, o);
    EXPECT_FALSE(r.ok()) << tactic << " took a layer only cuda_attention_generic runs";
    if (!r.ok()) EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << tactic << ": " << r.status().toString();
  }
}

std::string describe(const FullCase& c) {
  return std::string(dtypeName(c.t)) + (c.threeD ? " 3-D" : " 4-D") + " B " + std::to_string(c.B) + " heads " +
         std::to_string(c.Hq) + "/" + std::to_string(c.Hkv) + " Sq " + std::to_string(c.Sq) + " past " +
         std::to_string(c.Tp) + " new " + std::to_string(c.Skv) + " D " + std::to_string(c.D) + "/" +
         std::to_string(c.Dv) + " causal " + std::to_string(c.causal) + " outputs " + std::to_string(c.outputs) +
         " mode " + std::to_string(c.qkMode) + " softcap " + std::to_string(c.softcap);
}

// present = concat(past, new) and attention over all T keys: 3-D and 4-D, GQA, causal (offset by
// the past length), with masks over T keys or shorter ones (padded with -inf).
TEST(CudaAttentionFull, PastAndPresent) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(31);
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
    for (bool threeD : {false, true})
      for (int causal : {0, 1}) {
        const FullCase c{.t = t, .causal = causal, .threeD = threeD};
        SCOPED_TRACE(describe(c));
        expectFullMatchesCpu(fullAttention(c, rng), fullTol(t));
        OpSpec m = fullAttention(c, rng);
        m.inputs[3] = randomTensor(t, {c.Sq, c.T()}, rng, -2, 2);
        expectFullMatchesCpu(m, fullTol(t));
        OpSpec b = fullAttention(c, rng);
        b.inputs[3] = boolMask({c.B, 1, c.Sq, c.T() - 2}, 0.8, rng);
        expectFullMatchesCpu(b, fullTol(t));
      }
  for (DType t : {DType::kFloat32, DType::kFloat16})
    for (const FullCase& c : {FullCase{.t = t, .Dv = 10},                         // V head size of its own
                              FullCase{.t = t, .outputs = 1},                      // past read, no present
                              FullCase{.t = t, .Hq = 3, .Hkv = 3, .Sq = 1, .Skv = 1, .Tp = 40, .causal = 1},  // decode
                              FullCase{.t = t, .B = 1, .Hq = 2, .Hkv = 1, .Sq = 2, .Skv = 3, .Tp = 4, .D = 256,
                                       .Dv = 256, .causal = 1},                    // the largest head size
                              FullCase{.t = t, .B = 1, .Hq = 2, .Hkv = 1, .Sq = 3, .Skv = 5, .Tp = 1100, .D = 16,
                                       .Dv = 8, .causal = 1, .threeD = true}}) {  // rows past the score cache
      SCOPED_TRACE(describe(c));
      expectFullMatchesCpu(fullAttention(c, rng), fullTol(t));
    }
}

// qk_matmul_output in each mode, with a boolean mask (mode 2 holds -inf), causal, softcap, past.
TEST(CudaAttentionFull, QkMatmulOutputModes) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(32);
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
    for (int mode = 0; mode < 4; ++mode)
      for (float softcap : {0.0f, 2.5f}) {
        const FullCase c{.t = t, .causal = mode % 2, .outputs = 4, .qkMode = mode, .softcap = softcap};
        SCOPED_TRACE(describe(c));
        OpSpec s = fullAttention(c, rng);
        s.inputs[3] = boolMask({c.B, 1, c.Sq, c.T()}, 0.7, rng);
        expectFullMatchesCpu(s, fullTol(t));
      }
  for (DType t : {DType::kFloat32, DType::kFloat16}) {
    // No past, a float mask, 3-D; and more keys than the score cache holds.
    for (const FullCase& c : {FullCase{.t = t, .Tp = 0, .threeD = true, .outputs = 4, .qkMode = 2},
                              FullCase{.t = t, .B = 1, .Hq = 4, .Hkv = 2, .Sq = 2, .Skv = 9, .Tp = 1030,
                                       .outputs = 4, .qkMode = 3}}) {
      SCOPED_TRACE(describe(c));
      OpSpec s = fullAttention(c, rng);
      s.inputs[3] = randomTensor(t, {c.Hq, c.Sq, c.T()}, rng, -3, 3);
      expectFullMatchesCpu(s, fullTol(t));
    }
  }
}

// softcap before the mask: -inf mask entries stay -inf; with and without a cache, 3-D GQA, causal.
TEST(CudaAttentionFull, Softcap) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(33);
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    for (const FullCase& c : {FullCase{.t = t, .Tp = 0, .outputs = 1, .softcap = 2.0f},
                              FullCase{.t = t, .causal = 1, .threeD = true, .softcap = 0.5f},
                              FullCase{.t = t, .Dv = 10, .outputs = 1, .softcap = 3.0f}}) {
      SCOPED_TRACE(describe(c));
      expectFullMatchesCpu(fullAttention(c, rng), fullTol(t));
    }
    const FullCase c{.t = t, .Tp = 0, .outputs = 1, .softcap = 0.5f};
    SCOPED_TRACE(describe(c) + " -inf mask");
    OpSpec s = fullAttention(c, rng);
    Tensor m = randomTensor(DType::kFloat32, {c.Sq, c.T()}, rng, -1, 1);
    for (int64_t i = 0; i < m.numel(); i += 3) m.data<float>()[i] = -INFINITY;
    s.inputs[3] = m;
    expectFullMatchesCpu(s, fullTol(t));
  }
}

// nonpad_kv_seqlen (opset 24, no past): keys from nonpad[b] on are padding, and causal is aligned
// to nonpad[b] - Sq; lengths under Sq mask whole rows (zeros), 0 masks the batch entirely.
TEST(CudaAttentionFull, NonpadKvSeqlen) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(34);
  for (DType t : {DType::kFloat32, DType::kFloat16})
    for (int causal : {0, 1})
      for (const std::vector<int64_t>& lens : std::vector<std::vector<int64_t>>{{9, 6}, {4, 0}, {12, 9}}) {
        const FullCase c{.t = t, .Skv = 9, .Tp = 0, .causal = causal, .outputs = 1};
        SCOPED_TRACE(describe(c) + " nonpad " + std::to_string(lens[0]) + "," + std::to_string(lens[1]));
        OpSpec s = fullAttention(c, rng);
        s.inputs[6] = nonpadLengths(lens);
        expectFullMatchesCpu(s, fullTol(t));
        // With a boolean mask and the qk output (mode 2: the padding's -inf; mode 3: zero rows).
        for (int mode : {2, 3}) {
          FullCase q = c;
          q.outputs = 4;
          q.qkMode = mode;
          OpSpec m = fullAttention(q, rng);
          m.inputs[3] = boolMask({c.B, 1, c.Sq, c.T()}, 0.8, rng);
          m.inputs[6] = nonpadLengths(lens);
          expectFullMatchesCpu(m, fullTol(t));
        }
      }
  for (DType t : {DType::kFloat32, DType::kFloat16}) {
    // A GQA decode step over a padded cache; and a short 4-D mask with its own V head size.
    const FullCase d{.t = t, .Hq = 4, .Hkv = 2, .Sq = 1, .Skv = 8, .Tp = 0, .causal = 1, .outputs = 1};
    SCOPED_TRACE(describe(d));
    OpSpec s = fullAttention(d, rng);
    s.inputs[6] = nonpadLengths({5, 8});
    expectFullMatchesCpu(s, fullTol(t));
    const FullCase p{.t = t, .Hq = 3, .Hkv = 3, .Sq = 4, .Skv = 6, .Tp = 0, .D = 8, .Dv = 10, .outputs = 1};
    OpSpec m = fullAttention(p, rng);
    m.inputs[3] = randomTensor(t, {p.B, p.Hq, p.Sq, 4}, rng, -2, 2);
    m.inputs[6] = nonpadLengths({6, 3});
    expectFullMatchesCpu(m, fullTol(t));
  }
}

// Rows the mask covers entirely give zeros in Y and in the mode-3 output; softmax_precision rounds
// the softmax to its type (float16 I/O in float; float32 I/O in float16 or bfloat16).
TEST(CudaAttentionFull, FullyMaskedRowsAndSoftmaxPrecision) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(35);
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    const FullCase c{.t = t, .outputs = 4, .qkMode = 3};
    SCOPED_TRACE(describe(c));
    OpSpec s = fullAttention(c, rng);
    Tensor m = boolMask({c.Sq, c.T()}, 0.6, rng);
    for (int64_t j = 0; j < c.T(); ++j) m.data<bool>()[1 * c.T() + j] = m.data<bool>()[3 * c.T() + j] = false;
    s.inputs[3] = m;
    expectFullMatchesCpu(s, fullTol(t));
  }
  for (auto [t, precision] : std::vector<std::pair<DType, int64_t>>{
           {DType::kFloat16, 1}, {DType::kBFloat16, 1}, {DType::kFloat32, 10}, {DType::kFloat32, 16},
           {DType::kFloat16, 16}}) {
    const FullCase c{.t = t, .causal = 1, .outputs = 4, .qkMode = 3, .softmaxPrecision = precision};
    SCOPED_TRACE(describe(c) + " softmax_precision " + std::to_string(precision));
    OpSpec s = fullAttention(c, rng);
    s.inputs[3] = boolMask({c.Sq, c.T()}, 0.8, rng);
    // float32 I/O rounding the softmax to 16 bits: the result carries that rounding.
    expectFullMatchesCpu(s, precision == 10 ? 2e-3 : precision == 16 ? 1e-2 : fullTol(t));
    // Without a cache or any other extra: softmax_precision alone (where it rounds unlike the I/O type).
    if (t == DType::kFloat32 || precision == 16) {
      OpSpec p = fullAttention(FullCase{.t = t, .Tp = 0, .outputs = 1, .softmaxPrecision = precision}, rng);
      expectFullMatchesCpu(p, precision == 10 ? 2e-3 : 1e-2);
    }
  }
}

// Sliding windows (left/right of the causal frontier, offset by the past) and masks of the other
// types ONNX allows (integers and float64, converted to additive values).
TEST(CudaAttentionFull, WindowsAndMaskTypes) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(36);
  for (DType t : {DType::kFloat32, DType::kFloat16}) {
    for (auto [left, right, causal] : std::vector<std::tuple<int64_t, int64_t, int>>{{2, -1, 1}, {3, 1, 0}, {-1, 0, 0}}) {
      const FullCase c{.t = t, .causal = causal};
      SCOPED_TRACE(describe(c) + " window " + std::to_string(left) + "/" + std::to_string(right));
      OpSpec s = fullAttention(c, rng);
      s.opset = 25;
      s.attrs.set("left_window_size", AttrValue(left));
      s.attrs.set("right_window_size", AttrValue(right));
      expectFullMatchesCpu(s, fullTol(t));
    }
    for (DType mt : {DType::kInt64, DType::kInt8, DType::kUInt8, DType::kFloat64}) {
      const FullCase c{.t = t, .Tp = 0, .outputs = 1};
      SCOPED_TRACE(describe(c) + " mask " + std::string(dtypeName(mt)));
      OpSpec s = fullAttention(c, rng);
      s.inputs[3] = randomTensor(mt, {c.B, 1, c.Sq, c.T()}, rng, mt == DType::kUInt8 ? 0 : -3, 3);
      expectFullMatchesCpu(s, fullTol(t));
    }
  }
}

// The resident, wgmma, flash and cuDNN tactics refuse (kUnsupported) each feature only the full kernel implements,
// on a layer they would otherwise take (float16, head size 64); the generic tactic runs it.
TEST(CudaAttentionFull, FlashRefusesWhatOnlyTheFullKernelRuns) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(37);
  const FullCase base{.t = DType::kFloat16, .B = 1, .Hq = 4, .Hkv = 2, .Sq = 16, .Skv = 16, .Tp = 0, .D = 64,
                      .Dv = 64, .outputs = 1};
  std::vector<std::pair<std::string, OpSpec>> cases;
  FullCase past = base;
  past.Tp = 8;
  cases.emplace_back("past", fullAttention(past, rng));
  FullCase present = base;
  present.outputs = 3;
  cases.emplace_back("present", fullAttention(present, rng));
  FullCase qk = base;
  qk.outputs = 4;
  cases.emplace_back("qk_matmul_output", fullAttention(qk, rng));
  FullCase cap = base;
  cap.softcap = 4.0f;
  cases.emplace_back("softcap", fullAttention(cap, rng));
  FullCase prec = base;
  prec.softmaxPrecision = 16;
  cases.emplace_back("softmax_precision", fullAttention(prec, rng));
  OpSpec nonpad = fullAttention(base, rng);
  nonpad.inputs[6] = nonpadLengths({11});
  cases.emplace_back("nonpad_kv_seqlen", nonpad);
  OpSpec intMask = fullAttention(base, rng);
  intMask.inputs[3] = randomTensor(DType::kInt32, {base.Sq, base.T()}, rng, -2, 2);
  cases.emplace_back("int32 mask", intMask);
  for (auto& [what, s] : cases) {
    SCOPED_TRACE(what);
    OpSpec trimmed = s;
    while (!trimmed.inputs.back().defined()) trimmed.inputs.pop_back();
    for (const char* tactic : {"cuda_attention_resident", "cuda_attention_wgmma", "cuda_attention_flash"}) {
      if (std::string(tactic) == "cuda_attention_wgmma" && !hopperTacticSkipReason("Attention", "", tactic).empty())
        continue;
      GpuRunOptions o;
      o.tactic = tactic;
      auto r = runOpCuda(trimmed, o);
      ASSERT_FALSE(r.ok()) << tactic;
      EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << tactic << ": " << r.status().toString();
    }
    expectFullMatchesCpu(s, fullTol(base.t));
  }
}

TEST(CudaAttentionRegistry, TacticsAreRegistered) {
  const auto t = cudaTacticsFor("Attention");
#if KILN_HAVE_CUDNN_FRONTEND
  ASSERT_EQ(t.size(), 5u);
  EXPECT_EQ(t[0], "cuda_attention_resident");
  EXPECT_EQ(t[1], "cuda_attention_wgmma");
  EXPECT_EQ(t[2], "cuda_attention_flash");
  EXPECT_EQ(t[3], "cuda_attention_cudnn");
  EXPECT_EQ(t[4], "cuda_attention_generic");
  EXPECT_EQ(cudaTacticsFor("PackedAttention", "kiln")[3], "cuda_packed_attention_cudnn");
#else
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0], "cuda_attention_resident");
  EXPECT_EQ(t[1], "cuda_attention_wgmma");
  EXPECT_EQ(t[2], "cuda_attention_flash");
  EXPECT_EQ(t[3], "cuda_attention_generic");
#endif
  EXPECT_EQ(cudaTacticsFor("PackedAttention", "kiln")[0], "cuda_packed_attention_resident");
  EXPECT_EQ(cudaTacticsFor("PackedAttention", "kiln")[1], "cuda_packed_attention_wgmma");
}

#if KILN_HAVE_CUDNN_FRONTEND
// Each variant (cuDNN's v-th execution plan, clamped to the plans offered) runs in cuDNN and
// matches the CPU; the number of plans is printed (what the builder's timing chooses among).
TEST(CudaAttentionCudnn, EveryPlanVariantMatchesCpu) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(23);
  for (int v = 0; v < cuda::kCudnnAttentionVariants; ++v) {
    SCOPED_TRACE("variant " + std::to_string(v));
    GpuRunOptions o;
    o.tactic = "cuda_attention_cudnn:" + std::to_string(v);
    const uint64_t before = cuda::cudnnAttentionExecutions();
    expectGpuMatchesCpu(
        attention(AttnCase{.t = DType::kFloat16, .B = 2, .Hq = 12, .Hkv = 12, .Sq = 128, .Skv = 128, .D = 64, .Dv = 64},
                  rng),
        tolFor(DType::kFloat16), o);
    EXPECT_GT(cuda::cudnnAttentionExecutions(), before) << cuda::cudnnAttentionLastFallbackReason();
  }
  std::printf("[ INFO ] cuDNN SDPA execution plans for B 2, H 12, S 128, D 64 fp16: %lld\n",
              static_cast<long long>(cuda::cudnnAttentionLastPlanCount()));
}

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
