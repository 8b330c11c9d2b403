// Losses (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss), Det, Unique and
// NonMaxSuppression against naive references; data-dependent output shapes (symbolic at build
// time, exact at run time) and error cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "ir/graph.h"
#include "ir/infer.h"
#include "ir/op_registry.h"
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

double maxErr(const Tensor& got, const std::vector<double>& want) {
  EXPECT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  double m = 0;
  for (int64_t i = 0; i < got.numel() && i < static_cast<int64_t>(want.size()); ++i)
    m = std::max(m, std::fabs(got.doubleAt(i) - want[i]));
  return m;
}

// ---- Losses -------------------------------------------------------------------------------------

TEST(Losses, MatchNaiveForEveryReductionWeightAndIgnoreIndex) {
  std::mt19937 rng(1);
  const std::vector<Dims> shapes = {{4, 5}, {3, 6, 7}, {2, 3, 4, 5}};
  for (const Dims& xd : shapes)
    for (bool softmax : {false, true})
      for (const char* red : {"none", "sum", "mean"})
        for (bool weighted : {false, true})
          for (std::optional<int64_t> ignore : {std::optional<int64_t>(), std::optional<int64_t>(2), std::optional<int64_t>(-1)})
            for (DType it : {DType::kInt64, DType::kInt32}) {
              const int64_t N = xd[0], C = xd[1], D = xd.numel() / (N * C);
              Tensor x = randomTensor(DType::kFloat32, xd, rng, -3, 1);
              Dims td = xd;
              td.erase(1);
              Tensor t = randomTensor(it, td, rng, 0, C - 1);
              if (ignore) {  // a few entries hit ignore_index (out of [0, C) when negative)
                for (int64_t i = 0; i < t.numel(); i += 3) {
                  if (it == DType::kInt64) t.data<int64_t>()[i] = *ignore;
                  else t.data<int32_t>()[i] = static_cast<int32_t>(*ignore);
                }
              }
              Tensor w = randomTensor(DType::kFloat32, {C}, rng, 0.1, 2);
              OpSpec s{.op = softmax ? "SoftmaxCrossEntropyLoss" : "NegativeLogLikelihoodLoss",
                       .attrs = attrs({{"reduction", AttrValue(red)}}),
                       .inputs = {x, t},
                       .numOutputs = softmax ? 2 : 1,
                       .opset = 13};
              if (ignore) s.attrs.set("ignore_index", AttrValue(*ignore));
              if (weighted) s.inputs.push_back(w);
              auto r = runOp(s);
              ASSERT_TRUE(r.ok()) << r.status().toString();
              // Naive reference.
              std::vector<double> logp(x.numel());
              for (int64_t n = 0; n < N; ++n)
                for (int64_t d = 0; d < D; ++d) {
                  double z = 0;
                  for (int64_t c = 0; c < C; ++c) z += std::exp(x.doubleAt((n * C + c) * D + d));
                  for (int64_t c = 0; c < C; ++c) {
                    const int64_t i = (n * C + c) * D + d;
                    logp[i] = softmax ? x.doubleAt(i) - std::log(z) : x.doubleAt(i);
                  }
                }
              std::vector<double> loss(N * D);
              double sum = 0, wsum = 0;
              for (int64_t n = 0; n < N; ++n)
                for (int64_t d = 0; d < D; ++d) {
                  const int64_t tv = t.intAt(n * D + d);
                  if (ignore && tv == *ignore) continue;
                  const double wt = weighted ? w.doubleAt(tv) : 1.0;
                  loss[n * D + d] = -wt * logp[(n * C + tv) * D + d];
                  sum += loss[n * D + d];
                  wsum += wt;
                }
              std::vector<double> want = std::string(red) == "none" ? loss
                                         : std::string(red) == "sum" ? std::vector<double>{sum}
                                                                     : std::vector<double>{sum / wsum};
              SCOPED_TRACE(fmt::format("{} {} {} w={} ii={}", xd.toString(), s.op, red, weighted, ignore ? *ignore : 99));
              EXPECT_LE(maxErr((*r)[0], want), 1e-4);
              EXPECT_EQ((*r)[0].dims(), std::string(red) == "none" ? td : Dims{});
              if (softmax) EXPECT_LE(maxErr((*r)[1], logp), 1e-5);
            }
}

