// Reduction kernels against naive references at odd sizes: Reduce* over every axis pattern,
// ArgMax/ArgMin with ties, Softmax family along each axis (and the opset < 13 2-D coercion),
// CumSum/CumProd, TopK; dtype coverage, empty reductions and error cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "backends/cpu/kernels/reduction_common.h"
#include "ir/graph.h"
#include "ir/infer.h"
#include "core/thread_pool.h"
#include "ir/op_registry.h"
#include "op_test_util.h"

namespace kiln::testing {
namespace {

// Row-major multi-index of element i.
std::vector<int64_t> unravel(int64_t i, const Dims& d) {
  std::vector<int64_t> idx(d.rank());
  for (int k = d.rank() - 1; k >= 0; --k) {
    idx[k] = i % d[k];
    i /= d[k];
  }
  return idx;
}
int64_t ravel(const std::vector<int64_t>& idx, const Dims& d) {
  int64_t o = 0;
  for (int k = 0; k < d.rank(); ++k) o = o * d[k] + idx[k];
  return o;
}

Tensor axesTensor(const std::vector<int64_t>& a) {
  return Tensor::fromVector<int64_t>(a, Dims{static_cast<int64_t>(a.size())});
}

// Naive reduction in double: groups input elements by output index (keepdims layout).
std::vector<double> naiveReduce(const std::string& op, const Tensor& x, const std::vector<bool>& red) {
  Dims od = x.dims();
  for (int k = 0; k < od.rank(); ++k)
    if (red[k]) od[k] = 1;
  std::vector<std::vector<double>> groups(od.numel());
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto idx = unravel(i, x.dims());
    for (int k = 0; k < od.rank(); ++k)
      if (red[k]) idx[k] = 0;
    groups[ravel(idx, od)].push_back(x.doubleAt(i));
  }
  std::vector<double> out;
  for (const auto& g : groups) {
    double r = 0;
    if (op == "ReduceSum") for (double v : g) r += v;
    else if (op == "ReduceMean") { for (double v : g) r += v; r /= g.size(); }
    else if (op == "ReduceMax") { r = -INFINITY; for (double v : g) r = std::max(r, v); }
    else if (op == "ReduceMin") { r = INFINITY; for (double v : g) r = std::min(r, v); }
    else if (op == "ReduceProd") { r = 1; for (double v : g) r *= v; }
    else if (op == "ReduceL1") for (double v : g) r += std::fabs(v);
    else if (op == "ReduceL2") { for (double v : g) r += v * v; r = std::sqrt(r); }
    else if (op == "ReduceLogSum") { for (double v : g) r += v; r = std::log(r); }
    else if (op == "ReduceLogSumExp") { for (double v : g) r += std::exp(v); r = std::log(r); }
    else if (op == "ReduceSumSquare") for (double v : g) r += v * v;
    out.push_back(r);
  }
  return out;
}

const char* kReduceOps[] = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                            "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"};

TEST(Reduction, EveryAxisPatternMatchesNaive) {
  std::mt19937 rng(11);
  const Dims shape{3, 5, 1, 7, 4};
  const std::vector<std::vector<int64_t>> axesSets = {
      {4}, {3, 4}, {0}, {1}, {0, 2}, {1, 3}, {0, 1, 3}, {-1, 0}, {2}, {0, 1, 2, 3, 4}, {}};
  for (const char* op : kReduceOps) {
    // Positive inputs keep ReduceLogSum defined; products of 105 values stay finite.
    Tensor x = randomTensor(DType::kFloat32, shape, rng, 0.5, 1.5);
    for (const auto& axes : axesSets) {
      for (int keep : {0, 1}) {
        AttrMap a;
        a.set("keepdims", int64_t{keep});
        auto r = runOp({.op = op, .attrs = a, .inputs = {x, axesTensor(axes)}});
        ASSERT_TRUE(r.ok()) << op << ": " << r.status().toString();
        std::vector<bool> red(shape.rank(), axes.empty());
        for (int64_t ax : axes) red[ax < 0 ? ax + shape.rank() : ax] = true;
        auto want = naiveReduce(op, x, red);
        const Tensor& y = (*r)[0];
        ASSERT_EQ(y.numel(), static_cast<int64_t>(want.size())) << op;
        if (keep) {
          for (int k = 0; k < shape.rank(); ++k) EXPECT_EQ(y.dims()[k], red[k] ? 1 : shape[k]) << op;
        } else {
          int kept = 0;
          for (bool b : red) kept += !b;
          EXPECT_EQ(y.rank(), kept) << op;
        }
        for (int64_t i = 0; i < y.numel(); ++i)
          ASSERT_NEAR(y.doubleAt(i), want[i], 1e-5 * std::max(1.0, std::fabs(want[i])))
              << op << " axes " << axes.size() << " i=" << i;
      }
    }
  }
}

