// CUDA Cast/CastLike, inference-mode Dropout and kiln:ElementwiseChain against the CPU reference,
// and the `supports` predicates of the element-wise tactics (these run without a GPU).
#include <cmath>
#include <limits>

#include "backends/cuda/gpu_kernel.h"
#include "eltwise_test_util.h"

namespace kiln::testing {
namespace {

using eltwise_test::castTo;
using eltwise_test::rnd;
using eltwise_test::spec;
using eltwise_test::tolFor;
using cuda::LayerDesc;

OpSpec castSpec(const Tensor& x, DType to) {
  AttrMap a;
  a.set("to", AttrValue(static_cast<int64_t>(to)));
  return spec("Cast", {x}, a);
}

TEST(CudaEltwiseCast, AllStandardPairs) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(21);
  const DType types[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt8,
                         DType::kUInt8,   DType::kInt16,   DType::kUInt16,   DType::kInt32,   DType::kUInt32,
                         DType::kInt64,   DType::kUInt64,  DType::kBool};
  for (DType from : types) {
    // Values in [-100, 100] (non-negative for unsigned), fractional for floats: truncation,
    // wrap-around of negative values into unsigned types and != 0 for bool are all exercised.
    const double lo = isSigned(from) ? -100 : 0;
    const double hi = from == DType::kBool ? 1 : 100;
    Tensor x = rnd(from, Dims{1001}, rng, lo, hi);
    for (DType to : types) {
      SCOPED_TRACE(std::string(dtypeName(from)) + " -> " + std::string(dtypeName(to)));
      expectGpuMatchesCpu(castSpec(x, to), to == DType::kBFloat16 ? 1e-2 : 1e-3);
    }
  }
}

TEST(CudaEltwiseCast, FloatToIntegerSaturatesAndNaNIsZero) {
  KILN_REQUIRE_GPU();
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  Tensor x = Tensor::fromVector<float>({1e10f, -1e10f, 300.f, -300.f, nan, inf, -inf, 2.9f, -2.9f, 127.5f, -128.5f,
                                        65535.f, 4.3e9f, -0.5f, 0.f},
                                       Dims{15});
  for (DType src : {DType::kFloat32, DType::kFloat64}) {
    Tensor xs = castTo(x, src);
    for (DType to : {DType::kInt8, DType::kUInt8, DType::kInt16, DType::kUInt16, DType::kInt32, DType::kUInt32,
                     DType::kInt64, DType::kUInt64, DType::kBool}) {
      SCOPED_TRACE(std::string(dtypeName(src)) + " -> " + std::string(dtypeName(to)));
      expectGpuMatchesCpu(castSpec(xs, to));
    }
  }
  // Half inputs: inf and NaN exist there too.
  Tensor h = castTo(Tensor::fromVector<float>({nan, inf, -inf, 1000.f, -1000.f, 3.7f}, Dims{6}), DType::kFloat16);
  for (DType to : {DType::kInt8, DType::kUInt8, DType::kInt32, DType::kInt64}) expectGpuMatchesCpu(castSpec(h, to));
}

TEST(CudaEltwiseCast, LargeAndVectorizedSizes) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(22);
  // 2.7M values: more 8-value chunks than threads launched (the grid is capped), with a tail.
  for (const Dims& d : {Dims{4096}, Dims{3, 1000, 7}, Dims{1}, Dims{}, Dims{2700001}}) {
    expectGpuMatchesCpu(castSpec(rnd(DType::kFloat32, d, rng, -4, 4), DType::kFloat16), 1e-3);
    expectGpuMatchesCpu(castSpec(rnd(DType::kFloat16, d, rng, -4, 4), DType::kFloat32), 1e-6);
    expectGpuMatchesCpu(castSpec(rnd(DType::kInt64, d, rng, -1000, 1000), DType::kFloat32), 1e-7);
    expectGpuMatchesCpu(castSpec(rnd(DType::kBool, d, rng, 0, 1), DType::kFloat32), 0);
  }
}

