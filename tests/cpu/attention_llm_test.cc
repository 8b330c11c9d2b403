// RotaryEmbedding, SwiGLU, TensorScatter, LinearAttention and CausalConvWithState against naive
// references written from the ONNX spec, at odd sizes, plus dtype coverage and error cases.
#include <gtest/gtest.h>

#include <cmath>

#include "op_test_util.h"

namespace kiln::testing {
namespace {

AttrMap attrs(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  AttrMap a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

void expectError(const OpSpec& s, StatusCode code, const std::string& text) {
  auto r = runOp(s);
  ASSERT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.status().code(), code) << r.status().toString();
  EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().toString();
}

// ---- RotaryEmbedding ----------------------------------------------------------------------------

// x viewed as (b, s, h, d) in either layout; caches indexed by position (or (b, s)).
std::vector<double> naiveRope(const Tensor& x, const Tensor& cosC, const Tensor& sinC, const Tensor* pos, bool is4d,
                              int64_t H, int64_t rot, bool interleaved) {
  const Dims& d = x.dims();
  const int64_t B = d[0], S = is4d ? d[2] : d[1], hd = is4d ? d[3] : d[2] / H, half = rot / 2;
  std::vector<double> y(x.numel());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t base = is4d ? ((b * H + h) * S + s) * hd : (b * S + s) * H * hd + h * hd;
        const int64_t row = pos ? pos->data<int64_t>()[b * S + s] : b * S + s;
        for (int64_t i = 0; i < hd; ++i) y[base + i] = x.doubleAt(base + i);
        for (int64_t i = 0; i < half; ++i) {
          const int64_t a = interleaved ? base + 2 * i : base + i, c = interleaved ? base + 2 * i + 1 : base + i + half;
          const double x1 = x.doubleAt(a), x2 = x.doubleAt(c);
          const double cv = cosC.doubleAt(row * half + i), sv = sinC.doubleAt(row * half + i);
          y[a] = cv * x1 - sv * x2;
          y[c] = sv * x1 + cv * x2;
        }
      }
  return y;
}

double maxErr(const Tensor& got, const std::vector<double>& want) {
  EXPECT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  double m = 0;
  for (int64_t i = 0; i < got.numel(); ++i) m = std::max(m, std::fabs(got.doubleAt(i) - want[i]));
  return m;
}

TEST(RotaryEmbedding, MatchesNaive) {
  std::mt19937 rng(4);
  const int64_t B = 2, S = 5, H = 3, hd = 10, maxPos = 13;
  for (bool is4d : {true, false})
    for (bool interleaved : {false, true})
      for (int64_t rotAttr : {0, 6})
        for (bool withPos : {true, false}) {
          const int64_t rot = rotAttr ? rotAttr : hd;
          Tensor x = is4d ? randomTensor(DType::kFloat32, {B, H, S, hd}, rng) : randomTensor(DType::kFloat32, {B, S, H * hd}, rng);
          Dims cd = withPos ? Dims{maxPos, rot / 2} : Dims{B, S, rot / 2};
          Tensor c = randomTensor(DType::kFloat32, cd, rng), sn = randomTensor(DType::kFloat32, cd, rng);
          Tensor pos = randomTensor(DType::kInt64, {B, S}, rng, 0, maxPos - 1);
          OpSpec spec{.op = "RotaryEmbedding",
                      .attrs = attrs({{"interleaved", AttrValue(int64_t{interleaved})},
                                      {"rotary_embedding_dim", AttrValue(rotAttr)}}),
                      .inputs = {x, c, sn},
                      .opset = 23};
          if (withPos) spec.inputs.push_back(pos);
          if (!is4d) spec.attrs.set("num_heads", AttrValue(H));
          auto r = runOp(spec);
          ASSERT_TRUE(r.ok()) << r.status().toString();
          EXPECT_LE(maxErr((*r)[0], naiveRope(x, c, sn, withPos ? &pos : nullptr, is4d, H, rot, interleaved)), 1e-6)
              << is4d << interleaved << rotAttr << withPos;
        }
}

TEST(RotaryEmbedding, Float16AndErrors) {
  std::mt19937 rng(5);
  Tensor x = randomTensor(DType::kFloat16, {1, 2, 3, 8}, rng);
  Tensor c = randomTensor(DType::kFloat16, {4, 4}, rng), s = randomTensor(DType::kFloat16, {4, 4}, rng);
  Tensor pos = Tensor::fromVector<int64_t>({0, 3, 1}, {1, 3});
  auto r = runOp({.op = "RotaryEmbedding", .inputs = {x, c, s, pos}, .opset = 23});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_LE(maxErr((*r)[0], naiveRope(x, c, s, &pos, true, 2, 8, false)), 5e-3);
  Tensor bad = Tensor::fromVector<int64_t>({0, 4, 1}, {1, 3});
  expectError({.op = "RotaryEmbedding", .inputs = {x, c, s, bad}, .opset = 23}, StatusCode::kInvalidArgument, "out of range");
  expectError({.op = "RotaryEmbedding", .attrs = attrs({{"rotary_embedding_dim", AttrValue(int64_t{5})}}),
               .inputs = {x, c, s, pos}, .opset = 23},
              StatusCode::kInvalidArgument, "must be even");
  expectError({.op = "RotaryEmbedding", .inputs = {randomTensor(DType::kFloat16, {1, 3, 16}, rng), c, s, pos}, .opset = 23},
              StatusCode::kInvalidArgument, "num_heads");
  expectError({.op = "RotaryEmbedding", .inputs = {x, randomTensor(DType::kFloat16, {4, 3}, rng), s, pos}, .opset = 23},
              StatusCode::kInvalidArgument, "rotary dim / 2");
}

// ---- SwiGLU -------------------------------------------------------------------------------------

TEST(SwiGLU, MatchesNaiveAndRejectsShapeMismatch) {
  std::mt19937 rng(6);
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16}) {
    Tensor a = randomTensor(t, {3, 7, 5}, rng, -4, 4), b = randomTensor(t, {3, 7, 5}, rng, -4, 4);
    auto r = runOp({.op = "SwiGLU", .attrs = attrs({{"alpha", AttrValue(1.7f)}}), .inputs = {a, b}, .opset = 28});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    std::vector<double> want(a.numel());
    for (int64_t i = 0; i < a.numel(); ++i) {
      const double x = a.doubleAt(i);
      want[i] = x / (1 + std::exp(-1.7 * x)) * b.doubleAt(i);
    }
    EXPECT_LE(maxErr((*r)[0], want), t == DType::kFloat16 ? 3e-2 : 1e-5) << dtypeName(t);
  }
  expectError({.op = "SwiGLU", .inputs = {randomTensor(DType::kFloat32, {3, 4}, rng), randomTensor(DType::kFloat32, {4}, rng)},
               .opset = 28},
              StatusCode::kInvalidArgument, "identical shapes");
}

