// Normalization kernels against naive references at odd sizes: Layer/RMS normalization with
// broadcast parameters and the Mean/InvStdDev outputs, Batch (inference and training),
// Instance, Group (per-channel and opset-18 per-group parameters), LRN, Lp and MVN; dtype
// coverage and error cases.
#include <gtest/gtest.h>

#include <cmath>

#include "ir/graph.h"
#include "ir/infer.h"
#include "ir/op_registry.h"
#include "op_test_util.h"

namespace kiln::testing {
namespace {

std::vector<int64_t> unravel(int64_t i, const Dims& d) {
  std::vector<int64_t> idx(d.rank());
  for (int k = d.rank() - 1; k >= 0; --k) {
    idx[k] = i % d[k];
    i /= d[k];
  }
  return idx;
}

// Value of a parameter of shape pd broadcast (numpy, right-aligned) at X's multi-index.
double bcastAt(const Tensor& p, const std::vector<int64_t>& xi) {
  const Dims& pd = p.dims();
  int64_t o = 0;
  for (int k = 0; k < pd.rank(); ++k) {
    int64_t v = xi[xi.size() - pd.rank() + k];
    o = o * pd[k] + (pd[k] == 1 ? 0 : v);
  }
  return p.doubleAt(o);
}

void expectClose(const Tensor& got, const std::vector<double>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size())) << what;
  for (int64_t i = 0; i < got.numel(); ++i)
    ASSERT_NEAR(got.doubleAt(i), want[i], tol * std::max(1.0, std::fabs(want[i]))) << what << " i=" << i;
}

AttrMap attrs(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  AttrMap a;
  for (auto& [k, v] : kv) a.set(k, v);
  return a;
}

// ---- LayerNormalization / RMSNormalization --------------------------------------------

struct LayerRef {
  std::vector<double> y, mean, inv;
};
LayerRef naiveLayer(const Tensor& x, const Tensor& scale, const Tensor* bias, int axis, double eps, bool rms) {
  const Dims& d = x.dims();
  if (axis < 0) axis += d.rank();
  int64_t rows = 1, n = 1;
  for (int i = 0; i < d.rank(); ++i) (i < axis ? rows : n) *= d[i];
  LayerRef r;
  r.y.resize(x.numel());
  for (int64_t row = 0; row < rows; ++row) {
    double m = 0, v = 0;
    for (int64_t j = 0; j < n; ++j) m += x.doubleAt(row * n + j);
    m /= n;
    for (int64_t j = 0; j < n; ++j) {
      double t = x.doubleAt(row * n + j) - (rms ? 0 : m);
      v += t * t;
    }
    double inv = 1 / std::sqrt(v / n + eps);
    for (int64_t j = 0; j < n; ++j) {
      auto xi = unravel(row * n + j, d);
      double y = (x.doubleAt(row * n + j) - (rms ? 0 : m)) * inv * bcastAt(scale, xi);
      if (bias) y += bcastAt(*bias, xi);
      r.y[row * n + j] = y;
    }
    r.mean.push_back(m);
    r.inv.push_back(inv);
  }
  return r;
}