TEST(Reduction, DTypes) {
  std::mt19937 rng(5);
  const Dims shape{4, 9, 6};
  for (DType t : {DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt32, DType::kInt64,
                  DType::kUInt8, DType::kInt8, DType::kUInt64}) {
    Tensor x = randomTensor(t, shape, rng, 0, 3);  // int8 sums of squares stay in range
    for (const char* op : {"ReduceSum", "ReduceMax", "ReduceMin", "ReduceMean", "ReduceSumSquare"}) {
      // Constant axes: shapes are exact at build time.
      auto r = runOp({.op = op, .inputs = {x, axesTensor({1})}, .constInputs = {false, true}});
      ASSERT_TRUE(r.ok()) << op << " " << dtypeName(t) << ": " << r.status().toString();
      EXPECT_EQ((*r)[0].dtype(), t);
      auto want = naiveReduce(op, x, {false, true, false});
      for (int64_t i = 0; i < (*r)[0].numel(); ++i) {
        double w = want[i];
        if (isInteger(t)) w = std::trunc(w);  // integer mean truncates
        double tol = (t == DType::kFloat16 || t == DType::kBFloat16) ? 0.01 * std::max(1.0, std::fabs(w)) : 1e-9;
        ASSERT_NEAR((*r)[0].doubleAt(i), w, tol) << op << " " << dtypeName(t);
      }
    }
  }
  // Integer sums wrap like the element type; means accumulate wider.
  Tensor i8 = Tensor::fromVector<int8_t>({100, 100, -128, -1}, {2, 2});
  auto s8 = runOp({.op = "ReduceSum", .inputs = {i8, axesTensor({1})}});
  auto m8 = runOp({.op = "ReduceMean", .inputs = {i8, axesTensor({1})}});
  ASSERT_TRUE(s8.ok() && m8.ok());
  EXPECT_EQ((*s8)[0].data<int8_t>()[0], static_cast<int8_t>(-56));
  EXPECT_EQ((*s8)[0].data<int8_t>()[1], static_cast<int8_t>(127));
  EXPECT_EQ((*m8)[0].data<int8_t>()[0], 100);
  EXPECT_EQ((*m8)[0].data<int8_t>()[1], -64);  // -129 / 2 truncates toward zero
  Tensor i64 = Tensor::fromVector<int64_t>({std::numeric_limits<int64_t>::max(), 1, -5, 2}, {4});
  auto c64 = runOp({.op = "CumSum", .inputs = {i64, Tensor::scalar<int64_t>(0)}});
  ASSERT_TRUE(c64.ok());
  EXPECT_EQ((*c64)[0].data<int64_t>()[1], std::numeric_limits<int64_t>::min());
  EXPECT_EQ((*c64)[0].data<int64_t>()[3], std::numeric_limits<int64_t>::max() - 2);  // wrapped back
  // Bool: ReduceMax is "any", ReduceMin "all".
  Tensor b = Tensor::fromVector<bool>({true, false, false, true, true, true}, {2, 3});
  auto mx = runOp({.op = "ReduceMax", .inputs = {b, axesTensor({1})}});
  auto mn = runOp({.op = "ReduceMin", .inputs = {b, axesTensor({1})}});
  ASSERT_TRUE(mx.ok() && mn.ok());
  EXPECT_EQ((*mx)[0].data<bool>()[0], true);
  EXPECT_EQ((*mx)[0].data<bool>()[1], true);
  EXPECT_EQ((*mn)[0].data<bool>()[0], false);
  EXPECT_EQ((*mn)[0].data<bool>()[1], true);
}