TEST(CudaEltwiseCast, CastLike) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(23);
  Tensor x = rnd(DType::kFloat32, Dims{7, 33}, rng, -50, 50);
  for (DType to : {DType::kFloat16, DType::kInt32, DType::kBool, DType::kFloat32})
    expectGpuMatchesCpu(spec("CastLike", {x, rnd(to, Dims{2}, rng, 0, 1)}), 1e-3);
}

TEST(CudaEltwiseDropout, InferenceCopiesAndMaskIsTrue) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(24);
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kInt64}) {
    Tensor x = rnd(t, Dims{3, 257}, rng, -5, 5);
    OpSpec s = spec("Dropout", {x});
    expectGpuMatchesCpu(s);
    s.numOutputs = 2;
    expectGpuMatchesCpu(s);
    // ratio given, training_mode a constant false.
    OpSpec r = spec("Dropout", {x, Tensor::fromVector<float>({0.3f}, Dims{}), Tensor::fromVector<bool>({false}, Dims{})});
    r.constInputs = {false, true, true};
    r.numOutputs = 2;
    expectGpuMatchesCpu(r);
  }
}

// Training mode with a seed: the CPU reference's mt19937 / numpy stream, element for element,
// over more than one 624-draw round of the generator.
TEST(CudaEltwiseDropout, TrainingModeMatchesTheSeededStream) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(25);
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kFloat64}) {
    for (float ratio : {0.0f, 0.3f, 0.75f}) {
      for (int64_t seed : {0, 12345}) {
        OpSpec s = spec("Dropout", {rnd(t, Dims{5, 211}, rng, -5, 5), Tensor::fromVector<float>({ratio}, Dims{}),
                                    Tensor::fromVector<bool>({true}, Dims{})});
        s.attrs.set("seed", AttrValue(seed));
        s.constInputs = {false, true, true};
        s.numOutputs = 2;
        expectGpuMatchesCpu(s, t == DType::kFloat16 ? 1e-3 : 1e-6);
      }
    }
  }
}

// ---- kiln:ElementwiseChain --------------------------------------------------------------------------

struct ChainStep {
  const char* op;
  int64_t operand = -1;
  int64_t swapped = 0;
  float alpha = 0, beta = 0;
};

OpSpec chainSpec(std::vector<Tensor> inputs, const std::vector<ChainStep>& steps) {
  std::vector<std::string> ops;
  std::vector<int64_t> operand, swapped;
  std::vector<float> alpha, beta;
  for (const auto& s : steps) {
    ops.push_back(s.op);
    operand.push_back(s.operand);
    swapped.push_back(s.swapped);
    alpha.push_back(s.alpha);
    beta.push_back(s.beta);
  }
  AttrMap a;
  a.set("ops", AttrValue(ops));
  a.set("operand", AttrValue(operand));
  a.set("swapped", AttrValue(swapped));
  a.set("alpha", AttrValue(alpha));
  a.set("beta", AttrValue(beta));
  OpSpec s = spec("ElementwiseChain", std::move(inputs), a);
  s.domain = "kiln";
  s.opset = 1;
  return s;
}

TEST(CudaEltwiseChain, EveryStepFloat32) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(31);
  for (const char* op : {"Relu", "Sigmoid", "Tanh", "Exp", "Log", "Neg", "Abs", "Sqrt", "Reciprocal", "Erf", "Gelu",
                         "GeluTanh", "Silu", "HardSwish", "LeakyRelu", "Softplus", "Floor", "Ceil", "Clip"}) {
    SCOPED_TRACE(op);
    ChainStep s{op};
    s.alpha = std::string(op) == "Clip" ? 0.5f : (std::string(op) == "Silu" ? 1.0f : 0.1f);
    s.beta = 1.5f;
    expectGpuMatchesCpu(chainSpec({rnd(DType::kFloat32, Dims{3, 7, 33}, rng, 0.1, 2.5)}, {s}), 1e-5);
  }
  Tensor x = rnd(DType::kFloat32, Dims{5, 64}, rng, 0.5, 2);
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"}) {
    for (int64_t sw : {0, 1}) {
      SCOPED_TRACE(std::string(op) + (sw ? " swapped" : ""));
      expectGpuMatchesCpu(chainSpec({x, rnd(DType::kFloat32, Dims{64}, rng, 0.5, 2)}, {{op, 1, sw}}), 1e-5);
      expectGpuMatchesCpu(chainSpec({x, rnd(DType::kFloat32, Dims{5, 64}, rng, 0.5, 2)}, {{op, 1, sw}}), 1e-5);
      expectGpuMatchesCpu(chainSpec({x, rnd(DType::kFloat32, Dims{}, rng, 0.5, 2)}, {{op, 1, sw}}), 1e-5);
    }
  }
}