// ---- TensorScatter ------------------------------------------------------------------------------

TEST(TensorScatter, LinearAndCircularOnAnyAxis) {
  std::mt19937 rng(7);
  struct Case {
    Dims cache, upd;
    int64_t axis;
    bool circular;
    std::vector<int64_t> w;
  };
  const std::vector<Case> cases = {{{2, 3, 9, 4}, {2, 3, 4, 4}, -2, false, {0, 5}},
                                   {{2, 3, 9, 4}, {2, 3, 4, 4}, -2, true, {7, -3}},
                                   {{3, 6, 5}, {3, 2, 5}, 1, false, {4, 0, 2}},
                                   {{2, 4, 7}, {2, 4, 7}, 2, true, {3, 6}},
                                   {{2, 5}, {2, 3}, -1, false, {}}};
  for (const Case& c : cases) {
    Tensor cache = randomTensor(DType::kInt32, c.cache, rng, -100, 100), upd = randomTensor(DType::kInt32, c.upd, rng, -100, 100);
    OpSpec s{.op = "TensorScatter",
             .attrs = attrs({{"axis", AttrValue(c.axis)}, {"mode", AttrValue(c.circular ? "circular" : "linear")}}),
             .inputs = {cache, upd},
             .opset = 24};
    if (!c.w.empty()) s.inputs.push_back(Tensor::fromVector<int64_t>(c.w, {static_cast<int64_t>(c.w.size())}));
    auto r = runOp(s);
    ASSERT_TRUE(r.ok()) << r.status().toString();
    // Naive: copy, then write each update element at its (wrapped) sequence position.
    const int rank = c.cache.rank();
    const int axis = static_cast<int>(c.axis < 0 ? c.axis + rank : c.axis);
    std::vector<int32_t> want(cache.data<int32_t>(), cache.data<int32_t>() + cache.numel());
    for (int64_t i = 0; i < upd.numel(); ++i) {
      std::vector<int64_t> idx(rank);
      for (int64_t k = rank - 1, rem = i; k >= 0; --k) idx[k] = rem % c.upd[k], rem /= c.upd[k];
      int64_t at = (c.w.empty() ? 0 : c.w[idx[0]]) + idx[axis];
      if (c.circular) at = ((at % c.cache[axis]) + c.cache[axis]) % c.cache[axis];
      idx[axis] = at;
      int64_t o = 0;
      for (int k = 0; k < rank; ++k) o = o * c.cache[k] + idx[k];
      want[o] = upd.data<int32_t>()[i];
    }
    const Tensor& got = (*r)[0];
    EXPECT_EQ(std::vector<int32_t>(got.data<int32_t>(), got.data<int32_t>() + got.numel()), want) << c.cache.toString();
  }
}