TEST(Losses, Errors) {
  std::mt19937 rng(2);
  Tensor x = randomTensor(DType::kFloat32, {3, 4}, rng);
  expectError({.op = "NegativeLogLikelihoodLoss", .inputs = {x, Tensor::fromVector<int64_t>({0, 4, 1}, {3})}, .opset = 13},
              StatusCode::kInvalidArgument, "out of range");
  expectError({.op = "NegativeLogLikelihoodLoss", .attrs = attrs({{"reduction", AttrValue("avg")}}),
               .inputs = {x, Tensor::fromVector<int64_t>({0, 1, 1}, {3})}, .opset = 13},
              StatusCode::kInvalidArgument, "reduction");
  expectError({.op = "SoftmaxCrossEntropyLoss", .inputs = {x, Tensor::fromVector<int64_t>({0, 1}, {2})}, .opset = 13},
              StatusCode::kInvalidArgument, "does not match");
  expectError({.op = "SoftmaxCrossEntropyLoss",
               .inputs = {x, Tensor::fromVector<int64_t>({0, 1, 2}, {3}), randomTensor(DType::kFloat32, {3}, rng)}, .opset = 13},
              StatusCode::kInvalidArgument, "weight must have shape");
}

// ---- Det ----------------------------------------------------------------------------------------

double laplaceDet(const std::vector<double>& a, int64_t m) {
  if (m == 1) return a[0];
  double det = 0;
  for (int64_t c = 0; c < m; ++c) {
    std::vector<double> minor;
    for (int64_t i = 1; i < m; ++i)
      for (int64_t j = 0; j < m; ++j)
        if (j != c) minor.push_back(a[i * m + j]);
    det += (c % 2 ? -1 : 1) * a[c] * laplaceDet(minor, m - 1);
  }
  return det;
}

TEST(Det, MatchesLaplaceExpansion) {
  std::mt19937 rng(3);
  for (DType t : {DType::kFloat32, DType::kFloat64})
    for (const Dims& d : std::vector<Dims>{{1, 1}, {3, 3}, {4, 5, 5}, {2, 3, 2, 2}}) {
      Tensor x = randomTensor(t, d, rng, -2, 2);
      const int64_t m = d[d.rank() - 1];
      if (d.rank() == 3) {  // make one matrix singular: row 1 = row 0
        for (int64_t j = 0; j < m; ++j) {
          if (t == DType::kFloat32) x.data<float>()[m + j] = x.data<float>()[j];
          else x.data<double>()[m + j] = x.data<double>()[j];
        }
      }
      auto r = runOp({.op = "Det", .inputs = {x}, .opset = 22});
      ASSERT_TRUE(r.ok()) << r.status().toString();
      std::vector<double> want;
      for (int64_t b = 0; b < x.numel() / (m * m); ++b) {
        std::vector<double> a(m * m);
        for (int64_t i = 0; i < m * m; ++i) a[i] = x.doubleAt(b * m * m + i);
        want.push_back(laplaceDet(a, m));
      }
      EXPECT_LE(maxErr((*r)[0], want), t == DType::kFloat64 ? 1e-12 : 1e-4) << d.toString();
      Dims od(d.begin(), d.end() - 2);
      EXPECT_EQ((*r)[0].dims(), od);
    }
  expectError({.op = "Det", .inputs = {randomTensor(DType::kFloat32, {2, 3}, rng)}, .opset = 22}, StatusCode::kInvalidArgument,
              "(..., M, M)");
}

// ---- Unique -------------------------------------------------------------------------------------