TEST(Reduction, EmptySetGivesIdentity) {
  Tensor x = Tensor::allocate(DType::kFloat32, {2, 0, 3});
  const std::pair<const char*, float> cases[] = {
      {"ReduceSum", 0.f}, {"ReduceProd", 1.f}, {"ReduceMax", -INFINITY}, {"ReduceMin", INFINITY},
      {"ReduceL1", 0.f},  {"ReduceL2", 0.f},   {"ReduceLogSum", -INFINITY}, {"ReduceLogSumExp", -INFINITY},
      {"ReduceSumSquare", 0.f}};
  for (auto [op, v] : cases) {
    auto r = runOp({.op = op, .inputs = {x, axesTensor({1})}});
    ASSERT_TRUE(r.ok()) << op << ": " << r.status().toString();
    ASSERT_EQ((*r)[0].dims(), (Dims{2, 1, 3})) << op;
    for (int64_t i = 0; i < 6; ++i) EXPECT_EQ((*r)[0].data<float>()[i], v) << op;
  }
  auto m = runOp({.op = "ReduceMean", .inputs = {x, axesTensor({1})}});
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(std::isnan((*m)[0].data<float>()[0]));
  Tensor xi = Tensor::allocate(DType::kInt32, {0, 4});
  auto mi = runOp({.op = "ReduceMax", .inputs = {xi, axesTensor({0})}});
  ASSERT_TRUE(mi.ok());
  EXPECT_EQ((*mi)[0].data<int32_t>()[0], std::numeric_limits<int32_t>::min());
  // A kept axis of size 0: an empty output.
  auto e = runOp({.op = "ReduceSum", .inputs = {Tensor::allocate(DType::kFloat32, {0, 4}), axesTensor({1})}});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)[0].dims(), (Dims{0, 1}));
}

TEST(Reduction, NoopWithEmptyAxesAndDefaults) {
  std::mt19937 rng(2);
  Tensor x = randomTensor(DType::kFloat32, {3, 4}, rng);
  AttrMap noop;
  noop.set("noop_with_empty_axes", int64_t{1});
  auto r = runOp({.op = "ReduceSum", .attrs = noop, .inputs = {x, axesTensor({})}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), x.dims());
  EXPECT_EQ(maxAbsDiff((*r)[0], x), 0.0);
  // No axes input: reduce everything (keepdims -> [1,1]).
  auto all = runOp({.op = "ReduceSum", .inputs = {x}});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)[0].dims(), (Dims{1, 1}));
  double s = 0;
  for (int64_t i = 0; i < x.numel(); ++i) s += x.doubleAt(i);
  EXPECT_NEAR((*all)[0].doubleAt(0), s, 1e-5);
}

TEST(Reduction, NaNPropagatesThroughMaxMin) {
  Tensor x = Tensor::fromVector<float>({1, NAN, 3, 4, 5, 6}, {2, 3});
  for (const char* op : {"ReduceMax", "ReduceMin"}) {
    auto r = runOp({.op = op, .inputs = {x, axesTensor({1})}});
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(std::isnan((*r)[0].data<float>()[0])) << op;
    EXPECT_FALSE(std::isnan((*r)[0].data<float>()[1])) << op;
  }
}

