// Attention against a naive double-precision reference written from the ONNX spec: 3-D/4-D
// layouts, MHA/GQA/MQA, bool/float masks of every rank with broadcasting and short last dims,
// causal and sliding-window frontiers, KV cache (past/present), nonpad_kv_seqlen, softcap, scale,
// every qk_matmul_output_mode, fully masked rows, multi-block sizes, dtypes, symbolic inference
// and error cases.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>

#include "ir/graph.h"
#include "ir/infer.h"
#include "ir/op_registry.h"
#include "op_test_util.h"

namespace kiln::testing {
namespace {

struct AttnCase {
  int64_t B = 2, Hq = 4, Hkv = 2, Sq = 5, Skv = 7, D = 9, Dv = 11, past = 0;
  bool in3d = false;
  bool causal = false;
  std::optional<Dims> mask;
  bool boolMask = false;
  bool nonpad = false;
  float softcap = 0;
  std::optional<float> scale;
  int mode = 0;
  bool qkOut = false;
  int64_t left = -1, right = -1;
  DType dtype = DType::kFloat32;
  int opset = 24;
};

struct AttnInputs {
  Tensor q, k, v, mask, pastK, pastV, nonpad;
};

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

AttnInputs makeInputs(const AttnCase& c, std::mt19937& rng) {
  AttnInputs in;
  const DType t = c.dtype;
  if (c.in3d) {
    in.q = randomTensor(t, {c.B, c.Sq, c.Hq * c.D}, rng, -2, 2);
    in.k = randomTensor(t, {c.B, c.Skv, c.Hkv * c.D}, rng, -2, 2);
    in.v = randomTensor(t, {c.B, c.Skv, c.Hkv * c.Dv}, rng, -2, 2);
  } else {
    in.q = randomTensor(t, {c.B, c.Hq, c.Sq, c.D}, rng, -2, 2);
    in.k = randomTensor(t, {c.B, c.Hkv, c.Skv, c.D}, rng, -2, 2);
    in.v = randomTensor(t, {c.B, c.Hkv, c.Skv, c.Dv}, rng, -2, 2);
  }
  if (c.past) {
    in.pastK = randomTensor(t, {c.B, c.Hkv, c.past, c.D}, rng, -2, 2);
    in.pastV = randomTensor(t, {c.B, c.Hkv, c.past, c.Dv}, rng, -2, 2);
  }
  if (c.mask) {
    if (c.boolMask) {
      in.mask = Tensor::allocate(DType::kBool, *c.mask);
      std::bernoulli_distribution keep(0.7);
      for (int64_t i = 0; i < in.mask.numel(); ++i) in.mask.data<bool>()[i] = keep(rng);
    } else {
      in.mask = randomTensor(DType::kFloat32, *c.mask, rng, -2, 1);  // masks may have any numeric type
      std::bernoulli_distribution drop(0.15);
      for (int64_t i = 0; i < in.mask.numel(); ++i)
        if (drop(rng)) in.mask.data<float>()[i] = -std::numeric_limits<float>::infinity();
    }
  }
  if (c.nonpad) {
    std::vector<int64_t> n(c.B);
    std::uniform_int_distribution<int64_t> u(0, c.Skv);
    for (auto& x : n) x = u(rng);
    n[0] = c.Skv;  // one full row
    in.nonpad = Tensor::fromVector<int64_t>(n, {c.B});
  }
  return in;
}

// Element accessors in the (batch, head, seq, dim) view of 3-D or 4-D inputs.
double at(const Tensor& x, bool in3d, int64_t heads, int64_t b, int64_t h, int64_t s, int64_t d, int64_t hd) {
  const Dims& xd = x.dims();
  if (in3d) return x.doubleAt((b * xd[1] + s) * xd[2] + h * hd + d);
  return x.doubleAt(((b * heads + h) * xd[2] + s) * hd + d);
}

struct AttnOut {
  std::vector<double> y, presentK, presentV, qk;
};

AttnOut naiveAttention(const AttnCase& c, const AttnInputs& in) {
  const int64_t T = c.past + c.Skv, group = c.Hq / c.Hkv;
  const double scale = c.scale ? double(*c.scale) : 1.0 / std::sqrt(double(c.D));
  AttnOut o;
  o.y.assign(c.B * c.Hq * c.Sq * c.Dv, 0.0);
  o.qk.assign(c.B * c.Hq * c.Sq * T, 0.0);
  o.presentK.assign(c.B * c.Hkv * T * c.D, 0.0);
  o.presentV.assign(c.B * c.Hkv * T * c.Dv, 0.0);
  auto kAt = [&](int64_t b, int64_t h, int64_t j, int64_t d) {
    return j < c.past ? in.pastK.doubleAt(((b * c.Hkv + h) * c.past + j) * c.D + d)
                      : at(in.k, c.in3d, c.Hkv, b, h, j - c.past, d, c.D);
  };
  auto vAt = [&](int64_t b, int64_t h, int64_t j, int64_t d) {
    return j < c.past ? in.pastV.doubleAt(((b * c.Hkv + h) * c.past + j) * c.Dv + d)
                      : at(in.v, c.in3d, c.Hkv, b, h, j - c.past, d, c.Dv);
  };
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.Hkv; ++h)
      for (int64_t j = 0; j < T; ++j) {
        for (int64_t d = 0; d < c.D; ++d) o.presentK[((b * c.Hkv + h) * T + j) * c.D + d] = kAt(b, h, j, d);
        for (int64_t d = 0; d < c.Dv; ++d) o.presentV[((b * c.Hkv + h) * T + j) * c.Dv + d] = vAt(b, h, j, d);
      }
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.Hq; ++h)
      for (int64_t i = 0; i < c.Sq; ++i) {
        const int64_t kh = h / group;
        const int64_t off = c.nonpad ? in.nonpad.data<int64_t>()[b] - c.Sq : c.past;
        std::vector<double> x(T), bias(T, 0.0);
        bool allMasked = true;
        for (int64_t j = 0; j < T; ++j) {
          double s = 0;
          for (int64_t d = 0; d < c.D; ++d) s += at(in.q, c.in3d, c.Hq, b, h, i, d, c.D) * kAt(b, kh, j, d);
          s *= scale;
          const double raw = s;
          if (c.softcap > 0) s = c.softcap * std::tanh(s / c.softcap);
          double bj = 0;
          if (c.mask) {
            const Dims& md = in.mask.dims();
            const int64_t full[4] = {b, h, i, j};
            if (j >= md[md.rank() - 1]) {
              bj = kNegInf;
            } else {
              int64_t idx = 0;
              for (int k = 0; k < md.rank(); ++k) idx = idx * md[k] + (md[k] == 1 ? 0 : full[4 - md.rank() + k]);
              bj = c.boolMask ? (in.mask.data<bool>()[idx] ? 0.0 : kNegInf) : in.mask.doubleAt(idx);
            }
          }
          if (c.causal && j > i + off) bj += kNegInf;
          if (c.left >= 0 && i + off - j > c.left) bj += kNegInf;
          if (c.right >= 0 && j - (i + off) > c.right) bj += kNegInf;
          if (c.nonpad && j >= in.nonpad.data<int64_t>()[b]) bj += kNegInf;
          bias[j] = bj;
          if (bj != kNegInf) allMasked = false;
          x[j] = s + bj;
          double& q = o.qk[((b * c.Hq + h) * c.Sq + i) * T + j];
          q = c.mode == 0 ? raw : (c.mode == 1 ? s : x[j]);
        }
        double m = kNegInf, sum = 0;
        for (double v : x) m = std::max(m, v);
        std::vector<double> p(T, 0.0);
        if (m != kNegInf && !allMasked) {
          for (int64_t j = 0; j < T; ++j) sum += (p[j] = std::exp(x[j] - m));
          for (double& v : p) v /= sum;
        }
        if (c.mode == 3)
          for (int64_t j = 0; j < T; ++j) o.qk[((b * c.Hq + h) * c.Sq + i) * T + j] = p[j];
        for (int64_t e = 0; e < c.Dv; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < T; ++j) acc += p[j] * vAt(b, kh, j, e);
          // Y in the input layout.
          const int64_t yi = c.in3d ? (b * c.Sq + i) * c.Hq * c.Dv + h * c.Dv + e : ((b * c.Hq + h) * c.Sq + i) * c.Dv + e;
          o.y[yi] = acc;
        }
      }
  return o;
}

