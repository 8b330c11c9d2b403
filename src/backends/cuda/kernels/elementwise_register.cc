// Registration of the element-wise CUDA kernel family (tactics cuda_eltwise_<Op>): which ops and
// element types each kernel accepts. The type lists mirror the CPU reference kernels
// (backends/cpu/kernels/elementwise.cc, tensor.cc, fused_elementwise.cc), restricted to the 13
// standard types (no fp8/fp4/4-bit/string).
#include <algorithm>
#include <vector>

#include "backends/cuda/kernels/eltwise_kernels.h"
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

namespace {

using eltwise::Kind;
using TypeSet = std::vector<DType>;

const TypeSet kFloatT = {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64};
const TypeSet kIntT = {DType::kInt8, DType::kUInt8, DType::kInt16, DType::kUInt16,
                       DType::kInt32, DType::kUInt32, DType::kInt64, DType::kUInt64};
const TypeSet kUnsignedT = {DType::kUInt8, DType::kUInt16, DType::kUInt32, DType::kUInt64};
const TypeSet kBoolT = {DType::kBool};

TypeSet join(std::initializer_list<TypeSet> sets) {
  TypeSet out;
  for (const auto& s : sets) out.insert(out.end(), s.begin(), s.end());
  return out;
}
const TypeSet kNumericT = join({kFloatT, kIntT});
const TypeSet kSignedNumericT = join({kFloatT, {DType::kInt8, DType::kInt16, DType::kInt32, DType::kInt64}});
const TypeSet kStdT = join({kFloatT, kIntT, kBoolT});

bool in(const TypeSet& s, DType t) { return std::find(s.begin(), s.end(), t) != s.end(); }

// Every defined input has type `t` (from `first` on).
bool inputsAre(const LayerDesc& d, DType t, size_t first = 0) {
  for (size_t i = first; i < d.inputTypes.size(); ++i)
    if (d.inputTypes[i] != DType::kUndefined && d.inputTypes[i] != t) return false;
  return true;
}
bool outputIs(const LayerDesc& d, DType t) { return !d.outputTypes.empty() && d.outputTypes[0] == t; }

// Ops whose inputs all share one type from `types` and whose output has that type (or bool).
std::function<bool(const LayerDesc&)> sameType(TypeSet types, bool boolOut = false) {
  return [types = std::move(types), boolOut](const LayerDesc& d) {
    if (d.inputTypes.empty() || !in(types, d.inputTypes[0]) || !inputsAre(d, d.inputTypes[0])) return false;
    if (!outputIs(d, boolOut ? DType::kBool : d.inputTypes[0])) return false;
    if (static_cast<int>(d.inputTypes.size()) > eltwise::kMaxSlots) return false;
    return eltwise::planLayer(d).ok();
  };
}

bool supportsChain(const LayerDesc& d) {
  auto plan = eltwise::planLayer(d);
  if (!plan.ok() || d.inputTypes.empty() || d.inputTypes.size() > static_cast<size_t>(eltwise::kMaxSlots)) return false;
  if (plan->castIn)  // x of any standard type; operands and output float32
    return in(kStdT, d.inputTypes[0]) && inputsAre(d, DType::kFloat32, 1) && outputIs(d, DType::kFloat32);
  const DType t = d.inputTypes[0];
  return (t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16) && inputsAre(d, t) && outputIs(d, t);
}

bool supportsWhere(const LayerDesc& d) {
  if (d.inputTypes.size() != 3 || d.inputTypes[0] != DType::kBool) return false;
  const DType t = d.inputTypes[1];
  return in(kStdT, t) && d.inputTypes[2] == t && outputIs(d, t);
}

// Any pair of the standard and small types (fp8, fp4, e8m0, 4/2-bit integers); CastLike's second
// input only gives the type, so its own type does not matter. Strings stay on the CPU side.
bool supportsCast(const LayerDesc& d) {
  if (d.inputTypes.empty() || d.outputTypes.empty()) return false;
  auto castable = [](DType t) { return in(kStdT, t) || eltwise::isSmallCastType(t); };
  return castable(d.inputTypes[0]) && castable(d.outputTypes[0]);
}

bool supportsDropout(const LayerDesc& d) {
  if (d.inputTypes.empty() || !in(kStdT, d.inputTypes[0]) || !outputIs(d, d.inputTypes[0])) return false;
  // Training mode (training_mode not absent or a constant false) runs seeded float layers only:
  // the CPU reference's mt19937 stream restarts from the seed every run.
  if (d.inputTypes.size() > 2 && d.inputTypes[2] != DType::kUndefined) {
    const Tensor* mode = d.constInputs.size() > 2 ? d.constInputs[2] : nullptr;
    const bool inference = mode && mode->numel() == 1 && mode->intAt(0) == 0;
    if (!inference && (!d.attrs || !d.attrs->has("seed") || !in(kFloatT, d.inputTypes[0]))) return false;
  }
  return true;
}

void add(GpuKernelRegistry& r, const std::string& op, std::function<bool(const LayerDesc&)> supports,
         const std::string& domain = "", const std::string& tactic = "") {
  GpuKernelDef def;
  def.domain = domain;
  def.op = op;
  def.tactic = tactic.empty() ? "cuda_eltwise_" + op : tactic;
  def.priority = 10;
  def.supports = std::move(supports);
  def.create = [](const LayerDesc& d, int, size_t) -> Result<std::unique_ptr<GpuKernel>> {
    KILN_ASSIGN_OR_RETURN(eltwise::LayerPlan plan, eltwise::planLayer(d));
    return eltwise::makeKernel(std::move(plan));
  };
  r.add(std::move(def));
}

}  // namespace