TEST(Reduction, BadAxesAreErrors) {
  Tensor x = Tensor::allocate(DType::kFloat32, {2, 3});
  auto r = runOp({.op = "ReduceSum", .inputs = {x, axesTensor({2})}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("out of range"), std::string::npos) << r.status().toString();
  auto d = runOp({.op = "ReduceMean", .inputs = {x, axesTensor({1, -1})}});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("repeats"), std::string::npos) << d.status().toString();
  // Axes computed at run time are validated there too.
  auto rt = runOp({.op = "ReduceMax", .inputs = {x, axesTensor({-3})}, .constInputs = {false, false}});
  ASSERT_FALSE(rt.ok());
  auto s = runOp({.op = "ReduceLogSumExp", .inputs = {Tensor::allocate(DType::kString, {2})}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnsupported);
}

std::vector<double> naiveSoftmax(const std::string& op, const Tensor& x, int64_t outer, int64_t n, int64_t inner);

TEST(Reduction, LargeShapesSplitAcrossThreads) {
  const int saved = ThreadPool::global().numThreads();
  ThreadPool::setGlobalThreads(4);
  std::mt19937 rng(77);
  Tensor x = randomTensor(DType::kFloat32, {70, 3, 1031}, rng, 0.5, 1.5);
  for (std::vector<int64_t> axes : {std::vector<int64_t>{2}, {0}, {0, 2}, {1}}) {
    for (const char* op : {"ReduceSum", "ReduceMax", "ReduceL2", "ReduceLogSumExp"}) {
      auto r = runOp({.op = op, .inputs = {x, axesTensor(axes)}});
      ASSERT_TRUE(r.ok()) << r.status().toString();
      std::vector<bool> red(3, false);
      for (int64_t a : axes) red[a] = true;
      auto want = naiveReduce(op, x, red);
      for (int64_t i = 0; i < (*r)[0].numel(); ++i)
        ASSERT_NEAR((*r)[0].doubleAt(i), want[i], 1e-5 * std::max(1.0, std::fabs(want[i]))) << op << " i=" << i;
    }
  }
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    for (int axis : {2, 0}) {
      AttrMap a;
      a.set("axis", int64_t{axis});
      auto r = runOp({.op = op, .attrs = a, .inputs = {x}});
      ASSERT_TRUE(r.ok()) << r.status().toString();
      cpu::AxisSplit s = cpu::splitAt(x.dims(), axis);
      auto want = naiveSoftmax(op, x, s.outer, s.n, s.inner);
      for (int64_t i = 0; i < x.numel(); ++i)
        ASSERT_NEAR((*r)[0].doubleAt(i), want[i], 1e-6 * std::max(1.0, std::fabs(want[i]))) << op << " " << axis;
    }
  }
  ThreadPool::setGlobalThreads(saved);
}

// ---- ArgMax / ArgMin ------------------------------------------------------------------

TEST(Reduction, ArgMaxArgMinWithTies) {
  std::mt19937 rng(9);
  const Dims shape{3, 7, 5};
  Tensor x = randomTensor(DType::kInt32, shape, rng, 0, 3);  // many ties
  for (const char* op : {"ArgMax", "ArgMin"}) {
    const bool isMax = std::string(op) == "ArgMax";
    for (int axis = -3; axis < 3; ++axis) {
      for (int last : {0, 1}) {
        AttrMap a;
        a.set("axis", int64_t{axis});
        a.set("select_last_index", int64_t{last});
        a.set("keepdims", int64_t{0});
        auto r = runOp({.op = op, .attrs = a, .inputs = {x}});
        ASSERT_TRUE(r.ok()) << r.status().toString();
        const Tensor& y = (*r)[0];
        const int ax = axis < 0 ? axis + 3 : axis;
        Dims od = shape;
        od[ax] = 1;
        ASSERT_EQ(y.numel(), od.numel());
        for (int64_t o = 0; o < od.numel(); ++o) {
          auto idx = unravel(o, od);
          int64_t best = 0;
          double bv = 0;
          for (int64_t i = 0; i < shape[ax]; ++i) {
            idx[ax] = i;
            double v = x.doubleAt(ravel(idx, shape));
            bool take = i == 0 || (isMax ? (last ? v >= bv : v > bv) : (last ? v <= bv : v < bv));
            if (take) best = i, bv = v;
          }
          ASSERT_EQ(y.data<int64_t>()[o], best) << op << " axis " << axis << " last " << last;
        }
      }
    }
  }
  auto bad = runOp({.op = "ArgMax", .attrs = [] { AttrMap a; a.set("axis", int64_t{3}); return a; }(), .inputs = {x}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

// ---- Softmax family -------------------------------------------------------------------

std::vector<double> naiveSoftmax(const std::string& op, const Tensor& x, int64_t outer, int64_t n, int64_t inner) {
  std::vector<double> y(x.numel());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      auto at = [&](int64_t i) { return (o * n + i) * inner + j; };
      double m = -INFINITY, s = 0;
      int64_t am = 0;
      for (int64_t i = 0; i < n; ++i)
        if (x.doubleAt(at(i)) > m) m = x.doubleAt(at(i)), am = i;
      for (int64_t i = 0; i < n; ++i) s += std::exp(x.doubleAt(at(i)) - m);
      for (int64_t i = 0; i < n; ++i) {
        double v = x.doubleAt(at(i));
        y[at(i)] = op == "Softmax" ? std::exp(v - m) / s : op == "LogSoftmax" ? v - m - std::log(s) : (i == am ? 1 : 0);
      }
    }
  return y;
}

TEST(Reduction, SoftmaxFamilyAlongEachAxis) {
  std::mt19937 rng(21);
  const Dims shape{3, 5, 7, 33};
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16}) {
    Tensor x = randomTensor(t, shape, rng, -8, 8);
    for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) {
      for (int axis = -4; axis < 4; ++axis) {
        AttrMap a;
        a.set("axis", int64_t{axis});
        auto r = runOp({.op = op, .attrs = a, .inputs = {x}});
        ASSERT_TRUE(r.ok()) << r.status().toString();
        const int ax = axis < 0 ? axis + 4 : axis;
        cpu::AxisSplit s = cpu::splitAt(shape, ax);
        auto want = naiveSoftmax(op, x, s.outer, s.n, s.inner);
        const double tol = t == DType::kFloat16 ? 5e-3 : 1e-5;
        for (int64_t i = 0; i < x.numel(); ++i)
          ASSERT_NEAR((*r)[0].doubleAt(i), want[i], tol * std::max(1.0, std::fabs(want[i])))
              << op << " " << dtypeName(t) << " axis " << axis << " i " << i;
      }
    }
  }
}