OpSpec attentionSpec(const AttnCase& c, const AttnInputs& in) {
  OpSpec s{.op = "Attention", .opset = c.opset};
  s.inputs = {in.q, in.k, in.v, in.mask, in.pastK, in.pastV, in.nonpad};
  while (!s.inputs.empty() && !s.inputs.back().defined()) s.inputs.pop_back();
  if (c.in3d) {
    s.attrs.set("q_num_heads", AttrValue(c.Hq));
    s.attrs.set("kv_num_heads", AttrValue(c.Hkv));
  }
  if (c.causal) s.attrs.set("is_causal", AttrValue(int64_t{1}));
  if (c.softcap) s.attrs.set("softcap", AttrValue(c.softcap));
  if (c.scale) s.attrs.set("scale", AttrValue(*c.scale));
  if (c.mode) s.attrs.set("qk_matmul_output_mode", AttrValue(int64_t{c.mode}));
  if (c.left >= 0) s.attrs.set("left_window_size", AttrValue(c.left));
  if (c.right >= 0) s.attrs.set("right_window_size", AttrValue(c.right));
  s.numOutputs = c.qkOut ? 4 : (c.past ? 3 : 1);
  return s;
}

double maxErr(const Tensor& got, const std::vector<double>& want, double* maxRef = nullptr) {
  EXPECT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  double m = 0, r = 0;
  for (int64_t i = 0; i < got.numel() && i < static_cast<int64_t>(want.size()); ++i) {
    const double g = got.doubleAt(i), w = want[i];
    if (std::isinf(w) && g == w) continue;
    const double d = std::fabs(g - w);
    if (!(d <= m)) m = d;
    r = std::max(r, std::fabs(w));
  }
  if (maxRef) *maxRef = r;
  return m;
}