TEST(Normalization, LayerNormMatchesNaive) {
  std::mt19937 rng(3);
  const Dims shape{3, 5, 2, 67};
  struct Case {
    int axis;
    Dims scale, bias;
  };
  const std::vector<Case> cases = {
      {-1, {67}, {67}}, {3, {1, 67}, {67}}, {2, {2, 67}, {1}}, {1, {5, 1, 67}, {5, 2, 67}},
      {0, {3, 5, 2, 67}, {67}}, {2, {67}, {2, 1}},
      {3, {3, 1, 1, 67}, {5, 1, 1}},  // parameters that vary across rows too
  };
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16}) {
    Tensor x = randomTensor(t, shape, rng, -2, 3);
    for (const auto& c : cases) {
      Tensor s = randomTensor(t, c.scale, rng, 0.5, 1.5), b = randomTensor(t, c.bias, rng);
      for (bool withBias : {true, false}) {
        OpSpec spec{.op = "LayerNormalization", .attrs = attrs({{"axis", int64_t{c.axis}}, {"epsilon", 1e-3f}}),
                    .inputs = {x, s}, .numOutputs = 3};
        if (withBias) spec.inputs.push_back(b);
        auto r = runOp(spec);
        ASSERT_TRUE(r.ok()) << r.status().toString();
        auto want = naiveLayer(x, s, withBias ? &b : nullptr, c.axis, 1e-3, false);
        const double tol = t == DType::kFloat16 ? 4e-3 : 1e-5;
        std::string what = fmt::format("LN {} axis {} scale {}", dtypeName(t), c.axis, c.scale.toString());
        expectClose((*r)[0], want.y, tol, what);
        EXPECT_EQ((*r)[1].dtype(), DType::kFloat32);
        expectClose((*r)[1], want.mean, 1e-5, what + " mean");
        expectClose((*r)[2], want.inv, 1e-5, what + " invstd");
        Dims sd = shape;
        for (int i = c.axis < 0 ? c.axis + 4 : c.axis; i < 4; ++i) sd[i] = 1;
        EXPECT_EQ((*r)[1].dims(), sd);
      }
    }
  }
}

TEST(Normalization, LayerNormErrors) {
  std::mt19937 rng(1);
  Tensor x = randomTensor(DType::kFloat32, {2, 3}, rng);
  auto badAxis = runOp({.op = "LayerNormalization", .attrs = attrs({{"axis", int64_t{2}}}),
                        .inputs = {x, randomTensor(DType::kFloat32, {3}, rng)}});
  ASSERT_FALSE(badAxis.ok());
  EXPECT_EQ(badAxis.status().code(), StatusCode::kInvalidArgument);
  auto badScale = runOp({.op = "LayerNormalization", .inputs = {x, randomTensor(DType::kFloat32, {4}, rng)}});
  ASSERT_FALSE(badScale.ok());
  EXPECT_NE(badScale.status().message().find("broadcast"), std::string::npos) << badScale.status().toString();
  auto badStash = runOp({.op = "LayerNormalization", .attrs = attrs({{"stash_type", int64_t{7}}}),
                         .inputs = {x, randomTensor(DType::kFloat32, {3}, rng)}});
  ASSERT_FALSE(badStash.ok());
}

TEST(Normalization, RMSNormMatchesNaive) {
  std::mt19937 rng(6);
  const Dims shape{4, 3, 129};
  for (int axis : {-1, 1, 0}) {
    for (DType st : {DType::kFloat32, DType::kFloat16}) {  // the scale's type may differ from X's
      Tensor x = randomTensor(DType::kFloat32, shape, rng, -2, 2);
      Dims sd;
      for (int i = axis < 0 ? axis + 3 : axis; i < 3; ++i) sd.push_back(shape[i]);
      Tensor s = randomTensor(st, sd, rng, 0.5, 1.5);
      auto r = runOp({.op = "RMSNormalization", .attrs = attrs({{"axis", int64_t{axis}}}), .inputs = {x, s}, .opset = 23});
      ASSERT_TRUE(r.ok()) << r.status().toString();
      EXPECT_EQ((*r)[0].dtype(), DType::kFloat32);  // Y has X's type
      auto want = naiveLayer(x, s, nullptr, axis < 0 ? axis + 3 : axis, 1e-5, true);
      expectClose((*r)[0], want.y, st == DType::kFloat16 ? 2e-3 : 1e-5, "RMS");
    }
  }
}

// ---- Batch / Instance / Group ---------------------------------------------------------