// The BERT/ResNet shapes: bias + GELU, residual add + scale, clipped activations, with operands
// that are scalars, trailing vectors (divisible and not by the vector width) and full tensors.
TEST(CudaEltwiseChain, MultiStepWithOperands) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(32);
  for (const auto& [d, v] : {std::pair{Dims{2, 5, 64}, Dims{64}}, std::pair{Dims{2, 5, 63}, Dims{63}},
                             std::pair{Dims{4, 7, 7, 32}, Dims{1, 1, 32}}, std::pair{Dims{3, 37}, Dims{3, 37}}}) {
    SCOPED_TRACE(d.toString() + " " + v.toString());
    // Operand 1 stays away from 0: the last step divides by it.
    std::vector<Tensor> in = {rnd(DType::kFloat32, d, rng, -3, 3), rnd(DType::kFloat32, v, rng, 0.5, 1.5),
                              rnd(DType::kFloat32, d, rng, -1, 1), Tensor::fromVector<float>({0.25f}, Dims{1})};
    const std::vector<ChainStep> steps = {{"Add", 1}, {"Gelu"}, {"Mul", 3}, {"Add", 2}, {"Sub", 3, 1},
                                          {"Clip", -1, 0, -0.5f, 2.f}, {"Relu"}, {"Div", 1}};
    expectGpuMatchesCpu(chainSpec(in, steps), 1e-5);
  }
  // A long chain (20 steps).
  std::vector<ChainStep> longChain;
  for (int i = 0; i < 10; ++i) {
    longChain.push_back({"Mul", 1});
    longChain.push_back({"Tanh"});
  }
  expectGpuMatchesCpu(chainSpec({rnd(DType::kFloat32, Dims{1000}, rng), rnd(DType::kFloat32, Dims{1000}, rng)}, longChain),
                      1e-5);
}

TEST(CudaEltwiseChain, CastFirstFromMaskTypes) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(33);
  // Attention-mask preparation: (1 - float(mask)) * -10000.
  const std::vector<ChainStep> steps = {{"Cast"}, {"Sub", 1, 1}, {"Mul", 2}};
  for (DType t : {DType::kBool, DType::kInt64, DType::kInt32, DType::kFloat16, DType::kUInt8, DType::kFloat32}) {
    SCOPED_TRACE(std::string(dtypeName(t)));
    const double hi = 1;
    Tensor mask = rnd(t, Dims{2, 1, 1, 77}, rng, 0, hi);
    expectGpuMatchesCpu(chainSpec({mask, Tensor::fromVector<float>({1.f}, Dims{}),
                                   Tensor::fromVector<float>({-10000.f}, Dims{})},
                                  steps),
                        1e-6);
  }
}

// With --fp16 the chain runs on float16 (or bfloat16) tensors; the CPU runs chains in float32
// only, so the reference is the float32 chain on the same (exactly representable) values.
TEST(CudaEltwiseChain, HalfPrecision) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(34);
  for (DType t : {DType::kFloat16, DType::kBFloat16}) {
    for (const auto& [d, v] : {std::pair{Dims{2, 5, 64}, Dims{64}}, std::pair{Dims{3, 9, 7}, Dims{7}}}) {
      SCOPED_TRACE(std::string(dtypeName(t)) + " " + d.toString());
      std::vector<Tensor> in = {rnd(t, d, rng, -3, 3), rnd(t, v, rng, -1, 1), rnd(t, d, rng, -1, 1)};
      const std::vector<ChainStep> steps = {{"Add", 1}, {"GeluTanh"}, {"Add", 2}, {"Sigmoid"}, {"Mul", 2, 1}};
      eltwise_test::expectGpuMatchesCpuInFloat32(chainSpec(in, steps), t == DType::kFloat16 ? 2e-3 : 1e-2);
    }
  }
}