void checkCase(const AttnCase& c, double tol, unsigned seed = 11) {
  std::mt19937 rng(seed);
  AttnInputs in = makeInputs(c, rng);
  auto r = runOp(attentionSpec(c, in));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  AttnOut want = naiveAttention(c, in);
  EXPECT_LE(maxErr((*r)[0], want.y), tol) << "Y";
  if (r->size() >= 3) {
    EXPECT_EQ(maxErr((*r)[1], want.presentK), 0.0) << "present_key";
    EXPECT_EQ(maxErr((*r)[2], want.presentV), 0.0) << "present_value";
  }
  if (r->size() == 4) EXPECT_LE(maxErr((*r)[3], want.qk), tol) << "qk_matmul_output mode " << c.mode;
}

// kiln:PackedAttention (the optimizer's merged Q/K/V projection) is ONNX Attention (3-D) on the
// column blocks [Hq*D | Hkv*D | Hkv*D] of its input: GQA, a float mask, causal, odd lengths.
TEST(PackedAttention, EqualsAttentionOnTheColumnBlocks) {
  std::mt19937 rng(41);
  for (int causal : {0, 1}) {
    const int64_t B = 2, S = 9, hq = 4, hkv = 2, d = 8, w = (hq + 2 * hkv) * d;
    Tensor qkv = randomTensor(DType::kFloat32, {B, S, w}, rng);
    Tensor mask = randomTensor(DType::kFloat32, {B, 1, S, S}, rng, -3, 0);
    auto block = [&](int64_t from, int64_t width) {
      Tensor t = Tensor::allocate(DType::kFloat32, {B, S, width});
      for (int64_t r = 0; r < B * S; ++r)
        for (int64_t c = 0; c < width; ++c) t.data<float>()[r * width + c] = qkv.data<float>()[r * w + from + c];
      return t;
    };
    AttrMap a;
    a.set("q_num_heads", AttrValue(hq));
    a.set("kv_num_heads", AttrValue(hkv));
    a.set("is_causal", AttrValue(int64_t{causal}));
    OpSpec packed{.op = "PackedAttention", .attrs = a, .inputs = {qkv, mask}, .opset = 1, .domain = "kiln"};
    OpSpec plain{.op = "Attention", .attrs = a,
                 .inputs = {block(0, hq * d), block(hq * d, hkv * d), block((hq + hkv) * d, hkv * d), mask}, .opset = 23};
    auto got = runOp(packed);
    auto want = runOp(plain);
    ASSERT_TRUE(got.ok()) << got.status().toString();
    ASSERT_TRUE(want.ok()) << want.status().toString();
    EXPECT_EQ((*got)[0].dims(), (Dims{B, S, hq * d}));
    EXPECT_LE(maxAbsDiff((*got)[0], (*want)[0]), 1e-6) << "causal " << causal;
  }
}

TEST(Attention, FourDMatchesNaiveAcrossHeadLayouts) {
  for (int64_t hkv : {4, 2, 1}) {  // MHA, GQA, MQA
    AttnCase c;
    c.Hkv = hkv;
    SCOPED_TRACE(hkv);
    checkCase(c, 1e-5);
  }
}