TEST(Normalization, BatchNormInferenceAndTraining) {
  std::mt19937 rng(12);
  const Dims shape{3, 5, 4, 7};
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kFloat64}) {
    Tensor x = randomTensor(t, shape, rng, -2, 4);
    // Parameters in float32 whatever X is (opset 15 allows T1/T2 to differ from T).
    Tensor s = randomTensor(DType::kFloat32, {5}, rng, 0.5, 1.5), b = randomTensor(DType::kFloat32, {5}, rng);
    Tensor m = randomTensor(DType::kFloat32, {5}, rng), v = randomTensor(DType::kFloat32, {5}, rng, 0.5, 2);
    for (int training : {0, 1}) {
      auto r = runOp({.op = "BatchNormalization", .attrs = attrs({{"training_mode", int64_t{training}}}),
                      .inputs = {x, s, b, m, v}, .numOutputs = training ? 3 : 1});
      ASSERT_TRUE(r.ok()) << r.status().toString();
      std::vector<double> mean(5), var(5), runMean(5), runVar(5);
      const int64_t sp = 28;
      for (int c = 0; c < 5; ++c) {
        if (training) {
          double sum = 0, sq = 0;
          for (int n = 0; n < 3; ++n)
            for (int j = 0; j < sp; ++j) sum += x.doubleAt((n * 5 + c) * sp + j);
          double mu = sum / (3 * sp);
          for (int n = 0; n < 3; ++n)
            for (int j = 0; j < sp; ++j) sq += std::pow(x.doubleAt((n * 5 + c) * sp + j) - mu, 2);
          mean[c] = mu;
          var[c] = sq / (3 * sp);
          runMean[c] = m.doubleAt(c) * 0.9 + mu * 0.1;
          runVar[c] = v.doubleAt(c) * 0.9 + var[c] * 0.1;
        } else {
          mean[c] = m.doubleAt(c);
          var[c] = v.doubleAt(c);
        }
      }
      std::vector<double> want(x.numel());
      for (int64_t i = 0; i < x.numel(); ++i) {
        int c = static_cast<int>((i / sp) % 5);
        want[i] = (x.doubleAt(i) - mean[c]) / std::sqrt(var[c] + 1e-5) * s.doubleAt(c) + b.doubleAt(c);
      }
      const double tol = t == DType::kFloat16 ? 4e-3 : 1e-5;
      expectClose((*r)[0], want, tol, fmt::format("BN {} training {}", dtypeName(t), training));
      if (training) {
        EXPECT_EQ((*r)[1].dtype(), DType::kFloat32);
        expectClose((*r)[1], runMean, 1e-4, "running mean");
        expectClose((*r)[2], runVar, 1e-4, "running var");
      }
    }
  }
  Tensor x = randomTensor(DType::kFloat32, shape, rng);
  Tensor p4 = randomTensor(DType::kFloat32, {4}, rng), p5 = randomTensor(DType::kFloat32, {5}, rng);
  auto bad = runOp({.op = "BatchNormalization", .inputs = {x, p4, p5, p5, p5}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  auto extra = runOp({.op = "BatchNormalization", .inputs = {x, p5, p5, p5, p5}, .numOutputs = 3});
  ASSERT_FALSE(extra.ok());  // running stats exist only in training mode
}

std::vector<double> naiveGroupNorm(const Tensor& x, const Tensor& s, const Tensor& b, int64_t groups, double eps) {
  const Dims& d = x.dims();
  const int64_t n = d[0], c = d[1], sp = x.numel() / (n * c), cpg = c / groups, len = cpg * sp;
  std::vector<double> y(x.numel());
  for (int64_t t = 0; t < n * groups; ++t) {
    double m = 0, v = 0;
    for (int64_t j = 0; j < len; ++j) m += x.doubleAt(t * len + j);
    m /= len;
    for (int64_t j = 0; j < len; ++j) v += std::pow(x.doubleAt(t * len + j) - m, 2);
    v /= len;
    for (int64_t j = 0; j < len; ++j) {
      int64_t ch = (t % groups) * cpg + j / sp;
      int64_t pi = s.numel() == c ? ch : t % groups;
      y[t * len + j] = (x.doubleAt(t * len + j) - m) / std::sqrt(v + eps) * s.doubleAt(pi) + b.doubleAt(pi);
    }
  }
  return y;
}

TEST(Normalization, InstanceAndGroupNorm) {
  std::mt19937 rng(17);
  const Dims shape{2, 6, 5, 3};
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kBFloat16}) {
    Tensor x = randomTensor(t, shape, rng, -1, 3);
    Tensor s = randomTensor(t, {6}, rng, 0.5, 1.5), b = randomTensor(t, {6}, rng);
    const double tol = t == DType::kBFloat16 ? 3e-2 : 1e-5;
    auto in = runOp({.op = "InstanceNormalization", .attrs = attrs({{"epsilon", 1e-2f}}), .inputs = {x, s, b}});
    ASSERT_TRUE(in.ok()) << in.status().toString();
    expectClose((*in)[0], naiveGroupNorm(x, s, b, 6, 1e-2), tol, "InstanceNorm");
    for (int64_t g : {1, 2, 3, 6}) {
      auto gn = runOp({.op = "GroupNormalization", .attrs = attrs({{"num_groups", g}}), .inputs = {x, s, b}});
      ASSERT_TRUE(gn.ok()) << gn.status().toString();
      expectClose((*gn)[0], naiveGroupNorm(x, s, b, g, 1e-5), tol, fmt::format("GroupNorm g={}", g));
    }
    // Opset 18: one scale/bias value per group.
    Tensor sg = randomTensor(t, {3}, rng, 0.5, 1.5), bg = randomTensor(t, {3}, rng);
    auto gn18 = runOp({.op = "GroupNormalization", .attrs = attrs({{"num_groups", int64_t{3}}}), .inputs = {x, sg, bg}, .opset = 18});
    ASSERT_TRUE(gn18.ok()) << gn18.status().toString();
    expectClose((*gn18)[0], naiveGroupNorm(x, sg, bg, 3, 1e-5), tol, "GroupNorm opset 18");
    auto gn21 = runOp({.op = "GroupNormalization", .attrs = attrs({{"num_groups", int64_t{3}}}), .inputs = {x, sg, bg}});
    ASSERT_FALSE(gn21.ok());  // opset 21 wants one value per channel
  }
  Tensor x = randomTensor(DType::kFloat32, shape, rng);
  Tensor p = randomTensor(DType::kFloat32, {6}, rng);
  auto bad = runOp({.op = "GroupNormalization", .attrs = attrs({{"num_groups", int64_t{4}}}), .inputs = {x, p, p}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("groups"), std::string::npos) << bad.status().toString();
  auto badIn = runOp({.op = "InstanceNormalization", .inputs = {x, randomTensor(DType::kFloat32, {5}, rng), p}});
  ASSERT_FALSE(badIn.ok());
}