TEST(Unique, SortedAndUnsortedWithAndWithoutAxis) {
  // Flat: naive with a map (sorted) and first-occurrence order (unsorted).
  std::vector<float> v = {3, 1, 3, -2, 7, 1, 1, -2, 9, 0, 3};
  Tensor x = Tensor::fromVector<float>(v, {11});
  for (bool sorted : {true, false}) {
    auto r = runOp({.op = "Unique", .attrs = attrs({{"sorted", AttrValue(int64_t{sorted})}}), .inputs = {x}, .numOutputs = 4,
                    .opset = 11});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    std::vector<float> uniq;
    for (float f : v)
      if (std::find(uniq.begin(), uniq.end(), f) == uniq.end()) uniq.push_back(f);
    if (sorted) std::sort(uniq.begin(), uniq.end());
    ASSERT_EQ((*r)[0].numel(), static_cast<int64_t>(uniq.size()));
    for (size_t k = 0; k < uniq.size(); ++k) {
      EXPECT_EQ((*r)[0].data<float>()[k], uniq[k]);
      const int64_t first = std::find(v.begin(), v.end(), uniq[k]) - v.begin();
      EXPECT_EQ((*r)[1].data<int64_t>()[k], first);
      EXPECT_EQ((*r)[3].data<int64_t>()[k], std::count(v.begin(), v.end(), uniq[k]));
    }
    for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(uniq[(*r)[2].data<int64_t>()[i]], v[i]);
  }
  // Axis: unique rows/columns compared lexicographically.
  Tensor m = Tensor::fromVector<int32_t>({1, 0, 1, 2, 2, 2, 2, 1, 0, 5, 0, 0}, {3, 4});
  auto r = runOp({.op = "Unique", .attrs = attrs({{"axis", AttrValue(int64_t{1})}}), .inputs = {m}, .numOutputs = 4, .opset = 11});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  // Columns: c0=(1,2,0) c1=(0,2,5) c2=(1,2,0) c3=(2,1,0) -> sorted: (0,2,5), (1,2,0), (2,1,0).
  EXPECT_EQ((*r)[0].dims(), (Dims{3, 3}));
  EXPECT_EQ(std::vector<int32_t>((*r)[0].data<int32_t>(), (*r)[0].data<int32_t>() + 9),
            (std::vector<int32_t>{0, 1, 2, 2, 2, 1, 5, 0, 0}));
  EXPECT_EQ(std::vector<int64_t>((*r)[1].data<int64_t>(), (*r)[1].data<int64_t>() + 3), (std::vector<int64_t>{1, 0, 3}));
  EXPECT_EQ(std::vector<int64_t>((*r)[2].data<int64_t>(), (*r)[2].data<int64_t>() + 4), (std::vector<int64_t>{1, 0, 1, 2}));
  EXPECT_EQ(std::vector<int64_t>((*r)[3].data<int64_t>(), (*r)[3].data<int64_t>() + 3), (std::vector<int64_t>{1, 2, 1}));
  // Strings.
  auto s = runOp({.op = "Unique", .inputs = {Tensor::fromVector<std::string>({"b", "a", "b", "c"}, {4})}, .opset = 11});
  ASSERT_TRUE(s.ok()) << s.status().toString();
  ASSERT_EQ((*s)[0].numel(), 3);
  EXPECT_EQ((*s)[0].data<std::string>()[0], "a");
  EXPECT_EQ((*s)[0].data<std::string>()[2], "c");
  expectError({.op = "Unique", .attrs = attrs({{"axis", AttrValue(int64_t{2})}}), .inputs = {m}, .opset = 11},
              StatusCode::kInvalidArgument, "out of range");
}

// ---- NonMaxSuppression --------------------------------------------------------------------------

double iou(const float* a, const float* b) {  // corner format, any corner order
  auto lo = [](float p, float q) { return std::min(p, q); };
  auto hi = [](float p, float q) { return std::max(p, q); };
  const double ix = std::min(hi(a[1], a[3]), hi(b[1], b[3])) - std::max(lo(a[1], a[3]), lo(b[1], b[3]));
  const double iy = std::min(hi(a[0], a[2]), hi(b[0], b[2])) - std::max(lo(a[0], a[2]), lo(b[0], b[2]));
  if (ix <= 0 || iy <= 0) return 0;
  const double aa = std::fabs((a[2] - a[0]) * (a[3] - a[1])), ab = std::fabs((b[2] - b[0]) * (b[3] - b[1]));
  return ix * iy / (aa + ab - ix * iy);
}