TEST(TensorScatter, StringsAndErrors) {
  Tensor cache = Tensor::fromVector<std::string>({"a", "b", "c", "d"}, {1, 4});
  Tensor upd = Tensor::fromVector<std::string>({"x", "y"}, {1, 2});
  auto r = runOp({.op = "TensorScatter", .attrs = attrs({{"axis", AttrValue(int64_t{1})}}),
                  .inputs = {cache, upd, Tensor::fromVector<int64_t>({1}, {1})}, .opset = 24});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)[0].data<std::string>()[1], "x");
  EXPECT_EQ((*r)[0].data<std::string>()[2], "y");
  EXPECT_EQ((*r)[0].data<std::string>()[3], "d");
  std::mt19937 rng(8);
  Tensor fc = randomTensor(DType::kFloat32, {2, 6, 3}, rng), fu = randomTensor(DType::kFloat32, {2, 4, 3}, rng);
  expectError({.op = "TensorScatter", .attrs = attrs({{"axis", AttrValue(int64_t{1})}}),
               .inputs = {fc, fu, Tensor::fromVector<int64_t>({0, 3}, {2})}, .opset = 24},
              StatusCode::kInvalidArgument, "exceeds the cache length");
  expectError({.op = "TensorScatter", .attrs = attrs({{"axis", AttrValue(int64_t{0})}}), .inputs = {fc, fu}, .opset = 24},
              StatusCode::kInvalidArgument, "axis cannot be 0");
  expectError({.op = "TensorScatter", .attrs = attrs({{"axis", AttrValue(int64_t{2})}}), .inputs = {fc, fu}, .opset = 24},
              StatusCode::kInvalidArgument, "does not fit");
}

// ---- LinearAttention ----------------------------------------------------------------------------

struct LinCase {
  std::string rule;
  int64_t B = 2, T = 5, hq = 4, hkv = 2, dk = 3, dv = 5;
  bool perKeyDecay = false, scalarBeta = false, past = true;
  float scale = 0;
};