// ---- supports (no GPU needed) ------------------------------------------------------------------------

LayerDesc desc(const std::string& op, std::vector<DType> in, std::vector<DType> out, const AttrMap* attrs,
               const std::string& domain = "") {
  LayerDesc d;
  d.op = op;
  d.domain = domain;
  d.attrs = attrs;
  d.inputTypes = std::move(in);
  d.outputTypes = std::move(out);
  d.inputShapes.resize(d.inputTypes.size());
  d.outputShapes.resize(d.outputTypes.size());
  d.constInputs.resize(d.inputTypes.size(), nullptr);
  return d;
}

bool supports(const std::string& tactic, const LayerDesc& d) {
  const cuda::GpuKernelDef* def = cuda::GpuKernelRegistry::global().findTactic(tactic);
  EXPECT_NE(def, nullptr) << tactic;
  return def && (!def->supports || def->supports(d));
}

TEST(CudaEltwiseSupports, TypesAndAttributes) {
  const AttrMap none;
  const DType f = DType::kFloat32, h = DType::kFloat16, i64 = DType::kInt64, b = DType::kBool;
  EXPECT_TRUE(supports("cuda_eltwise_Add", desc("Add", {f, f}, {f}, &none)));
  EXPECT_TRUE(supports("cuda_eltwise_Add", desc("Add", {h, h}, {h}, &none)));
  EXPECT_TRUE(supports("cuda_eltwise_Add", desc("Add", {i64, i64}, {i64}, &none)));
  EXPECT_FALSE(supports("cuda_eltwise_Add", desc("Add", {DType::kString, DType::kString}, {DType::kString}, &none)));
  EXPECT_FALSE(supports("cuda_eltwise_Add", desc("Add", {DType::kFloat8E4M3FN, DType::kFloat8E4M3FN},
                                                 {DType::kFloat8E4M3FN}, &none)));
  EXPECT_FALSE(supports("cuda_eltwise_Relu", desc("Relu", {DType::kUInt8}, {DType::kUInt8}, &none)));
  EXPECT_FALSE(supports("cuda_eltwise_Sqrt", desc("Sqrt", {i64}, {i64}, &none)));
  EXPECT_TRUE(supports("cuda_eltwise_Less", desc("Less", {h, h}, {b}, &none)));
  EXPECT_FALSE(supports("cuda_eltwise_Pow", desc("Pow", {f, i64}, {f}, &none)));  // mixed exponent type
  EXPECT_FALSE(supports("cuda_eltwise_BitShift", desc("BitShift", {DType::kInt32, DType::kInt32}, {DType::kInt32}, &none)));
  AttrMap gelu;
  gelu.set("approximate", AttrValue("bogus"));
  EXPECT_FALSE(supports("cuda_eltwise_Gelu", desc("Gelu", {f}, {f}, &gelu)));
  gelu.set("approximate", AttrValue("tanh"));
  EXPECT_TRUE(supports("cuda_eltwise_Gelu", desc("Gelu", {f}, {f}, &gelu)));
  // Nine inputs exceed the kernel's slots.
  EXPECT_FALSE(supports("cuda_eltwise_Sum", desc("Sum", std::vector<DType>(9, f), {f}, &none)));
  EXPECT_TRUE(supports("cuda_eltwise_Sum", desc("Sum", std::vector<DType>(8, f), {f}, &none)));
  EXPECT_TRUE(supports("cuda_eltwise_cast", desc("Cast", {f}, {DType::kBFloat16}, &none)));
  // Small types (fp8, fp4, e8m0, 4/2-bit integers) cast both ways; strings stay on the host.
  EXPECT_TRUE(supports("cuda_eltwise_cast", desc("Cast", {f}, {DType::kFloat8E5M2}, &none)));
  EXPECT_TRUE(supports("cuda_eltwise_cast", desc("Cast", {DType::kInt4}, {h}, &none)));
  EXPECT_FALSE(supports("cuda_eltwise_cast", desc("Cast", {f}, {DType::kString}, &none)));
  EXPECT_FALSE(supports("cuda_eltwise_cast", desc("Cast", {DType::kString}, {f}, &none)));
  EXPECT_TRUE(supports("cuda_eltwise_Where", desc("Where", {b, h, h}, {h}, &none)));
  EXPECT_FALSE(supports("cuda_eltwise_Where", desc("Where", {f, h, h}, {h}, &none)));
  // Dropout: training mode (training_mode not a constant false) only with a seed, float types.
  EXPECT_TRUE(supports("cuda_eltwise_Dropout", desc("Dropout", {f}, {f, b}, &none)));
  LayerDesc train = desc("Dropout", {f, f, b}, {f, b}, &none);
  EXPECT_FALSE(supports("cuda_eltwise_Dropout", train));
  Tensor yes = Tensor::fromVector<bool>({true}, Dims{});
  Tensor no = Tensor::fromVector<bool>({false}, Dims{});
  train.constInputs[2] = &yes;
  EXPECT_FALSE(supports("cuda_eltwise_Dropout", train));
  train.constInputs[2] = &no;
  EXPECT_TRUE(supports("cuda_eltwise_Dropout", train));
  AttrMap seeded;
  seeded.set("seed", AttrValue(int64_t{3}));
  LayerDesc trainSeeded = desc("Dropout", {f, f, b}, {f, b}, &seeded);
  trainSeeded.constInputs[2] = &yes;
  EXPECT_TRUE(supports("cuda_eltwise_Dropout", trainSeeded));
  LayerDesc trainInt = desc("Dropout", {DType::kInt32, f, b}, {DType::kInt32, b}, &seeded);
  trainInt.constInputs[2] = &yes;
  EXPECT_FALSE(supports("cuda_eltwise_Dropout", trainInt));
}