TEST(Attention, ThreeDWithPastAndPresentMatchesNaive) {
  AttnCase c;
  c.in3d = true;
  c.Hq = 6, c.Hkv = 3, c.past = 4;
  checkCase(c, 1e-5);
  c.causal = true;  // bottom-right aligned with the past length
  checkCase(c, 1e-5);
}

TEST(Attention, MasksOfEveryRankBroadcastAndPad) {
  const int64_t T = 7;
  const std::vector<Dims> shapes = {{T}, {5, T}, {5, 4}, {1, 5, T}, {4, 1, T}, {2, 1, 5, T}, {1, 4, 5, 3}, {2, 4, 1, T}};
  for (bool isBool : {false, true})
    for (const Dims& d : shapes) {
      AttnCase c;
      c.mask = d;
      c.boolMask = isBool;
      SCOPED_TRACE(d.toString() + (isBool ? " bool" : " float"));
      checkCase(c, 1e-5);
      c.causal = true;
      checkCase(c, 1e-5);
    }
}

TEST(Attention, NonpadKvSeqlenWithCausalOffsets) {
  AttnCase c;
  c.nonpad = true;
  c.Sq = 4, c.Skv = 9;
  for (bool causal : {false, true}) {
    c.causal = causal;
    for (unsigned seed : {1u, 2u, 3u}) checkCase(c, 1e-5, seed);  // includes negative offsets
  }
  c.mask = Dims{2, 1, 4, 6};  // shorter than Skv: padded with -inf
  c.boolMask = true;
  checkCase(c, 1e-5);
}

TEST(Attention, SlidingWindowOpset25) {
  AttnCase c;
  c.opset = 25;
  c.Sq = 6, c.Skv = 6, c.past = 3;
  for (auto [l, rr] : std::vector<std::pair<int64_t, int64_t>>{{2, 0}, {2, 1}, {-1, 1}, {0, -1}}) {
    c.left = l, c.right = rr;
    SCOPED_TRACE(fmt::format("{} {}", l, rr));
    checkCase(c, 1e-5);
    c.causal = true;
    checkCase(c, 1e-5);
    c.causal = false;
  }
}

TEST(Attention, QkOutputModesWithSoftcapAndScale) {
  for (int mode = 0; mode < 4; ++mode) {
    AttnCase c;
    c.qkOut = true;
    c.mode = mode;
    c.softcap = 1.5f;
    c.scale = 0.37f;
    c.past = 2;
    c.mask = Dims{5, 9};
    SCOPED_TRACE(mode);
    checkCase(c, 1e-5);
  }
}

TEST(Attention, FullyMaskedRowsGiveZeros) {
  AttnCase c;
  c.qkOut = true;
  c.mode = 3;
  c.mask = Dims{5, 7};
  c.boolMask = true;
  c.past = 0;
  std::mt19937 rng(5);
  AttnInputs in = makeInputs(c, rng);
  for (int64_t j = 0; j < 7; ++j) in.mask.data<bool>()[2 * 7 + j] = false;  // row 2 fully masked
  in.q.data<float>()[0] = std::numeric_limits<float>::infinity();          // and a poisoned score row
  auto r = runOp(attentionSpec(c, in));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  const Tensor &y = (*r)[0], &p = (*r)[3];
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.Hq; ++h) {
      for (int64_t e = 0; e < c.Dv; ++e) EXPECT_EQ(y.data<float>()[((b * c.Hq + h) * c.Sq + 2) * c.Dv + e], 0.0f);
      for (int64_t j = 0; j < 7; ++j) EXPECT_EQ(p.data<float>()[((b * c.Hq + h) * c.Sq + 2) * 7 + j], 0.0f);
    }
  // A fully causal-masked leading row (negative nonpad offset) is zero too, never NaN.
  AttnCase n;
  n.nonpad = true;
  n.causal = true;
  std::mt19937 rng2(6);
  AttnInputs in2 = makeInputs(n, rng2);
  in2.nonpad.data<int64_t>()[1] = 1;  // offset 1 - Sq < 0: rows 0..Sq-2 see nothing
  auto r2 = runOp(attentionSpec(n, in2));
  ASSERT_TRUE(r2.ok()) << r2.status().toString();
  for (int64_t i = 0; i < (*r2)[0].numel(); ++i) ASSERT_FALSE(std::isnan((*r2)[0].data<float>()[i]));
  EXPECT_LE(maxErr((*r2)[0], naiveAttention(n, in2).y), 1e-5);
}

