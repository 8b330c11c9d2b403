// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss CUDA kernels (cuda_loss_nll, cuda_loss_sce)
// against the CPU reference: every reduction, with and without weights, ignore_index used by the
// labels, set but unused, or absent (negative too), 2-D and 4-D scores, every float type, SCE with
// and without log_prob; plus shapes that take the multi-block and block-per-row paths.
#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "data_test_util.h"

namespace kiln::testing {
namespace {

using data_test::attrs;
using data_test::Desc;
using data_test::supports;

struct Case {
  bool softmax = false;
  DType type = DType::kFloat32;
  Dims x;
  const char* reduction = "mean";
  bool weighted = false;
  std::optional<int64_t> ignore;  // the ignore_index attribute
  bool ignoreInLabels = true;     // every third label is set to it
  DType labelType = DType::kInt64;
  bool logProb = false;  // SCE's second output
};

void setLabel(Tensor& t, int64_t i, int64_t v) {
  if (t.dtype() == DType::kInt64) t.data<int64_t>()[i] = v;
  else t.data<int32_t>()[i] = static_cast<int32_t>(v);
}

OpSpec lossSpec(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t C = c.x[1];
  // NLL scores look like log-probabilities (negative), so every loss is positive and sums do not
  // cancel (which would make the relative comparison meaningless); SCE losses are positive anyway.
  Tensor x = c.softmax ? randomTensor(c.type, c.x, rng, -3.0, 3.0) : randomTensor(c.type, c.x, rng, -4.0, -0.1);
  Dims td = c.x;
  td.erase(1);
  Tensor t = randomTensor(c.labelType, td, rng, 0.0, static_cast<double>(C - 1));
  if (c.ignore && c.ignoreInLabels)
    for (int64_t i = 0; i < t.numel(); i += 3) setLabel(t, i, *c.ignore);
  OpSpec s;
  s.op = c.softmax ? "SoftmaxCrossEntropyLoss" : "NegativeLogLikelihoodLoss";
  s.attrs = attrs({{"reduction", AttrValue(c.reduction)}});
  if (c.ignore) s.attrs.set("ignore_index", AttrValue(*c.ignore));
  s.inputs = {x, t};
  if (c.weighted) s.inputs.push_back(randomTensor(c.type, {C}, rng, 0.1, 2.0));
  s.numOutputs = c.softmax && c.logProb ? 2 : 1;
  s.opset = 13;
  return s;
}

double tolFor(DType t) {
  switch (t) {
    case DType::kFloat16: return 2e-3;  // the outputs' own rounding
    case DType::kBFloat16: return 1.5e-2;
    case DType::kFloat64: return 1e-10;
    default: return 1e-5;
  }
}

void expectCase(const Case& c, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << (c.softmax ? "SCE " : "NLL ") << dtypeName(c.type) << " " << c.x.toString()
                                    << " " << c.reduction << " weighted=" << c.weighted << " ignore="
                                    << (c.ignore ? std::to_string(*c.ignore) : "none")
                                    << " inLabels=" << c.ignoreInLabels << " labels=" << dtypeName(c.labelType)
                                    << " logProb=" << c.logProb);
  expectGpuMatchesCpu(lossSpec(c, seed), tolFor(c.type));
}

// Every reduction x weight x ignore_index setting for one score shape and type.
void sweep(bool softmax, DType type, const Dims& x) {
  struct Ignore {
    std::optional<int64_t> value;
    bool inLabels;
  };
  const Ignore ignores[] = {{std::nullopt, false}, {2, true}, {-1, true}, {-100, false}, {x[1] + 3, false}};
  uint32_t seed = 1;
  for (const char* red : {"none", "sum", "mean"})
    for (bool weighted : {false, true})
      for (const Ignore& ig : ignores) {
        Case c;
        c.softmax = softmax;
        c.type = type;
        c.x = x;
        c.reduction = red;
        c.weighted = weighted;
        c.ignore = ig.value;
        c.ignoreInLabels = ig.inLabels;
        c.labelType = seed % 2 ? DType::kInt64 : DType::kInt32;
        c.logProb = softmax && seed % 3 != 0;
        expectCase(c, seed++);
      }
}

TEST(LossNll, Reductions2D) {
  KILN_REQUIRE_GPU();
  sweep(false, DType::kFloat32, {7, 13});
}

TEST(LossNll, Reductions4D) {
  KILN_REQUIRE_GPU();
  sweep(false, DType::kFloat32, {7, 13, 5, 3});
}

TEST(LossNll, Float16) {
  KILN_REQUIRE_GPU();
  sweep(false, DType::kFloat16, {7, 13});
  sweep(false, DType::kFloat16, {7, 13, 5, 3});
}

TEST(LossSce, Reductions2D) {
  KILN_REQUIRE_GPU();
  sweep(true, DType::kFloat32, {7, 13});
}

TEST(LossSce, Reductions4D) {
  KILN_REQUIRE_GPU();
  sweep(true, DType::kFloat32, {7, 13, 5, 3});
}

TEST(LossSce, Float16) {
  KILN_REQUIRE_GPU();
  sweep(true, DType::kFloat16, {7, 13});
  sweep(true, DType::kFloat16, {7, 13, 5, 3});
}

TEST(LossSce, LogProbOutputOnAndOff) {
  KILN_REQUIRE_GPU();
  for (const Dims& x : {Dims{7, 13}, Dims{7, 13, 5, 3}})
    for (bool logProb : {false, true}) {
      Case c;
      c.softmax = true;
      c.x = x;
      c.weighted = true;
      c.ignore = 4;
      c.logProb = logProb;
      expectCase(c, 11);
    }
}

TEST(LossOtherTypes, DoubleAndBFloat16) {
  KILN_REQUIRE_GPU();
  for (bool softmax : {false, true}) {
    Case c;
    c.softmax = softmax;
    c.type = DType::kFloat64;
    c.x = {7, 13, 5};
    c.weighted = true;
    c.ignore = -1;
    c.logProb = true;
    expectCase(c, 21);
    c.type = DType::kBFloat16;
    c.x = {7, 13};
    c.reduction = "sum";
    c.labelType = DType::kInt32;
    expectCase(c, 22);
  }
}

// Shapes large enough for several blocks (partial sums through the workspace), SCE rows long
// enough for a block per row, and a trailing spatial dim of 1 (contiguous rows at rank 3).
TEST(LossLarge, MultiBlockAndLongRows) {
  KILN_REQUIRE_GPU();
  const Dims shapes[] = {{300, 13, 37}, {1000, 29}, {37, 2000}, {64, 13, 200}, {7, 13, 1}};
  uint32_t seed = 31;
  for (bool softmax : {false, true})
    for (const Dims& x : shapes)
      for (const char* red : {"none", "sum", "mean"}) {
        Case c;
        c.softmax = softmax;
        c.x = x;
        c.reduction = red;
        c.weighted = true;
        c.ignore = 1;
        c.logProb = softmax;
        expectCase(c, seed++);
      }
  Case h;
  h.softmax = true;
  h.type = DType::kFloat16;
  h.x = {37, 2000};
  h.ignore = 0;
  h.logProb = true;
  expectCase(h, 41);
}

// Every label ignored: the loss sums to 0 and the mean is 0 / 0 = NaN, as on the CPU.
TEST(LossAllIgnored, SumZeroMeanNaN) {
  KILN_REQUIRE_GPU();
  for (bool softmax : {false, true}) {
    OpSpec s = lossSpec({.softmax = softmax, .x = {5, 7, 3}, .reduction = "sum", .weighted = true, .ignore = -1}, 51);
    Tensor& t = s.inputs[1];
    for (int64_t i = 0; i < t.numel(); ++i) setLabel(t, i, -1);
    expectGpuMatchesCpu(s, 0.0);
    s.attrs.set("reduction", AttrValue("none"));
    expectGpuMatchesCpu(s, 0.0);
    s.attrs.set("reduction", AttrValue("mean"));
    auto cpu = runOp(s);
    ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
    EXPECT_TRUE(std::isnan((*cpu)[0].doubleAt(0)));
    auto gpu = runOpCuda(s);
    ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
    EXPECT_TRUE(std::isnan((*gpu)[0].doubleAt(0)));
  }
}

// A label outside [0, C) that is not ignore_index is an error on the CPU; the GPU cannot report
// it, so that position loses 0 and weighs 0 (loss.cu).
TEST(LossOutOfRangeLabel, CountsAsIgnoredOnGpu) {
  KILN_REQUIRE_GPU();
  const Tensor x = Tensor::fromVector<float>({-1, -2, -3, -4, -5, -6, -7, -8, -9}, Dims{3, 3});
  OpSpec s;
  s.op = "NegativeLogLikelihoodLoss";
  s.attrs = attrs({{"reduction", AttrValue("none")}});
  s.inputs = {x, Tensor::fromVector<int64_t>({0, 7, 2}, Dims{3})};
  s.opset = 13;
  auto none = runOpCuda(s);
  ASSERT_TRUE(none.ok()) << none.status().toString();
  EXPECT_EQ((*none)[0].doubleAt(0), 1.0);
  EXPECT_EQ((*none)[0].doubleAt(1), 0.0);
  EXPECT_EQ((*none)[0].doubleAt(2), 9.0);
  s.attrs.set("reduction", AttrValue("mean"));
  auto mean = runOpCuda(s);
  ASSERT_TRUE(mean.ok()) << mean.status().toString();
  EXPECT_EQ((*mean)[0].doubleAt(0), 5.0);  // (1 + 9) / 2
}

// Registry and `supports` (no GPU needed).
TEST(LossSupports, TacticsAndTypes) {
  const auto nll = cudaTacticsFor("NegativeLogLikelihoodLoss");
  const auto sce = cudaTacticsFor("SoftmaxCrossEntropyLoss");
  EXPECT_NE(std::find(nll.begin(), nll.end(), "cuda_loss_nll"), nll.end());
  EXPECT_NE(std::find(sce.begin(), sce.end(), "cuda_loss_sce"), sce.end());
  const AttrMap red = attrs({{"reduction", AttrValue("mean")}});
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64})
    for (DType l : {DType::kInt32, DType::kInt64}) {
      Desc n("NegativeLogLikelihoodLoss", red, {t, l, t}, {t});
      EXPECT_TRUE(supports("cuda_loss_nll", n.d)) << dtypeName(t) << " " << dtypeName(l);
      Desc s("SoftmaxCrossEntropyLoss", red, {t, l}, {t, t});
      EXPECT_TRUE(supports("cuda_loss_sce", s.d)) << dtypeName(t) << " " << dtypeName(l);
    }
  Desc intScores("NegativeLogLikelihoodLoss", red, {DType::kInt32, DType::kInt64}, {DType::kInt32});
  EXPECT_FALSE(supports("cuda_loss_nll", intScores.d));
  Desc floatLabels("SoftmaxCrossEntropyLoss", red, {DType::kFloat32, DType::kFloat32}, {DType::kFloat32});
  EXPECT_FALSE(supports("cuda_loss_sce", floatLabels.d));
  Desc mixedWeight("NegativeLogLikelihoodLoss", red, {DType::kFloat16, DType::kInt64, DType::kFloat32}, {DType::kFloat16});
  EXPECT_FALSE(supports("cuda_loss_nll", mixedWeight.d));
}

}  // namespace
}  // namespace kiln::testing