// ---- LRN / Lp / MVN -------------------------------------------------------------------

TEST(Normalization, LRNMatchesNaive) {
  std::mt19937 rng(23);
  const Dims shape{2, 7, 3, 5};
  Tensor x = randomTensor(DType::kFloat32, shape, rng, -2, 2);
  for (int64_t size : {1, 2, 3, 5, 8}) {
    auto r = runOp({.op = "LRN", .attrs = attrs({{"size", size}, {"alpha", 0.01f}, {"beta", 0.6f}, {"bias", 1.5f}}),
                    .inputs = {x}});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    std::vector<double> want(x.numel());
    for (int64_t i = 0; i < x.numel(); ++i) {
      auto idx = unravel(i, shape);
      double sq = 0;
      for (int64_t c = std::max<int64_t>(0, idx[1] - (size - 1) / 2);
           c <= std::min<int64_t>(6, idx[1] + size / 2); ++c) {
        auto j = idx;
        j[1] = c;
        sq += std::pow(x.doubleAt(((j[0] * 7 + j[1]) * 3 + j[2]) * 5 + j[3]), 2);
      }
      want[i] = x.doubleAt(i) / std::pow(1.5 + 0.01 / size * sq, 0.6);
    }
    expectClose((*r)[0], want, 1e-5, fmt::format("LRN size {}", size));
  }
  auto bad = runOp({.op = "LRN", .attrs = attrs({{"size", int64_t{0}}}), .inputs = {x}});
  ASSERT_FALSE(bad.ok());
}