TEST(LinearAttention, AllUpdateRulesMatchNaive) {
  std::mt19937 rng(9);
  std::vector<LinCase> cases;
  for (const char* rule : {"linear", "gated", "delta", "gated_delta"}) cases.push_back({.rule = rule});
  cases.push_back({.rule = "gated", .perKeyDecay = true, .past = false});
  cases.push_back({.rule = "gated_delta", .hq = 3, .hkv = 1, .scalarBeta = true, .scale = 0.3f});
  cases.push_back({.rule = "gated_delta", .hq = 2, .hkv = 2, .perKeyDecay = true});
  for (const LinCase& c : cases) {
    const bool gating = c.rule == "gated" || c.rule == "gated_delta", delta = c.rule == "delta" || c.rule == "gated_delta";
    Tensor q = randomTensor(DType::kFloat32, {c.B, c.T, c.hq * c.dk}, rng);
    Tensor k = randomTensor(DType::kFloat32, {c.B, c.T, c.hkv * c.dk}, rng);
    Tensor v = randomTensor(DType::kFloat32, {c.B, c.T, c.hkv * c.dv}, rng);
    Tensor s0 = randomTensor(DType::kFloat32, {c.B, c.hkv, c.dk, c.dv}, rng);
    Tensor g = randomTensor(DType::kFloat32, {c.B, c.T, c.perKeyDecay ? c.hkv * c.dk : c.hkv}, rng, -1, 0);
    Tensor be = randomTensor(DType::kFloat32, {c.B, c.T, c.scalarBeta ? 1 : c.hkv}, rng, 0, 1);
    OpSpec spec{.op = "LinearAttention",
                .attrs = attrs({{"q_num_heads", AttrValue(c.hq)}, {"kv_num_heads", AttrValue(c.hkv)},
                                {"update_rule", AttrValue(c.rule)}, {"scale", AttrValue(c.scale)}}),
                .inputs = {q, k, v, c.past ? s0 : Tensor(), gating ? g : Tensor(), delta ? be : Tensor()},
                .numOutputs = 2,
                .opset = 27};
    while (!spec.inputs.back().defined()) spec.inputs.pop_back();
    auto r = runOp(spec);
    ASSERT_TRUE(r.ok()) << r.status().toString();
    // Naive recurrence per (b, kv head), reading query heads h*group..h*group+group-1.
    const double scale = c.scale ? c.scale : 1.0 / std::sqrt(double(c.dk));
    const int64_t group = c.hq / c.hkv;
    std::vector<double> out(q.numel() / c.dk * c.dv), st(c.B * c.hkv * c.dk * c.dv);
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t h = 0; h < c.hkv; ++h) {
        std::vector<std::vector<double>> S(c.dk, std::vector<double>(c.dv, 0.0));
        if (c.past)
          for (int64_t d = 0; d < c.dk; ++d)
            for (int64_t m = 0; m < c.dv; ++m) S[d][m] = s0.doubleAt(((b * c.hkv + h) * c.dk + d) * c.dv + m);
        for (int64_t t = 0; t < c.T; ++t) {
          auto K = [&](int64_t d) { return k.doubleAt((b * c.T + t) * c.hkv * c.dk + h * c.dk + d); };
          std::vector<double> V(c.dv);
          for (int64_t m = 0; m < c.dv; ++m) V[m] = v.doubleAt((b * c.T + t) * c.hkv * c.dv + h * c.dv + m);
          if (gating)
            for (int64_t d = 0; d < c.dk; ++d) {
              const double gv = c.perKeyDecay ? g.doubleAt((b * c.T + t) * c.hkv * c.dk + h * c.dk + d)
                                              : g.doubleAt((b * c.T + t) * c.hkv + h);
              for (double& x : S[d]) x *= std::exp(gv);
            }
          if (delta) {
            const double bt = be.doubleAt((b * c.T + t) * (c.scalarBeta ? 1 : c.hkv) + (c.scalarBeta ? 0 : h));
            for (int64_t m = 0; m < c.dv; ++m) {
              double ret = 0;
              for (int64_t d = 0; d < c.dk; ++d) ret += S[d][m] * K(d);
              V[m] = bt * (V[m] - ret);
            }
          }
          for (int64_t d = 0; d < c.dk; ++d)
            for (int64_t m = 0; m < c.dv; ++m) S[d][m] += K(d) * V[m];
          for (int64_t qh = h * group; qh < (h + 1) * group; ++qh)
            for (int64_t m = 0; m < c.dv; ++m) {
              double acc = 0;
              for (int64_t d = 0; d < c.dk; ++d) acc += q.doubleAt((b * c.T + t) * c.hq * c.dk + qh * c.dk + d) * S[d][m];
              out[(b * c.T + t) * c.hq * c.dv + qh * c.dv + m] = scale * acc;
            }
        }
        for (int64_t d = 0; d < c.dk; ++d)
          for (int64_t m = 0; m < c.dv; ++m) st[((b * c.hkv + h) * c.dk + d) * c.dv + m] = S[d][m];
      }
    EXPECT_LE(maxErr((*r)[0], out), 1e-4) << c.rule;
    EXPECT_LE(maxErr((*r)[1], st), 1e-4) << c.rule;
  }
}

