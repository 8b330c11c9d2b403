// With BuildConfig::cappedTiming the builder re-times large batch-heavy layers at the card's
// power cap (cuda_tactics.cc): a big fp16 MatMul has candidates re-timed and the choice is the
// fastest of them there; a small one and a weight-bound one (few rows, large weights) keep the
// plain samples, and so does every layer with the option off (the default).
#include <random>

#include <gtest/gtest.h>

#include "gpu_test_util.h"
#include "kiln/builder.h"
#include "model_builder.h"
#include "op_test_util.h"

namespace kiln::testing {
namespace {

// x [rows, k] (an input) times a constant [k, n], in float16.
BuildReport buildMatMul(int64_t rows, int64_t k, int64_t n, bool capped = true) {
  std::mt19937 rng(7);
  ModelBuilder mb(17);
  mb.input("x", {std::to_string(rows), std::to_string(k)}, ::onnx::TensorProto::FLOAT16);
  mb.initializer("w", randomTensor(DType::kFloat16, {k, n}, rng, -0.1, 0.1));
  mb.node("MatMul", {"x", "w"}, {"y"});
  mb.output("y");
  BuildConfig cfg;
  cfg.target = Target::kCUDA;
  cfg.optimizationLevel = 3;
  cfg.cappedTiming = capped;
  BuildReport report;
  auto bytes = buildEngineFromBytes(mb.bytes(), "", "capped", cfg, &report);
  EXPECT_TRUE(bytes.ok()) << bytes.status().toString();
  return report;
}

int cappedCount(const TacticTiming& t) {
  int n = 0;
  for (const auto& c : t.candidates) n += c.cappedMicroseconds >= 0;
  return n;
}

TEST(CudaCappedTiming, LargeBatchHeavyMatMulIsRetimedAtThePowerCap) {
  KILN_REQUIRE_GPU();
  const BuildReport r = buildMatMul(16384, 1024, 2048);  // 69 GFLOP: tens of us on any recent GPU
  ASSERT_EQ(r.tacticTimings.size(), 1u);
  const TacticTiming& t = r.tacticTimings[0];
  ASSERT_GE(cappedCount(t), 1) << "no candidate was re-timed";
  const TacticTiming::Candidate* chosen = nullptr;
  double bestPlain = 1e30;
  for (const auto& c : t.candidates) {
    if (c.tactic == t.chosen) chosen = &c;
    if (c.passedCheck) bestPlain = std::min(bestPlain, c.microseconds);
  }
  ASSERT_NE(chosen, nullptr);
  ASSERT_GE(chosen->cappedMicroseconds, 0.0) << "the choice was not among the re-timed candidates";
  for (const auto& c : t.candidates) {
    if (c.cappedMicroseconds < 0) {
      // Not re-timed: outside the window around the best plain time (or failed the check).
      EXPECT_TRUE(!c.passedCheck || c.microseconds > 1.25 * bestPlain) << c.tactic;
      continue;
    }
    EXPECT_TRUE(c.passedCheck) << c.tactic;
    EXPECT_LE(chosen->cappedMicroseconds, c.cappedMicroseconds) << c.tactic;
  }
}

TEST(CudaCappedTiming, SmallAndWeightBoundLayersKeepThePlainSamples) {
  KILN_REQUIRE_GPU();
  {
    SCOPED_TRACE("the option off");
    const BuildReport r = buildMatMul(16384, 1024, 2048, /*capped=*/false);
    ASSERT_EQ(r.tacticTimings.size(), 1u);
    EXPECT_EQ(cappedCount(r.tacticTimings[0]), 0);
  }
  for (const auto& [rows, k, n] : {std::tuple<int64_t, int64_t, int64_t>{64, 256, 256}, {16, 4096, 4096}}) {
    SCOPED_TRACE(std::to_string(rows) + " x " + std::to_string(k) + " x " + std::to_string(n));
    const BuildReport r = buildMatMul(rows, k, n);
    ASSERT_EQ(r.tacticTimings.size(), 1u);
    EXPECT_EQ(cappedCount(r.tacticTimings[0]), 0);
  }
}

}  // namespace
}  // namespace kiln::testing