TEST(Reduction, SoftmaxLegacyCoercion) {
  std::mt19937 rng(4);
  const Dims shape{2, 3, 4, 5};
  Tensor x = randomTensor(DType::kFloat32, shape, rng, -3, 3);
  for (int axis : {0, 1, 2, 4}) {
    AttrMap a;
    a.set("axis", int64_t{axis});
    a.set("kiln_coerce_2d", int64_t{1});
    auto r = runOp({.op = "Softmax", .attrs = a, .inputs = {x}});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    int64_t outer = 1;
    for (int i = 0; i < axis; ++i) outer *= shape[i];
    auto want = naiveSoftmax("Softmax", x, outer, x.numel() / outer, 1);
    for (int64_t i = 0; i < x.numel(); ++i) ASSERT_NEAR((*r)[0].doubleAt(i), want[i], 1e-6) << axis;
  }
}

TEST(Reduction, SoftmaxIsStableAndPropagatesNaN) {
  Tensor x = Tensor::fromVector<float>({1000, 1001, 1002, -1e30f, NAN, 0, 1, 2}, {2, 4});
  auto r = runOp({.op = "Softmax", .inputs = {x}});
  ASSERT_TRUE(r.ok());
  const float* y = (*r)[0].data<float>();
  EXPECT_NEAR(y[2], std::exp(2.0) / (1 + std::exp(1.0) + std::exp(2.0)), 1e-6);
  EXPECT_EQ(y[3], 0.0f);
  for (int i = 4; i < 8; ++i) EXPECT_TRUE(std::isnan(y[i]));
  auto bad = runOp({.op = "Softmax", .attrs = [] { AttrMap a; a.set("axis", int64_t{2}); return a; }(), .inputs = {x}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(Reduction, ExpFastAccuracy) {
  double worst = 0;
  for (float v = -87.0f; v < 88.5f; v += 0.0137f) {
    double want = std::exp(static_cast<double>(v));
    worst = std::max(worst, std::fabs(cpu::expFast(v) - want) / want);
  }
  EXPECT_LT(worst, 4e-7);
  EXPECT_EQ(cpu::expFast(-INFINITY), 0.0f);
  EXPECT_EQ(cpu::expFast(-100.0f), 0.0f);
  EXPECT_EQ(cpu::expFast(0.0f), 1.0f);
  EXPECT_TRUE(std::isinf(cpu::expFast(89.0f)));
  EXPECT_TRUE(std::isinf(cpu::expFast(INFINITY)));
  EXPECT_TRUE(std::isnan(cpu::expFast(NAN)));
}

// ---- CumSum / CumProd -----------------------------------------------------------------

TEST(Reduction, CumulativeMatchesNaive) {
  std::mt19937 rng(8);
  const Dims shape{3, 6, 5};
  for (DType t : {DType::kFloat32, DType::kInt32, DType::kFloat64}) {
    Tensor x = randomTensor(t, shape, rng, 0.5, 2);
    for (const char* op : {"CumSum", "CumProd"}) {
      const bool prod = std::string(op) == "CumProd";
      for (int64_t axis : {0, 1, 2, -1}) {
        for (int excl : {0, 1})
          for (int rev : {0, 1}) {
            AttrMap a;
            a.set("exclusive", int64_t{excl});
            a.set("reverse", int64_t{rev});
            auto r = runOp({.op = op, .attrs = a, .inputs = {x, Tensor::scalar<int64_t>(axis)}, .opset = 26});
            ASSERT_TRUE(r.ok()) << r.status().toString();
            const int ax = static_cast<int>(axis < 0 ? axis + 3 : axis);
            for (int64_t i = 0; i < x.numel(); ++i) {
              auto idx = unravel(i, shape);
              double acc = prod ? 1 : 0;
              for (int64_t k = 0; k < shape[ax]; ++k) {
                bool in = rev ? (excl ? k > idx[ax] : k >= idx[ax]) : (excl ? k < idx[ax] : k <= idx[ax]);
                if (!in) continue;
                auto j = idx;
                j[ax] = k;
                double v = x.doubleAt(ravel(j, shape));
                acc = prod ? acc * v : acc + v;
              }
              ASSERT_NEAR((*r)[0].doubleAt(i), acc, 1e-5 * std::max(1.0, std::fabs(acc)))
                  << op << " " << dtypeName(t) << " axis " << axis << " excl " << excl << " rev " << rev;
            }
          }
      }
    }
  }
  auto bad = runOp({.op = "CumSum", .inputs = {Tensor::allocate(DType::kFloat32, {2, 2}), Tensor::scalar<int32_t>(2)}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

// ---- TopK -----------------------------------------------------------------------------

TEST(Reduction, TopKMatchesStableSort) {
  std::mt19937 rng(13);
  const Dims shape{4, 37, 3};
  Tensor x = randomTensor(DType::kFloat32, shape, rng, 0, 6);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::round(x.data<float>()[i]);  // ties
  for (int axis : {1, 0, -1}) {
    const int ax = axis < 0 ? axis + 3 : axis;
    for (int64_t k : {int64_t{0}, int64_t{1}, int64_t{3}, shape[ax]}) {
      for (int largest : {0, 1}) {
        AttrMap a;
        a.set("axis", int64_t{axis});
        a.set("largest", int64_t{largest});
        auto r = runOp({.op = "TopK", .attrs = a, .inputs = {x, Tensor::fromVector<int64_t>({k}, {1})}, .numOutputs = 2});
        ASSERT_TRUE(r.ok()) << r.status().toString();
        const Tensor &v = (*r)[0], &ix = (*r)[1];
        Dims od = shape;
        od[ax] = k;
        ASSERT_EQ(v.dims(), od);
        ASSERT_EQ(ix.dtype(), DType::kInt64);
        Dims sd = shape;
        sd[ax] = 1;
        for (int64_t s = 0; s < sd.numel(); ++s) {
          auto idx = unravel(s, sd);
          std::vector<int64_t> order(shape[ax]);
          std::iota(order.begin(), order.end(), 0);
          auto val = [&](int64_t i) { auto j = idx; j[ax] = i; return x.doubleAt(ravel(j, shape)); };
          std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) {
            return largest ? val(p) > val(q) : val(p) < val(q);
          });
          for (int64_t i = 0; i < k; ++i) {
            auto j = idx;
            j[ax] = i;
            ASSERT_EQ(ix.data<int64_t>()[ravel(j, od)], order[i]) << "axis " << axis << " k " << k;
            ASSERT_EQ(v.doubleAt(ravel(j, od)), val(order[i]));
          }
        }
      }
    }
  }
  auto bad = runOp({.op = "TopK", .inputs = {x, Tensor::fromVector<int64_t>({4}, {1})}, .numOutputs = 2});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("exceeds"), std::string::npos) << bad.status().toString();
  auto neg = runOp({.op = "TopK", .inputs = {x, Tensor::fromVector<int64_t>({-1}, {1})}, .numOutputs = 2});
  ASSERT_FALSE(neg.ok());
}


TEST(Reduction, EmptyTensorsDoNotCrash) {
  Tensor e = Tensor::allocate(DType::kFloat32, {0, 5});
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax", "ArgMax", "ArgMin"}) {
    auto r = runOp({.op = op, .attrs = [] { AttrMap m; m.set("axis", int64_t{1}); return m; }(), .inputs = {e}});
    ASSERT_TRUE(r.ok()) << op << ": " << r.status().toString();
    EXPECT_EQ((*r)[0].numel(), 0) << op;
  }
  auto t = runOp({.op = "TopK", .inputs = {e, Tensor::fromVector<int64_t>({2}, {1})}, .numOutputs = 2});
  ASSERT_TRUE(t.ok()) << t.status().toString();
  auto c = runOp({.op = "CumSum", .inputs = {e, Tensor::scalar<int64_t>(1)}});
  ASSERT_TRUE(c.ok()) << c.status().toString();
  // ArgMax over an empty axis has no answer.
  auto a = runOp({.op = "ArgMax", .attrs = [] { AttrMap m; m.set("axis", int64_t{0}); return m; }(),
                  .inputs = {Tensor::allocate(DType::kFloat32, {0, 3})}});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
}

// ---- Build-time inference and import hooks --------------------------------------------

struct OneNode {
  ir::Graph g;
  ir::Node* n = nullptr;
  Status add(const std::string& op, const std::vector<ir::Value*>& ins, AttrMap attrs, int opset, int outs = 1) {
    std::vector<std::string> names;
    for (int i = 0; i < outs; ++i) names.push_back(fmt::format("{}_out{}", op, i));
    n = g.addNode(op, "", opset, op, ins, names, std::move(attrs));
    const ir::OpDef* def = ir::OpRegistry::global().find("", op);
    g.setNodeDef(n, def);
    if (def->import) {
      ir::ImportContext ictx(g, *n, opset);
      KILN_RETURN_IF_ERROR(def->import(ictx));
    }
    KILN_RETURN_IF_ERROR(ir::checkAndFillAttributes(*def, n->attrs()));
    return ir::inferNode(g, *n);
  }
};

TEST(Reduction, SymbolicInference) {
  const Dim batch = Dim::symbol("batch");
  {
    OneNode t;
    ir::Value* x = t.g.addInput("x", DType::kFloat32, Shape({batch, 7, 5}));
    ir::Value* axes = t.g.addConstant("axes", axesTensor({-2}));
    ASSERT_TRUE(t.add("ReduceMean", {x, axes}, [] { AttrMap a; a.set("keepdims", int64_t{0}); return a; }(), 18).ok());
    EXPECT_EQ(t.n->output(0)->shape().toString(), "[batch,5]");
  }
  {
    // Axes known only at run time: keepdims keeps the rank; without it the count decides.
    OneNode t;
    ir::Value* x = t.g.addInput("x", DType::kFloat32, Shape({batch, 7, 5}));
    ir::Value* axes = t.g.addInput("axes", DType::kInt64, Shape({2}));
    ASSERT_TRUE(t.add("ReduceMax", {x, axes}, {}, 18).ok());
    EXPECT_EQ(t.n->output(0)->shape().rank(), 3);
    OneNode u;
    ir::Value* x2 = u.g.addInput("x", DType::kFloat32, Shape({batch, 7, 5}));
    ir::Value* a2 = u.g.addInput("axes", DType::kInt64, Shape({2}));
    ASSERT_TRUE(u.add("ReduceMax", {x2, a2}, [] { AttrMap a; a.set("keepdims", int64_t{0}); return a; }(), 18).ok());
    EXPECT_EQ(u.n->output(0)->shape().rank(), 1);
  }
  {
    // Shape -> ReduceProd: the element count as a symbolic value.
    OneNode t;
    ir::Value* x = t.g.addInput("x", DType::kFloat32, Shape({batch, 7, 5}));
    ASSERT_TRUE(t.add("Shape", {x}, {}, 18).ok());
    ir::Value* shape = t.n->output(0);
    ASSERT_TRUE(t.add("ReduceProd", {shape}, [] { AttrMap a; a.set("keepdims", int64_t{0}); return a; }(), 18).ok());
    const auto& v = t.n->output(0)->symbolicValue();
    ASSERT_TRUE(v.has_value());
    ASSERT_EQ(v->size(), 1u);
    EXPECT_TRUE((*v)[0].sameAs(batch * Dim(7) * Dim(5))) << (*v)[0].toString();
  }
  {
    // TopK with K known only at run time: both outputs share one new symbol.
    OneNode t;
    ir::Value* x = t.g.addInput("x", DType::kFloat32, Shape({batch, 50}));
    ir::Value* k = t.g.addInput("k", DType::kInt64, Shape({1}));
    ASSERT_TRUE(t.add("TopK", {x, k}, {}, 11, 2).ok());
    const Shape& v = t.n->output(0)->shape();
    ASSERT_EQ(v.rank(), 2);
    EXPECT_TRUE(v[0].sameAs(batch));
    EXPECT_TRUE(v[1].isSymbolic());
    EXPECT_TRUE(t.n->output(1)->shape()[1].sameAs(v[1]));
    EXPECT_EQ(t.n->output(1)->dtype(), DType::kInt64);
  }
  {
    OneNode t;
    ir::Value* x = t.g.addInput("x", DType::kFloat32, Shape({batch, 50}));
    ir::Value* k = t.g.addConstant("k", Tensor::fromVector<int64_t>({60}, {1}));
    Status st = t.add("TopK", {x, k}, {}, 11, 2);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("exceeds"), std::string::npos) << st.toString();
  }
}

TEST(Reduction, ImportHooksCanonicalizeOldForms) {
  {
    // ReduceSum < 13: the axes attribute becomes input 1.
    OneNode t;
    ir::Value* x = t.g.addInput("x", DType::kFloat32, Shape({2, 3, 4}));
    AttrMap a;
    a.set("axes", std::vector<int64_t>{0, 2});
    ASSERT_TRUE(t.add("ReduceSum", {x}, a, 11).ok());
    ASSERT_EQ(t.n->numInputs(), 2);
    ASSERT_TRUE(t.n->input(1)->isConstant());
    EXPECT_EQ(t.n->input(1)->constant().intAt(1), 2);
    EXPECT_FALSE(t.n->attrs().has("axes"));
    EXPECT_EQ(t.n->output(0)->shape().toString(), "[1,3,1]");
  }
  {
    // Softmax < 13 at axis 1 of a 4-D input normalizes over the flattened [1:] block.
    OneNode t;
    ir::Value* x = t.g.addInput("x", DType::kFloat32, Shape({2, 3, 4, 5}));
    ASSERT_TRUE(t.add("Softmax", {x}, {}, 11).ok());
    EXPECT_EQ(t.n->attrs().getInt("axis"), 1);
    EXPECT_EQ(t.n->attrs().getInt("kiln_coerce_2d"), 1);
  }
  {
    // ... which is the opset-13 form when the later dims are 1.
    OneNode t;
    ir::Value* x = t.g.addInput("x", DType::kFloat32, Shape({2, 3, 1, 1}));
    AttrMap a;
    a.set("axis", int64_t{-3});
    ASSERT_TRUE(t.add("LogSoftmax", {x}, a, 11).ok());
    EXPECT_EQ(t.n->attrs().getInt("axis"), 1);
    EXPECT_EQ(t.n->attrs().getInt("kiln_coerce_2d"), 0);
  }
  {
    // TopK < 10: the k attribute becomes input 1.
    OneNode t;
    ir::Value* x = t.g.addInput("x", DType::kFloat32, Shape({4, 9}));
    AttrMap a;
    a.set("k", int64_t{3});
    ASSERT_TRUE(t.add("TopK", {x}, a, 1, 2).ok());
    EXPECT_EQ(t.n->output(0)->shape().toString(), "[4,3]");
  }
}

}  // namespace
}  // namespace kiln::testing