TEST(LinearAttention, Errors) {
  std::mt19937 rng(10);
  Tensor q = randomTensor(DType::kFloat32, {1, 2, 8}, rng);
  auto spec = [&](const char* rule, std::vector<Tensor> extra, int64_t hq = 2, int64_t hkv = 2) {
    std::vector<Tensor> ins = {q, q, q};
    ins.insert(ins.end(), extra.begin(), extra.end());
    return OpSpec{.op = "LinearAttention",
                  .attrs = attrs({{"q_num_heads", AttrValue(hq)}, {"kv_num_heads", AttrValue(hkv)}, {"update_rule", AttrValue(rule)}}),
                  .inputs = ins, .numOutputs = 2, .opset = 27};
  };
  expectError(spec("gated", {}), StatusCode::kInvalidArgument, "requires the decay");
  expectError(spec("linear", {Tensor(), randomTensor(DType::kFloat32, {1, 2, 2}, rng)}), StatusCode::kInvalidArgument,
              "forbids the decay");
  expectError(spec("linear", {}, 3, 2), StatusCode::kInvalidArgument, "positive multiple");
  expectError(spec("fancy", {}), StatusCode::kInvalidArgument, "update_rule");
  expectError(spec("linear", {randomTensor(DType::kFloat32, {1, 2, 4, 3}, rng)}), StatusCode::kInvalidArgument,
              "past_state has shape");
}

// ---- CausalConvWithState ------------------------------------------------------------------------

TEST(CausalConvWithState, MatchesNaive) {
  std::mt19937 rng(11);
  const int64_t B = 2, C = 5, L = 7;
  for (int64_t k : {1, 3, 9})
    for (bool bias : {false, true})
      for (bool past : {false, true})
        for (const char* act : {"none", "silu"}) {
          Tensor x = randomTensor(DType::kFloat32, {B, C, L}, rng), w = randomTensor(DType::kFloat32, {C, 1, k}, rng);
          Tensor bb = randomTensor(DType::kFloat32, {C}, rng), ps = randomTensor(DType::kFloat32, {B, C, k - 1}, rng);
          auto r = runOp({.op = "CausalConvWithState", .attrs = attrs({{"activation", AttrValue(act)}}),
                          .inputs = {x, w, bias ? bb : Tensor(), past ? ps : Tensor()}, .numOutputs = 2, .opset = 27});
          ASSERT_TRUE(r.ok()) << r.status().toString();
          std::vector<double> y(x.numel()), state(B * C * (k - 1));
          for (int64_t b = 0; b < B; ++b)
            for (int64_t c = 0; c < C; ++c) {
              std::vector<double> pad;
              for (int64_t i = 0; i < k - 1; ++i) pad.push_back(past ? ps.doubleAt((b * C + c) * (k - 1) + i) : 0.0);
              for (int64_t i = 0; i < L; ++i) pad.push_back(x.doubleAt((b * C + c) * L + i));
              for (int64_t t = 0; t < L; ++t) {
                double acc = bias ? bb.doubleAt(c) : 0.0;
                for (int64_t i = 0; i < k; ++i) acc += w.doubleAt(c * k + i) * pad[t + i];
                y[(b * C + c) * L + t] = std::string(act) == "silu" ? acc / (1 + std::exp(-acc)) : acc;
              }
              for (int64_t i = 0; i < k - 1; ++i) state[(b * C + c) * (k - 1) + i] = pad[L + i];
            }
          EXPECT_LE(maxErr((*r)[0], y), 1e-5) << k << bias << past << act;
          EXPECT_EQ(maxErr((*r)[1], state), 0.0);
        }
  expectError({.op = "CausalConvWithState",
               .inputs = {randomTensor(DType::kFloat32, {2, 5, 7}, rng), randomTensor(DType::kFloat32, {4, 1, 3}, rng)},
               .opset = 27},
              StatusCode::kInvalidArgument, "weight must have shape");
  expectError({.op = "CausalConvWithState",
               .inputs = {randomTensor(DType::kFloat32, {2, 5, 7}, rng), randomTensor(DType::kFloat32, {5, 1, 3}, rng),
                          Tensor(), randomTensor(DType::kFloat32, {2, 5, 3}, rng)},
               .opset = 27},
              StatusCode::kInvalidArgument, "past_state must have shape");
}

}  // namespace
}  // namespace kiln::testing
