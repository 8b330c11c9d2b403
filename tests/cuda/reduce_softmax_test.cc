// Softmax / LogSoftmax / Hardmax on the GPU against the CPU reference: the warp-per-row path
// (n <= 1024, vectorized and scalar), the block-per-row path (n > 1024), the column path (axis not
// last), the opset < 13 coercion, and every float dtype.
#include <gtest/gtest.h>

#include "reduce_test_util.h"

namespace kiln::testing {
namespace {

using namespace rn_test;

const char* kModes[] = {"Softmax", "LogSoftmax", "Hardmax"};

TEST(ReduceSoftmax, LastAxisShapes) {
  KILN_REQUIRE_GPU();
  const std::vector<Dims> shapes = {{7}, {3, 1}, {5, 3}, {2, 3, 33}, {4, 4, 128}, {2, 2, 384}, {3, 257}, {2, 1000},
                                    {6, 1024}, {3, 1025}, {2, 2048}, {2, 5003}};
  uint32_t seed = 1;
  for (const char* op : kModes)
    for (const Dims& d : shapes) {
      SCOPED_TRACE(std::string(op) + " " + d.toString());
      expectGpuMatchesCpu(spec(op, {}, {rnd(DType::kFloat32, d, seed++)}), 1e-5);
    }
}

TEST(ReduceSoftmax, AttentionScoresFp16) {
  KILN_REQUIRE_GPU();
  // BERT-base attention probabilities: [batch, heads, seq, seq].
  for (int64_t s : {128, 384, 512}) {
    SCOPED_TRACE(s);
    expectGpuMatchesCpu(spec("Softmax", {}, {rnd(DType::kFloat16, {1, 12, s, s}, 7, -8.0, 8.0)}), 2e-3);
  }
}

TEST(ReduceSoftmax, OtherAxes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 100;
  for (const char* op : kModes)
    for (int64_t axis : {0, 1, -2, 2}) {
      SCOPED_TRACE(std::string(op) + " axis " + std::to_string(axis));
      expectGpuMatchesCpu(spec(op, attrs({{"axis", axis}}), {rnd(DType::kFloat32, {3, 7, 33, 5}, seed++)}), 1e-5);
    }
}

TEST(ReduceSoftmax, Coerce2D) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 200;
  for (const char* op : kModes)
    for (int64_t axis : {0, 1, 2, 3}) {
      SCOPED_TRACE(std::string(op) + " coerce axis " + std::to_string(axis));
      expectGpuMatchesCpu(
          spec(op, attrs({{"axis", axis}, {"kiln_coerce_2d", int64_t{1}}}), {rnd(DType::kFloat32, {2, 3, 4, 5}, seed++)}),
          1e-5);
    }
}

TEST(ReduceSoftmax, FloatTypes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 300;
  for (const char* op : kModes)
    for (DType t : floatTypes())
      for (const Dims& d : std::vector<Dims>{{5, 64}, {3, 40}, {2, 3000}, {4, 9, 6}}) {
        for (int64_t axis : {-1, 1}) {
          SCOPED_TRACE(std::string(op) + " " + tn(t) + " " + d.toString() + " axis " + std::to_string(axis));
          expectGpuMatchesCpu(spec(op, attrs({{"axis", axis}}), {rnd(t, d, seed++)}), tolFor(t));
        }
      }
}

TEST(ReduceSoftmax, HardmaxTies) {
  KILN_REQUIRE_GPU();
  // Repeated maxima: the first one wins.
  Tensor x = Tensor::fromVector<float>({1, 3, 3, 2, 5, 5, 5, 0, -1, -1, -2, -1}, Dims{3, 4});
  for (int64_t axis : {0, 1}) expectGpuMatchesCpu(spec("Hardmax", attrs({{"axis", axis}}), {x}), 0.0);
}

TEST(ReduceSoftmax, EmptyInput) {
  KILN_REQUIRE_GPU();
  for (const char* op : kModes) expectGpuMatchesCpu(spec(op, {}, {rnd(DType::kFloat32, {0, 5}, 1)}), 0.0);
}

}  // namespace
}  // namespace kiln::testing