TEST(Attention, LongSequencesSplitIntoBlocks) {
  AttnCase c;
  c.B = 2, c.Hq = 3, c.Hkv = 3, c.Sq = 37, c.Skv = 1500, c.D = 16, c.Dv = 8;
  c.causal = true;
  c.mask = Dims{37, 1500};
  checkCase(c, 1e-5);
  AttnCase d;  // many small heads: parallel tasks
  d.B = 3, d.Hq = 8, d.Hkv = 2, d.Sq = 33, d.Skv = 65, d.D = 64, d.Dv = 64, d.past = 31;
  d.in3d = true;
  checkCase(d, 1e-5);
}

TEST(Attention, DecodeStepsMatchNaive) {
  // One or two query rows take the direct (non-GEMM) path.
  for (int64_t sq : {1, 2}) {
    AttnCase c;
    c.Sq = sq, c.Skv = sq, c.past = 23, c.Hq = 8, c.Hkv = 2, c.D = 20, c.Dv = 12;
    c.in3d = true;
    c.causal = true;
    SCOPED_TRACE(sq);
    checkCase(c, 1e-5);
    c.dtype = DType::kFloat16;
    checkCase(c, 2e-2);
    AttnCase n;
    n.Sq = sq, n.Skv = 17, n.nonpad = true, n.causal = true, n.qkOut = true, n.mode = 3;
    checkCase(n, 1e-5);
  }
}

TEST(Attention, LargeLogitsAndNaNRows) {
  // Scores spanning about +-150 exercise the vectorized exp over its whole range (and underflow).
  AttnCase c;
  c.scale = 12.0f;
  c.Skv = 29;  // not a multiple of the vector width
  checkCase(c, 1e-4);
  // A NaN in one query row poisons that row only (the reference's softmax propagates it).
  std::mt19937 rng(8);
  AttnInputs in = makeInputs(c, rng);
  in.q.data<float>()[3] = std::numeric_limits<float>::quiet_NaN();  // (b 0, h 0, i 0)
  auto r = runOp(attentionSpec(c, in));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  const Tensor& y = (*r)[0];
  for (int64_t e = 0; e < c.Dv; ++e) EXPECT_TRUE(std::isnan(y.data<float>()[e]));
  for (int64_t i = c.Dv; i < y.numel(); ++i) ASSERT_FALSE(std::isnan(y.data<float>()[i])) << i;
}

TEST(Attention, DTypes) {
  AttnCase c;
  c.mask = Dims{5, 7};
  c.past = 3;
  c.dtype = DType::kFloat64;
  checkCase(c, 1e-12);
  c.mask.reset();  // small floats: masks would need the same dtype; keep the others
  c.dtype = DType::kFloat16;
  checkCase(c, 2e-2);
  c.dtype = DType::kBFloat16;
  checkCase(c, 1e-1);
}