TEST(CudaEltwiseSupports, Chain) {
  const DType f = DType::kFloat32, h = DType::kFloat16;
  auto attrs = [](std::vector<std::string> ops, std::vector<int64_t> operand) {
    AttrMap a;
    a.set("swapped", AttrValue(std::vector<int64_t>(ops.size(), 0)));
    a.set("ops", AttrValue(std::move(ops)));
    a.set("operand", AttrValue(std::move(operand)));
    return a;
  };
  const AttrMap ok = attrs({"Add", "Gelu"}, {1, -1});
  EXPECT_TRUE(supports("cuda_eltwise_chain", desc("ElementwiseChain", {f, f}, {f}, &ok, "kiln")));
  EXPECT_TRUE(supports("cuda_eltwise_chain", desc("ElementwiseChain", {h, h}, {h}, &ok, "kiln")));
  EXPECT_FALSE(supports("cuda_eltwise_chain", desc("ElementwiseChain", {h, f}, {h}, &ok, "kiln")));
  EXPECT_FALSE(supports("cuda_eltwise_chain", desc("ElementwiseChain", {DType::kInt32, DType::kInt32}, {DType::kInt32}, &ok, "kiln")));
  const AttrMap unknown = attrs({"Add", "Frobnicate"}, {1, -1});
  EXPECT_FALSE(supports("cuda_eltwise_chain", desc("ElementwiseChain", {f, f}, {f}, &unknown, "kiln")));
  const AttrMap cast = attrs({"Cast", "Mul"}, {-1, 1});
  EXPECT_TRUE(supports("cuda_eltwise_chain", desc("ElementwiseChain", {DType::kBool, f}, {f}, &cast, "kiln")));
  EXPECT_FALSE(supports("cuda_eltwise_chain", desc("ElementwiseChain", {DType::kBool, h}, {f}, &cast, "kiln")));
  const AttrMap tooLong = attrs(std::vector<std::string>(25, "Relu"), std::vector<int64_t>(25, -1));
  EXPECT_FALSE(supports("cuda_eltwise_chain", desc("ElementwiseChain", {f}, {f}, &tooLong, "kiln")));
}

}  // namespace
}  // namespace kiln::testing