TEST(Normalization, LpNormMatchesNaive) {
  std::mt19937 rng(29);
  const Dims shape{3, 9, 4};
  Tensor x = randomTensor(DType::kFloat32, shape, rng, -2, 2);
  for (int64_t k = 0; k < 4; ++k) x.data<float>()[k * 4] = 0;  // a zero column along axis 1... partly
  for (int64_t j = 0; j < 9; ++j) x.data<float>()[j * 4 + 1] = 0;  // all-zero slice: output 0
  for (int64_t p : {1, 2}) {
    for (int axis : {0, 1, 2, -1}) {
      auto r = runOp({.op = "LpNormalization", .attrs = attrs({{"p", p}, {"axis", int64_t{axis}}}), .inputs = {x}});
      ASSERT_TRUE(r.ok()) << r.status().toString();
      const int ax = axis < 0 ? axis + 3 : axis;
      std::vector<double> want(x.numel());
      for (int64_t i = 0; i < x.numel(); ++i) {
        auto idx = unravel(i, shape);
        double nrm = 0;
        for (int64_t k = 0; k < shape[ax]; ++k) {
          auto j = idx;
          j[ax] = k;
          double v = x.doubleAt((j[0] * 9 + j[1]) * 4 + j[2]);
          nrm += p == 1 ? std::fabs(v) : v * v;
        }
        if (p == 2) nrm = std::sqrt(nrm);
        want[i] = nrm == 0 ? 0 : x.doubleAt(i) / nrm;
      }
      expectClose((*r)[0], want, 1e-5, fmt::format("Lp p={} axis {}", p, axis));
    }
  }
  auto bad = runOp({.op = "LpNormalization", .attrs = attrs({{"p", int64_t{3}}}), .inputs = {x}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(Normalization, MeanVarianceMatchesNaive) {
  std::mt19937 rng(31);
  const Dims shape{3, 4, 5, 2};
  Tensor x = randomTensor(DType::kFloat32, shape, rng, -2, 5);
  for (std::vector<int64_t> axes : {std::vector<int64_t>{0, 2, 3}, {1}, {-1, 0}, {0, 1, 2, 3}}) {
    auto r = runOp({.op = "MeanVarianceNormalization", .attrs = attrs({{"axes", axes}}), .inputs = {x}});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    std::vector<bool> red(4, false);
    for (int64_t a : axes) red[a < 0 ? a + 4 : a] = true;
    auto key = [&](int64_t i) {
      auto idx = unravel(i, shape);
      int64_t k = 0;
      for (int d = 0; d < 4; ++d) k = k * shape[d] + (red[d] ? 0 : idx[d]);
      return k;
    };
    std::vector<double> sum(x.numel(), 0), sq(x.numel(), 0), cnt(x.numel(), 0);
    for (int64_t i = 0; i < x.numel(); ++i) sum[key(i)] += x.doubleAt(i), cnt[key(i)] += 1;
    for (int64_t i = 0; i < x.numel(); ++i) sq[key(i)] += std::pow(x.doubleAt(i) - sum[key(i)] / cnt[key(i)], 2);
    std::vector<double> want(x.numel());
    for (int64_t i = 0; i < x.numel(); ++i) {
      double m = sum[key(i)] / cnt[key(i)];
      want[i] = (x.doubleAt(i) - m) / (std::sqrt(sq[key(i)] / cnt[key(i)]) + 1e-9);
    }
    expectClose((*r)[0], want, 1e-5, "MVN");
  }
  auto bad = runOp({.op = "MeanVarianceNormalization", .attrs = attrs({{"axes", std::vector<int64_t>{4}}}), .inputs = {x}});
  ASSERT_FALSE(bad.ok());
}


TEST(Normalization, EmptyTensorsDoNotCrash) {
  Tensor x = Tensor::allocate(DType::kFloat32, {0, 3, 4});
  Tensor p = Tensor::allocate(DType::kFloat32, {3});
  const std::vector<OpSpec> specs = {
      {.op = "BatchNormalization", .inputs = {x, p, p, p, p}},
      {.op = "InstanceNormalization", .inputs = {x, p, p}},
      {.op = "GroupNormalization", .attrs = attrs({{"num_groups", int64_t{3}}}), .inputs = {x, p, p}},
      {.op = "LRN", .attrs = attrs({{"size", int64_t{3}}}), .inputs = {x}},
      {.op = "LpNormalization", .inputs = {x}},
      {.op = "MeanVarianceNormalization", .attrs = attrs({{"axes", std::vector<int64_t>{0, 2}}}), .inputs = {x}},
      {.op = "LayerNormalization", .inputs = {x, Tensor::allocate(DType::kFloat32, {4})}},
      {.op = "RMSNormalization", .inputs = {x, Tensor::allocate(DType::kFloat32, {4})}, .opset = 23},
  };
  for (const OpSpec& s : specs) {
    auto r = runOp(s);
    ASSERT_TRUE(r.ok()) << s.op << ": " << r.status().toString();
    EXPECT_EQ((*r)[0].numel(), 0) << s.op;
  }
}

// ---- Build-time inference and import hooks --------------------------------------------

// Adds one node the way the importer does (hook, attribute defaults, inference).
Status addNode(ir::Graph& g, ir::Node** out, const std::string& op, const std::vector<ir::Value*>& ins,
               AttrMap attrs, int opset, int outs = 1) {
  std::vector<std::string> names;
  for (int i = 0; i < outs; ++i) names.push_back(fmt::format("{}_out{}", op, i));
  ir::Node* n = g.addNode(op, "", opset, op, ins, names, std::move(attrs));
  const ir::OpDef* def = ir::OpRegistry::global().find("", op);
  g.setNodeDef(n, def);
  *out = n;
  if (def->import) {
    ir::ImportContext ictx(g, *n, opset);
    KILN_RETURN_IF_ERROR(def->import(ictx));
  }
  KILN_RETURN_IF_ERROR(ir::checkAndFillAttributes(*def, n->attrs()));
  return ir::inferNode(g, *n);
}

TEST(Normalization, InferenceAndImportHooks) {
  const Dim batch = Dim::symbol("batch"), seq = Dim::symbol("seq");
  std::mt19937 rng(2);
  {
    ir::Graph g;
    ir::Node* n;
    ir::Value* x = g.addInput("x", DType::kFloat16, Shape({batch, seq, 64}));
    ir::Value* s = g.addInput("s", DType::kFloat16, Shape({64}));
    ASSERT_TRUE(addNode(g, &n, "LayerNormalization", {x, s}, {}, 17, 3).ok());
    EXPECT_EQ(n->output(0)->shape().toString(), "[batch,seq,64]");
    EXPECT_EQ(n->output(0)->dtype(), DType::kFloat16);
    EXPECT_EQ(n->output(1)->shape().toString(), "[batch,seq,1]");
    EXPECT_EQ(n->output(1)->dtype(), DType::kFloat32);  // stash_type
  }
  {
    // BatchNormalization opset 6: is_test/spatial become training_mode.
    ir::Graph g;
    ir::Node* n;
    ir::Value* x = g.addInput("x", DType::kFloat32, Shape({batch, 3, 8, 8}));
    std::vector<ir::Value*> ins{x};
    for (int i = 0; i < 4; ++i) ins.push_back(g.addConstant(fmt::format("p{}", i), randomTensor(DType::kFloat32, {3}, rng)));
    AttrMap a;
    a.set("is_test", int64_t{1});
    a.set("spatial", int64_t{1});
    a.set("consumed_inputs", std::vector<int64_t>{0, 0, 0, 1, 1});
    ASSERT_TRUE(addNode(g, &n, "BatchNormalization", ins, a, 6).ok());
    EXPECT_EQ(n->attrs().getInt("training_mode"), 0);
    EXPECT_FALSE(n->attrs().has("is_test"));
    EXPECT_FALSE(n->attrs().has("spatial"));
    EXPECT_EQ(n->output(0)->shape().toString(), "[batch,3,8,8]");
  }
  {
    // GroupNormalization opset 18: constant per-group parameters expand to per-channel ones.
    ir::Graph g;
    ir::Node* n;
    ir::Value* x = g.addInput("x", DType::kFloat32, Shape({batch, 6, 5}));
    ir::Value* s = g.addConstant("s", Tensor::fromVector<float>({1, 2, 3}, {3}));
    ir::Value* b = g.addConstant("b", Tensor::fromVector<float>({4, 5, 6}, {3}));
    AttrMap a;
    a.set("num_groups", int64_t{3});
    ASSERT_TRUE(addNode(g, &n, "GroupNormalization", {x, s, b}, a, 18).ok());
    const Tensor& sc = n->input(1)->constant();
    ASSERT_EQ(sc.dims(), (Dims{6}));
    EXPECT_EQ(std::vector<float>(sc.data<float>(), sc.data<float>() + 6), (std::vector<float>{1, 1, 2, 2, 3, 3}));
    EXPECT_EQ(n->input(2)->constant().data<float>()[5], 6.0f);
  }
  {
    ir::Graph g;
    ir::Node* n;
    ir::Value* x = g.addInput("x", DType::kFloat32, Shape({batch, 6, 5}));
    ir::Value* p = g.addInput("p", DType::kFloat32, Shape({4}));
    AttrMap a;
    a.set("num_groups", int64_t{3});
    Status st = addNode(g, &n, "GroupNormalization", {x, p, p}, a, 21);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("shape [6]"), std::string::npos) << st.toString();
  }
}

// kiln:MatMulLayerNorm is FusedMatMul (bias, residual) then LayerNormalization over the last axis,
// with every optional input present or absent; a wrong-sized scale is an error, not a crash.
TEST(Normalization, MatMulLayerNormIsFusedMatMulThenLayerNorm) {
  std::mt19937 rng(9);
  const Dims a{2, 7, 24};
  const int64_t n = 40;
  Tensor x = randomTensor(DType::kFloat32, a, rng, -1, 1), w = randomTensor(DType::kFloat32, Dims{24, n}, rng);
  Tensor bias = randomTensor(DType::kFloat32, Dims{n}, rng), res = randomTensor(DType::kFloat32, Dims{2, 7, n}, rng, 3, 5);
  Tensor scale = randomTensor(DType::kFloat32, Dims{n}, rng, 0.5, 1.5), beta = randomTensor(DType::kFloat32, Dims{n}, rng);
  for (int mask = 0; mask < 8; ++mask) {
    const bool hasBias = mask & 1, hasRes = mask & 2, hasBeta = mask & 4;
    SCOPED_TRACE(fmt::format("bias {} residual {} beta {}", hasBias, hasRes, hasBeta));
    OpSpec fm{.op = "FusedMatMul", .inputs = {x, w, hasBias ? bias : Tensor(), hasRes ? res : Tensor()}, .opset = 1,
              .domain = "kiln"};
    while (!fm.inputs.empty() && !fm.inputs.back().defined()) fm.inputs.pop_back();
    auto z = runOp(fm);
    ASSERT_TRUE(z.ok()) << z.status().toString();
    OpSpec ln{.op = "LayerNormalization", .attrs = attrs({{"epsilon", 1e-3f}}), .inputs = {(*z)[0], scale}};
    if (hasBeta) ln.inputs.push_back(beta);
    auto want = runOp(ln);
    ASSERT_TRUE(want.ok()) << want.status().toString();
    OpSpec fused{.op = "MatMulLayerNorm", .attrs = attrs({{"epsilon", 1e-3f}}),
                 .inputs = {x, w, hasBias ? bias : Tensor(), hasRes ? res : Tensor(), scale}, .opset = 1, .domain = "kiln"};
    if (hasBeta) fused.inputs.push_back(beta);
    auto got = runOp(fused);
    ASSERT_TRUE(got.ok()) << got.status().toString();
    EXPECT_LE(maxAbsDiff((*got)[0], (*want)[0]), 1e-5);
  }
  OpSpec bad{.op = "MatMulLayerNorm",
             .inputs = {x, w, Tensor(), Tensor(), randomTensor(DType::kFloat32, Dims{n - 1}, rng)},
             .opset = 1,
             .domain = "kiln"};
  auto r = runOp(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("scale"), std::string::npos) << r.status().toString();
}

}  // namespace
}  // namespace kiln::testing
