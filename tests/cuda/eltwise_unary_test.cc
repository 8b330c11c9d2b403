// CUDA element-wise unary ops (tactics cuda_eltwise_<Op>) against the CPU reference: every op in
// float32/float16 (bfloat16 and float64 for a few), odd sizes and ranks 1..5, attribute variants,
// integer ops exact.
#include <cmath>
#include <limits>

#include "eltwise_test_util.h"

namespace kiln::testing {
namespace {

using eltwise_test::rnd;
using eltwise_test::spec;
using eltwise_test::tolFor;

struct UnaryCase {
  const char* op;
  double lo, hi;  // input range where the op is defined and well conditioned
};

const UnaryCase kFloatOps[] = {
    {"Sqrt", 0.1, 4},      {"Exp", -3, 3},          {"Log", 0.1, 4},        {"Sin", -4, 4},
    {"Cos", -4, 4},        {"Tan", -1.2, 1.2},      {"Asin", -0.9, 0.9},    {"Acos", -0.9, 0.9},
    {"Atan", -4, 4},       {"Sinh", -3, 3},         {"Cosh", -3, 3},        {"Asinh", -4, 4},
    {"Acosh", 1.1, 4},     {"Atanh", -0.9, 0.9},    {"Sigmoid", -8, 8},     {"Tanh", -4, 4},
    {"Reciprocal", 0.5, 3}, {"Softplus", -25, 25},  {"Softsign", -4, 4},    {"Mish", -4, 4},
    {"Floor", -4, 4},      {"Ceil", -4, 4},         {"Round", -4, 4},       {"Erf", -3, 3},
    {"Elu", -4, 4},        {"Celu", -4, 4},         {"Selu", -4, 4},        {"HardSigmoid", -4, 4},
    {"HardSwish", -5, 5},  {"ThresholdedRelu", -2, 2}, {"Swish", -6, 6},    {"Gelu", -4, 4},
    {"LeakyRelu", -4, 4},  {"Abs", -4, 4},          {"Neg", -4, 4},         {"Sign", -4, 4},
    {"Relu", -4, 4},       {"Shrink", -2, 2}};

TEST(CudaEltwiseUnary, EveryFloatOpFloat32AndFloat16) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(1);
  const Dims shapes[] = {Dims{1000}, Dims{3, 7, 33}, Dims{2, 3, 5, 7, 3}};
  for (const auto& c : kFloatOps) {
    for (DType t : {DType::kFloat32, DType::kFloat16}) {
      for (const Dims& d : shapes) {
        SCOPED_TRACE(std::string(c.op) + " " + std::string(dtypeName(t)) + " " + d.toString());
        expectGpuMatchesCpu(spec(c.op, {rnd(t, d, rng, c.lo, c.hi)}), tolFor(t));
      }
    }
  }
}

TEST(CudaEltwiseUnary, BFloat16AndFloat64) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(2);
  for (const char* op : {"Relu", "Sigmoid", "Tanh", "Erf", "Gelu", "Exp", "Sqrt", "Neg", "Abs", "Round"}) {
    for (DType t : {DType::kBFloat16, DType::kFloat64}) {
      SCOPED_TRACE(std::string(op) + " " + std::string(dtypeName(t)));
      const double lo = std::string(op) == "Sqrt" ? 0.1 : -3;
      expectGpuMatchesCpu(spec(op, {rnd(t, Dims{257, 3}, rng, lo, 3)}), tolFor(t) == 1e-12 ? 1e-10 : tolFor(t));
    }
  }
}