TEST(Attention, ErrorsAreReported) {
  std::mt19937 rng(3);
  auto t = [&](Dims d) { return randomTensor(DType::kFloat32, d, rng); };
  auto expectError = [](const OpSpec& s, StatusCode code, const char* text) {
    auto r = runOp(s);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), code) << r.status().toString();
    EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().toString();
  };
  expectError({.op = "Attention", .inputs = {t({2, 3, 8}), t({2, 3, 8}), t({2, 3, 8})}, .opset = 23},
              StatusCode::kInvalidArgument, "needs the q_num_heads");
  expectError({.op = "Attention", .inputs = {t({1, 3, 4, 8}), t({1, 2, 4, 8}), t({1, 2, 4, 8})}, .opset = 23},
              StatusCode::kInvalidArgument, "multiple of kv_num_heads");
  expectError({.op = "Attention", .inputs = {t({1, 2, 4, 8}), t({1, 2, 4, 6}), t({1, 2, 4, 8})}, .opset = 23},
              StatusCode::kInvalidArgument, "head sizes");
  expectError({.op = "Attention", .inputs = {t({1, 2, 4, 8}), t({1, 2, 5, 8}), t({1, 2, 5, 8}), t({3, 5})}, .opset = 23},
              StatusCode::kInvalidArgument, "does not broadcast");
  expectError({.op = "Attention", .inputs = {t({1, 2, 4, 8}), t({1, 2, 5, 8}), t({1, 2, 5, 8}), t({4, 6})}, .opset = 23},
              StatusCode::kInvalidArgument, "longer than the total");
  expectError({.op = "Attention", .inputs = {t({1, 2, 4, 8}), t({1, 2, 5, 8}), t({1, 2, 5, 8}), Tensor(), t({1, 2, 3, 8})},
               .opset = 23},
              StatusCode::kInvalidArgument, "past_key and past_value");
  expectError({.op = "Attention",
               .inputs = {t({1, 2, 4, 8}), t({1, 2, 5, 8}), t({1, 2, 5, 8}), Tensor(), t({1, 2, 3, 8}), t({1, 2, 3, 8}),
                          Tensor::fromVector<int64_t>({5}, {1})},
               .numOutputs = 3, .opset = 24},
              StatusCode::kInvalidArgument, "nonpad_kv_seqlen cannot be combined");
  OpSpec badMode{.op = "Attention", .inputs = {t({1, 2, 4, 8}), t({1, 2, 5, 8}), t({1, 2, 5, 8})}, .opset = 23};
  badMode.attrs.set("qk_matmul_output_mode", AttrValue(int64_t{7}));
  expectError(badMode, StatusCode::kInvalidArgument, "qk_matmul_output_mode");
  OpSpec mixed{.op = "Attention", .inputs = {t({1, 2, 4, 8}), t({1, 2, 5, 8}), randomTensor(DType::kFloat64, {1, 2, 5, 8}, rng)},
               .opset = 23};
  expectError(mixed, StatusCode::kUnsupported, "V of type float64");
}

TEST(Attention, SymbolicInference) {
  using namespace kiln::ir;
  Graph g;
  const Dim B = Dim::symbol("B"), S = Dim::symbol("S"), T = Dim::symbol("T"), P = Dim::symbol("P");
  Value* q = g.addInput("q", DType::kFloat32, Shape{B, Dim(8), S, Dim(64)});
  Value* k = g.addInput("k", DType::kFloat32, Shape{B, Dim(2), T, Dim(64)});
  Value* v = g.addInput("v", DType::kFloat32, Shape{B, Dim(2), T, Dim(32)});
  Value* pk = g.addInput("pk", DType::kFloat32, Shape{B, Dim(2), P, Dim(64)});
  Value* pv = g.addInput("pv", DType::kFloat32, Shape{B, Dim(2), P, Dim(32)});
  const OpDef* def = OpRegistry::global().find("", "Attention");
  AttrMap a;
  ASSERT_TRUE(checkAndFillAttributes(*def, a).ok());
  Node* n = g.addNode("Attention", "", 23, "attn", {q, k, v, nullptr, pk, pv}, {"y", "pk_out", "pv_out", "qk"}, a);
  g.setNodeDef(n, def);
  ASSERT_TRUE(inferNode(g, *n).ok());
  EXPECT_EQ(n->output(0)->shape(), (Shape{B, Dim(8), S, Dim(32)}));
  EXPECT_EQ(n->output(1)->shape(), (Shape{B, Dim(2), P + T, Dim(64)}));
  EXPECT_EQ(n->output(2)->shape(), (Shape{B, Dim(2), P + T, Dim(32)}));
  EXPECT_EQ(n->output(3)->shape(), (Shape{B, Dim(8), S, P + T}));

  // 3-D: hidden sizes split by the head attributes.
  const Dim H = Dim::symbol("H");
  Value* q3 = g.addInput("q3", DType::kFloat16, Shape{B, S, Dim(512)});
  Value* k3 = g.addInput("k3", DType::kFloat16, Shape{B, T, Dim(128)});
  Value* v3 = g.addInput("v3", DType::kFloat16, Shape{B, T, H});
  AttrMap a3;
  a3.set("q_num_heads", AttrValue(int64_t{8}));
  a3.set("kv_num_heads", AttrValue(int64_t{2}));
  ASSERT_TRUE(checkAndFillAttributes(*def, a3).ok());
  Node* n3 = g.addNode("Attention", "", 23, "attn3", {q3, k3, v3}, {"y3"}, a3);
  g.setNodeDef(n3, def);
  ASSERT_TRUE(inferNode(g, *n3).ok());
  EXPECT_EQ(n3->output(0)->shape(), (Shape{B, S, Dim(8) * Dim::floorDiv(H, Dim(2))}));
  EXPECT_EQ(n3->output(0)->dtype(), DType::kFloat16);
}

}  // namespace
}  // namespace kiln::testing