TEST(NonMaxSuppression, MatchesGreedyReference) {
  std::mt19937 rng(4);
  const int64_t B = 2, C = 3, N = 40;
  Tensor boxes = randomTensor(DType::kFloat32, {B, N, 4}, rng, 0, 10);
  Tensor scores = randomTensor(DType::kFloat32, {B, C, N}, rng, 0, 1);
  const int64_t maxOut = 6;
  const float iouTh = 0.3f, scoreTh = 0.2f;
  auto r = runOp({.op = "NonMaxSuppression",
                  .inputs = {boxes, scores, Tensor::fromVector<int64_t>({maxOut}, {1}), Tensor::fromVector<float>({iouTh}, {1}),
                             Tensor::fromVector<float>({scoreTh}, {1})},
                  .opset = 11});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  std::vector<int64_t> want;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      std::vector<int64_t> order;
      for (int64_t i = 0; i < N; ++i)
        if (scores.data<float>()[(b * C + c) * N + i] > scoreTh) order.push_back(i);
      std::sort(order.begin(), order.end(), [&](int64_t p, int64_t q) {
        const float sp = scores.data<float>()[(b * C + c) * N + p], sq = scores.data<float>()[(b * C + c) * N + q];
        return sp != sq ? sp > sq : p < q;
      });
      std::vector<int64_t> kept;
      for (int64_t i : order) {
        if (static_cast<int64_t>(kept.size()) == maxOut) break;
        bool ok = true;
        for (int64_t k : kept)
          if (iou(boxes.data<float>() + (b * N + i) * 4, boxes.data<float>() + (b * N + k) * 4) > iouTh) ok = false;
        if (ok) {
          kept.push_back(i);
          want.insert(want.end(), {b, c, i});
        }
      }
    }
  const Tensor& got = (*r)[0];
  ASSERT_EQ(got.dims(), (Dims{static_cast<int64_t>(want.size()) / 3, 3}));
  EXPECT_EQ(std::vector<int64_t>(got.data<int64_t>(), got.data<int64_t>() + got.numel()), want);
  // Without max_output_boxes_per_class nothing is selected (the ONNX default is 0).
  auto none = runOp({.op = "NonMaxSuppression", .inputs = {boxes, scores}, .opset = 11});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ((*none)[0].dims(), (Dims{0, 3}));
  OpSpec bad{.op = "NonMaxSuppression", .attrs = attrs({{"center_point_box", AttrValue(int64_t{2})}}), .inputs = {boxes, scores},
             .opset = 11};
  expectError(bad, StatusCode::kInvalidArgument, "center_point_box");
}

TEST(DataDependentShapes, SymbolicAtBuildTimeStaticForConstants) {
  using namespace kiln::ir;
  Graph g;
  const OpDef* def = OpRegistry::global().find("", "Unique");
  AttrMap a;
  ASSERT_TRUE(checkAndFillAttributes(*def, a).ok());
  Value* x = g.addInput("x", DType::kFloat32, Shape{Dim::symbol("N")});
  Node* n = g.addNode("Unique", "", 11, "u", {x}, {"y", "i", "inv", "c"}, a);
  g.setNodeDef(n, def);
  ASSERT_TRUE(inferNode(g, *n).ok());
  const Dim u = n->output(0)->shape()[0];
  EXPECT_TRUE(u.isSymbolic()) << u.toString();
  EXPECT_TRUE(n->output(1)->shape()[0].sameAs(u));
  EXPECT_EQ(n->output(2)->shape().toString(), "[N]");
  // A constant input resolves the count at build time.
  Value* c = g.addConstant("cx", Tensor::fromVector<float>({2, 2, 5}, {3}));
  Node* n2 = g.addNode("Unique", "", 11, "u2", {c}, {"y2"}, a);
  g.setNodeDef(n2, def);
  ASSERT_TRUE(inferNode(g, *n2).ok());
  EXPECT_EQ(n2->output(0)->shape().toString(), "[2]");

  const OpDef* nms = OpRegistry::global().find("", "NonMaxSuppression");
  AttrMap na;
  ASSERT_TRUE(checkAndFillAttributes(*nms, na).ok());
  Value* bx = g.addInput("bx", DType::kFloat32, Shape{Dim(1), Dim::symbol("B"), Dim(4)});
  Value* sc = g.addInput("sc", DType::kFloat32, Shape{Dim(1), Dim(2), Dim::symbol("B")});
  Node* n3 = g.addNode("NonMaxSuppression", "", 11, "nms", {bx, sc}, {"sel"}, na);
  g.setNodeDef(n3, nms);
  ASSERT_TRUE(inferNode(g, *n3).ok());
  EXPECT_TRUE(n3->output(0)->shape()[0].isSymbolic());
  EXPECT_EQ(n3->output(0)->shape()[1].value(), 3);
}

}  // namespace
}  // namespace kiln::testing