TEST(CudaEltwiseUnary, Attributes) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(3);
  auto with = [](std::initializer_list<std::pair<const char*, AttrValue>> kv) {
    AttrMap a;
    for (const auto& [k, v] : kv) a.set(k, v);
    return a;
  };
  const std::pair<const char*, AttrMap> cases[] = {
      {"Elu", with({{"alpha", 0.7f}})},
      {"Celu", with({{"alpha", 0.8f}})},
      {"Selu", with({{"alpha", 1.5f}, {"gamma", 0.9f}})},
      {"HardSigmoid", with({{"alpha", 0.3f}, {"beta", 0.4f}})},
      {"ThresholdedRelu", with({{"alpha", 0.5f}})},
      {"LeakyRelu", with({{"alpha", 0.2f}})},
      {"Swish", with({{"alpha", 1.5f}})},
      {"Gelu", with({{"approximate", "tanh"}})},
      {"Gelu", with({{"approximate", "none"}})},
      {"Shrink", with({{"bias", 0.3f}, {"lambd", 0.6f}})},
  };
  for (const auto& [op, attrs] : cases) {
    for (DType t : {DType::kFloat32, DType::kFloat16}) {
      SCOPED_TRACE(std::string(op) + " " + std::string(dtypeName(t)));
      expectGpuMatchesCpu(spec(op, {rnd(t, Dims{5, 33}, rng, -3, 3)}, attrs), tolFor(t));
    }
  }
}

TEST(CudaEltwiseUnary, IsNaNAndIsInf) {
  KILN_REQUIRE_GPU();
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = Tensor::fromVector<float>({1.f, -inf, inf, nan, 0.f, -2.f, inf, nan, 3.f}, Dims{9});
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kFloat64}) {
    Tensor xt = eltwise_test::castTo(x, t);
    expectGpuMatchesCpu(spec("IsNaN", {xt}));
    expectGpuMatchesCpu(spec("IsInf", {xt}));
    for (int64_t neg : {0, 1})
      for (int64_t pos : {0, 1}) {
        AttrMap a;
        a.set("detect_negative", AttrValue(neg));
        a.set("detect_positive", AttrValue(pos));
        expectGpuMatchesCpu(spec("IsInf", {xt}, a));
      }
  }
}

TEST(CudaEltwiseUnary, IntegerOpsExact) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(4);
  for (DType t : {DType::kInt8, DType::kInt16, DType::kInt32, DType::kInt64}) {
    for (const char* op : {"Abs", "Neg", "Sign", "Relu", "BitwiseNot"}) {
      SCOPED_TRACE(std::string(op) + " " + std::string(dtypeName(t)));
      expectGpuMatchesCpu(spec(op, {rnd(t, Dims{7, 37}, rng, -100, 100)}));
    }
    AttrMap a;
    a.set("bias", AttrValue(1.5f));
    a.set("lambd", AttrValue(2.0f));
    expectGpuMatchesCpu(spec("Shrink", {rnd(t, Dims{301}, rng, -6, 6)}, a));
  }
  for (DType t : {DType::kUInt8, DType::kUInt16, DType::kUInt32, DType::kUInt64}) {
    for (const char* op : {"Abs", "Sign", "BitwiseNot"}) {
      SCOPED_TRACE(std::string(op) + " " + std::string(dtypeName(t)));
      expectGpuMatchesCpu(spec(op, {rnd(t, Dims{3, 129}, rng, 0, 200)}));
    }
  }
  expectGpuMatchesCpu(spec("Not", {rnd(DType::kBool, Dims{1001}, rng, 0, 1)}));
  expectGpuMatchesCpu(spec("Not", {rnd(DType::kBool, Dims{4, 16}, rng, 0, 1)}));
}

TEST(CudaEltwiseUnary, TinyAndScalarTensors) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(5);
  for (const Dims& d : {Dims{}, Dims{1}, Dims{3}, Dims{1, 1, 5}}) {
    expectGpuMatchesCpu(spec("Relu", {rnd(DType::kFloat32, d, rng)}));
    expectGpuMatchesCpu(spec("Sigmoid", {rnd(DType::kFloat16, d, rng)}), 2e-3);
  }
}

}  // namespace
}  // namespace kiln::testing