void registerElementwiseKernels(GpuKernelRegistry& r) {
  // Unary, float types only (computed in float; double for float64).
  for (const char* op : {"Sqrt", "Exp", "Log", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh",
                         "Acosh", "Atanh", "Sigmoid", "Tanh", "Reciprocal", "Softplus", "Softsign", "Mish", "Floor",
                         "Ceil", "Round", "Erf", "Elu", "Celu", "Selu", "HardSigmoid", "HardSwish", "ThresholdedRelu",
                         "Swish", "Gelu", "LeakyRelu"})
    add(r, op, sameType(kFloatT));
  add(r, "Abs", sameType(kNumericT));
  add(r, "Sign", sameType(kNumericT));
  add(r, "Shrink", sameType(kNumericT));
  add(r, "Neg", sameType(kSignedNumericT));
  add(r, "Relu", sameType(kSignedNumericT));
  add(r, "BitwiseNot", sameType(kIntT));
  add(r, "Not", sameType(kBoolT));
  add(r, "IsNaN", sameType(kFloatT, true));
  add(r, "IsInf", sameType(kFloatT, true));

  // Binary with numpy broadcasting.
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Mod", "Pow"}) add(r, op, sameType(kNumericT));
  for (const char* op : {"BitwiseAnd", "BitwiseOr", "BitwiseXor"}) add(r, op, sameType(kIntT));
  add(r, "BitShift", sameType(kUnsignedT));
  for (const char* op : {"And", "Or", "Xor"}) add(r, op, sameType(kBoolT));
  for (const char* op : {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"}) add(r, op, sameType(kStdT, true));
  add(r, "PRelu", sameType(kSignedNumericT));

  // Variadic (up to eltwise::kMaxSlots inputs), Clip (device scalar bounds), Where.
  for (const char* op : {"Sum", "Mean", "Max", "Min"}) add(r, op, sameType(kNumericT));
  add(r, "Clip", sameType(kNumericT));
  add(r, "Where", supportsWhere);

  // Type conversion and inference-mode Dropout.
  add(r, "Cast", supportsCast, "", "cuda_eltwise_cast");
  add(r, "CastLike", supportsCast, "", "cuda_eltwise_castlike");
  add(r, "Dropout", supportsDropout);

  eltwise::registerQuantizeKernels(r);
  eltwise::registerPowMixedKernel(r);
  eltwise::registerQuantizeGeneralKernels(r);

  // The optimizer's fused chains.
  add(r, "ElementwiseChain", supportsChain, "kiln", "cuda_eltwise_chain");
}

}  // namespace kiln::cuda
