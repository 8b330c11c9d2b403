// Element-wise CUDA layers, host side: decoding ops into chain steps (planLayer) and enqueueing
// them (EltKernel). Everything that computes goes through the launch functions of
// eltwise_launch.h; this file validates shapes and types and reports errors as Status.
#include "backends/cuda/kernels/eltwise_kernels.h"

#include <cuda_runtime_api.h>

#include <array>
#include <map>
#include <span>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/eltwise_geometry.h"

namespace kiln::cuda::eltwise {

namespace {

const std::map<std::string, int32_t>& unaryCodes() {
  static const std::map<std::string, int32_t> m = {
      {"Relu", kRelu}, {"Sigmoid", kSigmoid}, {"Tanh", kTanh}, {"Exp", kExp}, {"Log", kLog}, {"Neg", kNeg},
      {"Abs", kAbs}, {"Sqrt", kSqrt}, {"Reciprocal", kReciprocal}, {"Erf", kErf}, {"Gelu", kGelu},
      {"Swish", kSilu}, {"HardSwish", kHardSwish}, {"LeakyRelu", kLeakyRelu}, {"Softplus", kSoftplus},
      {"Floor", kFloor}, {"Ceil", kCeil}, {"Round", kRound}, {"Sign", kSign}, {"Sin", kSin}, {"Cos", kCos},
      {"Tan", kTan}, {"Asin", kAsin}, {"Acos", kAcos}, {"Atan", kAtan}, {"Sinh", kSinh}, {"Cosh", kCosh},
      {"Asinh", kAsinh}, {"Acosh", kAcosh}, {"Atanh", kAtanh}, {"Softsign", kSoftsign}, {"Mish", kMish},
      {"Elu", kElu}, {"Celu", kCelu}, {"Selu", kSelu}, {"HardSigmoid", kHardSigmoid},
      {"ThresholdedRelu", kThresholdedRelu}, {"Shrink", kShrink}, {"BitwiseNot", kBitwiseNot}, {"Not", kNot},
      {"IsNaN", kIsNaN}, {"IsInf", kIsInf}};
  return m;
}

const std::map<std::string, int32_t>& binaryCodes() {
  static const std::map<std::string, int32_t> m = {
      {"Add", kAdd}, {"Sub", kSub}, {"Mul", kMul}, {"Div", kDiv}, {"Pow", kPow}, {"Mod", kMod},
      {"BitwiseAnd", kBitAnd}, {"BitwiseOr", kBitOr}, {"BitwiseXor", kBitXor}, {"BitShift", kShiftLeft},
      {"And", kAnd}, {"Or", kOr}, {"Xor", kXor}, {"Equal", kEqual}, {"Less", kLess}, {"Greater", kGreater},
      {"LessOrEqual", kLessOrEqual}, {"GreaterOrEqual", kGreaterOrEqual}, {"PRelu", kPRelu}};
  return m;
}

const std::map<std::string, int32_t>& variadicCodes() {
  static const std::map<std::string, int32_t> m = {{"Sum", kAdd}, {"Mean", kAdd}, {"Max", kMax}, {"Min", kMin}};
  return m;
}

// alpha/beta of a unary op from its (canonical, defaults filled) attributes.
Status unaryParams(const std::string& op, const AttrMap& a, Step* s) {
  if (op == "Elu" || op == "Celu" || op == "ThresholdedRelu" || op == "LeakyRelu" || op == "Swish") {
    s->alpha = a.getFloat("alpha");
  } else if (op == "Selu") {
    s->alpha = a.getFloat("alpha");
    s->beta = a.getFloat("gamma");
  } else if (op == "HardSigmoid") {
    s->alpha = a.getFloat("alpha");
    s->beta = a.getFloat("beta");
  } else if (op == "Shrink") {
    s->alpha = a.getFloat("bias");
    s->beta = a.getFloat("lambd");
  } else if (op == "IsInf") {
    s->alpha = a.getInt("detect_negative") != 0 ? 1.f : 0.f;
    s->beta = a.getInt("detect_positive") != 0 ? 1.f : 0.f;
  } else if (op == "Gelu") {
    const std::string& ap = a.getString("approximate");
    if (ap == "tanh") s->code = kGeluTanh;
    else if (ap != "none") return Unsupported("Gelu approximate='{}' is not 'none' or 'tanh'", ap);
  }
  if (op == "Celu" && s->alpha == 0.f) return InvalidArgument("Celu alpha must not be 0");
  return Status::OK();
}

// True for ops whose output is bool whatever the input type.
bool boolResult(int32_t code) {
  return code == kEqual || code == kLess || code == kGreater || code == kLessOrEqual || code == kGreaterOrEqual ||
         code == kIsNaN || code == kIsInf;
}

class EltKernel final : public GpuKernel {
 public:
  explicit EltKernel(LayerPlan plan) : plan_(std::move(plan)) {}

  // No heap allocation here: enqueue runs per inference when CUDA graphs are off.
  Status enqueue(const GpuKernelContext& c) const override {
    switch (plan_.kind) {
      case Kind::kUnary: {
        const SlotRef slots[1] = {SlotRef{&c.in(0)}};
        const Step steps[1] = {plan_.step};
        return chain(c, slots, steps, boolResult(plan_.step.code));
      }
      case Kind::kBinary: {
        const SlotRef slots[2] = {SlotRef{&c.in(0)}, SlotRef{&c.in(1)}};
        Step steps[1] = {plan_.step};
        steps[0].operand = 1;
        return chain(c, slots, steps, boolResult(steps[0].code));
      }
      case Kind::kVariadic: return variadic(c);
      case Kind::kClip: return clip(c);
      case Kind::kChain: {
        if (c.numInputs() > kMaxSlots)
          return Unsupported("ElementwiseChain: {} inputs, the CUDA kernel takes at most {}", c.numInputs(), kMaxSlots);
        if (c.in(0).numel() != c.out(0).numel())
          return InvalidArgument("ElementwiseChain: input {} vs output {}", c.in(0).dims().toString(),
                                 c.out(0).dims().toString());
        // x has the output's element count (the chain keeps its shape): read it with the output's dims.
        const Tensor flatX = Tensor::borrow(c.in(0).dtype(), c.out(0).dims(), const_cast<void*>(c.in(0).raw()),
                                            c.in(0).memoryKind());
        std::array<SlotRef, kMaxSlots> slots;
        for (int i = 0; i < c.numInputs(); ++i) {
          if (!c.hasInput(i)) return InvalidArgument("ElementwiseChain: input {} is missing", i);
          slots[i] = SlotRef{i == 0 ? &flatX : &c.in(i), i == 0 ? SlotMode::kBroadcast : SlotMode::kPeriodic};
        }
        return chain(c, std::span<const SlotRef>(slots.data(), c.numInputs()), plan_.steps, false);
      }
      case Kind::kWhere: return where(c);
      case Kind::kCast: return cast(c);
      case Kind::kDropout: return dropout(c);
    }
    return InternalError("{}: unknown element-wise kind", plan_.op);
  }

 private:
  Status chain(const GpuKernelContext& c, std::span<const SlotRef> slots, std::span<const Step> steps,
               bool toBool) const {
    Tensor& y = c.out(0);
    if (slots.empty()) return InvalidArgument("{} has no inputs", plan_.op);
    const DType t = slots[0].t->dtype();
    const DType opType = plan_.castIn ? DType::kFloat32 : t;
    for (size_t k = 1; k < slots.size(); ++k)
      if (slots[k].t->dtype() != opType)
        return InvalidArgument("{}: input {} is {}, expected {}", plan_.op, k, dtypeName(slots[k].t->dtype()),
                               dtypeName(opType));
    const DType want = plan_.castIn ? DType::kFloat32 : (toBool ? DType::kBool : t);
    if (y.dtype() != want)
      return InvalidArgument("{}: output is {}, expected {}", plan_.op, dtypeName(y.dtype()), dtypeName(want));
    if (!isStandardType(t)) return unsupportedGpuType(plan_.op, t);
    if (static_cast<int>(steps.size()) > kMaxSteps)
      return Unsupported("{}: {} steps, the CUDA chain kernel takes at most {}", plan_.op, steps.size(), kMaxSteps);
    ChainParams p;
    KILN_RETURN_IF_ERROR(fillGeometry(plan_.op, slots, y, c.res.smCount, &p));
    p.numSteps = static_cast<int32_t>(steps.size());
    for (size_t i = 0; i < steps.size(); ++i) {
      if (steps[i].operand >= p.numSlots)
        return InvalidArgument("{}: step {} reads input {} of {}", plan_.op, i, steps[i].operand, p.numSlots);
      p.steps[i] = steps[i];
    }
    if (p.n == 0) return Status::OK();
    if (plan_.castIn) {
      KILN_CUDA_RETURN_IF_ERROR(launchChainCastIn(p, t, c.stream));
    } else if (isFloat(t)) {
      KILN_CUDA_RETURN_IF_ERROR(launchChainFloat(p, t, y.dtype(), c.stream));
    } else {
      KILN_CUDA_RETURN_IF_ERROR(launchChainInt(p, t, y.dtype(), c.stream));
    }
    return Status::OK();
  }

  Status variadic(const GpuKernelContext& c) const {
    const int n = c.numInputs();
    if (n < 1) return InvalidArgument("{} needs at least one input", plan_.op);
    if (n > kMaxSlots) return Unsupported("{}: {} inputs, the CUDA kernel takes at most {}", plan_.op, n, kMaxSlots);
    std::array<SlotRef, kMaxSlots> slots;
    std::array<Step, kMaxSlots> steps;
    int ns = 0;
    for (int i = 0; i < n; ++i) {
      if (!c.hasInput(i)) return InvalidArgument("{}: input {} is missing", plan_.op, i);
      slots[i] = SlotRef{&c.in(i)};
      if (i > 0) {
        steps[ns] = plan_.step;
        steps[ns++].operand = i;
      }
    }
    if (plan_.mean && n > 1) {
      Step s;
      s.code = kDivCount;
      s.alpha = static_cast<float>(n);
      steps[ns++] = s;
    }
    return chain(c, std::span<const SlotRef>(slots.data(), n), std::span<const Step>(steps.data(), ns), false);
  }

  Status clip(const GpuKernelContext& c) const {
    std::array<SlotRef, 3> slots;
    std::array<Step, 2> steps;
    slots[0] = SlotRef{&c.in(0)};
    int ns = 1, nsteps = 0;
    for (int i = 1; i <= 2; ++i) {
      if (!c.hasInput(i) || c.in(i).numel() == 0) continue;  // no bound
      slots[ns] = SlotRef{&c.in(i), SlotMode::kScalar};     // element 0, as the CPU reads it
      Step s;
      s.code = i == 1 ? kClipLo : kClipHi;
      s.operand = ns++;
      steps[nsteps++] = s;
    }
    return chain(c, std::span<const SlotRef>(slots.data(), ns), std::span<const Step>(steps.data(), nsteps), false);
  }

  Status where(const GpuKernelContext& c) const {
    const Tensor &cond = c.in(0), &x = c.in(1), &z = c.in(2);
    Tensor& y = c.out(0);
    if (cond.dtype() != DType::kBool) return InvalidArgument("Where: condition is {}, expected bool", dtypeName(cond.dtype()));
    if (x.dtype() != y.dtype() || z.dtype() != y.dtype())
      return InvalidArgument("Where: x {} and y {} must both be the output's {}", dtypeName(x.dtype()),
                             dtypeName(z.dtype()), dtypeName(y.dtype()));
    if (!isStandardType(y.dtype())) return unsupportedGpuType("Where", y.dtype());
    const SlotRef slots[3] = {SlotRef{&cond}, SlotRef{&x}, SlotRef{&z}};
    ChainParams p;
    KILN_RETURN_IF_ERROR(fillGeometry("Where", slots, y, c.res.smCount, &p));
    if (p.n == 0) return Status::OK();
    KILN_CUDA_RETURN_IF_ERROR(launchWhere(p, static_cast<int>(dtypeSize(y.dtype())), c.stream));
    return Status::OK();
  }

  Status cast(const GpuKernelContext& c) const {
    const Tensor& x = c.in(0);
    Tensor& y = c.out(0);
    if (x.numel() != y.numel())
      return InvalidArgument("{}: input {} vs output {}", plan_.op, x.dims().toString(), y.dims().toString());
    const bool small = isSmallCastType(x.dtype()) || isSmallCastType(y.dtype());
    if (!isStandardType(x.dtype()) && !isSmallCastType(x.dtype())) return unsupportedGpuType(plan_.op, x.dtype());
    if (!isStandardType(y.dtype()) && !isSmallCastType(y.dtype())) return unsupportedGpuType(plan_.op, y.dtype());
    if (y.numel() == 0) return Status::OK();
    if (x.dtype() == y.dtype()) {
      if (x.raw() != y.raw())
        KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(y.raw(), x.raw(), y.nbytes(), cudaMemcpyDeviceToDevice, c.stream));
      return Status::OK();
    }
    const int maxBlocks = c.res.smCount > 0 ? c.res.smCount * 8 : 1024;
    if (small) {
      // saturate / round_mode exist from opset 19 / 25; absent means the defaults (1, "up").
      const bool saturate = !c.attrs.has("saturate") || c.attrs.getInt("saturate") != 0;
      const std::string rm = c.attrs.has("round_mode") ? c.attrs.getString("round_mode") : "up";
      const int roundMode = rm == "down" ? 1 : rm == "nearest" ? 2 : 0;
      if (rm != "up" && rm != "down" && rm != "nearest")
        return InvalidArgument("{} round_mode must be 'up', 'down' or 'nearest', not '{}'", plan_.op, rm);
      KILN_CUDA_RETURN_IF_ERROR(
          launchCastSmall(x.raw(), x.dtype(), y.raw(), y.dtype(), y.numel(), saturate, roundMode, maxBlocks, c.stream));
      return Status::OK();
    }
    KILN_CUDA_RETURN_IF_ERROR(launchCast(x.raw(), x.dtype(), y.raw(), y.dtype(), y.numel(), maxBlocks, c.stream));
    return Status::OK();
  }

  Status dropout(const GpuKernelContext& c) const {
    // Inputs 1 (ratio) and 2 (training_mode) are host inputs.
    const bool training = c.hasInput(2) && c.in(2).numel() == 1 && c.in(2).intAt(0) != 0;
    const double ratio = c.hasInput(1) && c.in(1).numel() == 1 ? c.in(1).doubleAt(0) : 0.5;
    const Tensor& x = c.in(0);
    Tensor& y = c.out(0);
    if (x.nbytes() != y.nbytes())
      return InvalidArgument("Dropout: input {} vs output {}", x.describe(), y.describe());
    if (training && ratio != 0) {
      // Seeded only: the CPU reference's stream restarts from the seed every run, which a captured
      // graph replays; an unseeded layer would need fresh randomness per run.
      if (!c.attrs.has("seed")) return Unsupported("Dropout in training mode without a seed has no CUDA kernel");
      if (!(ratio >= 0 && ratio < 1)) return InvalidArgument("Dropout ratio must be in [0, 1), got {}", ratio);
      bool* mask = nullptr;
      if (c.hasOutput(1)) {
        if (c.out(1).dtype() != DType::kBool || c.out(1).numel() != x.numel())
          return InvalidArgument("Dropout mask {} must be bool of the input's size", c.out(1).describe());
        mask = c.out(1).data<bool>();
      }
      if (x.numel() == 0) return Status::OK();
      KILN_CUDA_RETURN_IF_ERROR(launchDropoutTrain(x.raw(), x.dtype(), y.raw(), mask, x.numel(),
                                                   static_cast<uint32_t>(c.attrs.getInt("seed")), ratio, c.stream));
      return Status::OK();
    }
    if (y.nbytes() && x.raw() != y.raw())
      KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(y.raw(), x.raw(), y.nbytes(), cudaMemcpyDeviceToDevice, c.stream));
    if (c.hasOutput(1) && c.out(1).nbytes()) {
      if (c.out(1).dtype() != DType::kBool) return InvalidArgument("Dropout mask must be bool");
      KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(c.out(1).raw(), 1, c.out(1).nbytes(), c.stream));  // true
    }
    return Status::OK();
  }

  LayerPlan plan_;
};

}  // namespace

bool chainCode(const std::string& name, int32_t* code) {
  static const std::map<std::string, int32_t> m = {
      {"Cast", kIdentity}, {"Relu", kRelu}, {"Sigmoid", kSigmoid}, {"Tanh", kTanh}, {"Exp", kExp}, {"Log", kLog},
      {"Neg", kNeg}, {"Abs", kAbs}, {"Sqrt", kSqrt}, {"Reciprocal", kReciprocal}, {"Erf", kErf}, {"Gelu", kGelu},
      {"GeluTanh", kGeluTanh}, {"Silu", kSilu}, {"HardSwish", kHardSwish}, {"LeakyRelu", kLeakyRelu},
      {"Softplus", kSoftplus}, {"Floor", kFloor}, {"Ceil", kCeil}, {"Clip", kClip}, {"Add", kAdd}, {"Sub", kSub},
      {"Mul", kMul}, {"Div", kDiv}, {"Pow", kPow}, {"Max", kMax}, {"Min", kMin}};
  auto it = m.find(name);
  if (it == m.end()) return false;
  *code = it->second;
  return true;
}

Result<LayerPlan> planLayer(const LayerDesc& d) {
  LayerPlan pl;
  pl.op = d.domain.empty() ? d.op : d.domain + ":" + d.op;
  static const AttrMap kNoAttrs;
  const AttrMap& a = d.attrs ? *d.attrs : kNoAttrs;
  if (d.domain == "kiln" && d.op == "ElementwiseChain") {
    pl.kind = Kind::kChain;
    if (!a.has("ops") || !a.has("operand") || !a.has("swapped"))
      return InvalidArgument("ElementwiseChain: ops, operand and swapped are required");
    const auto& ops = a.getStrings("ops");
    const auto& operand = a.getInts("operand");
    const auto& swapped = a.getInts("swapped");
    const auto alpha = a.getFloats("alpha", {});
    const auto beta = a.getFloats("beta", {});
    if (ops.empty() || operand.size() != ops.size() || swapped.size() != ops.size())
      return InvalidArgument("ElementwiseChain: ops, operand and swapped must have the same non-zero length");
    if (static_cast<int>(ops.size()) > kMaxSteps)
      return Unsupported("ElementwiseChain: {} steps, the CUDA kernel takes at most {}", ops.size(), kMaxSteps);
    pl.castIn = ops[0] == "Cast";
    for (size_t i = 0; i < ops.size(); ++i) {
      Step s;
      if (!chainCode(ops[i], &s.code)) return Unsupported("ElementwiseChain: op '{}' has no CUDA step", ops[i]);
      const bool binary = s.code >= kAdd;
      if (binary != (operand[i] >= 1))
        return Unsupported("ElementwiseChain: step {} ({}) with operand {}", i, ops[i], operand[i]);
      if (operand[i] >= kMaxSlots)
        return Unsupported("ElementwiseChain: operand {} (the CUDA kernel takes {} inputs)", operand[i], kMaxSlots);
      s.operand = binary ? static_cast<int32_t>(operand[i]) : -1;
      s.swapped = swapped[i] != 0;
      s.alpha = i < alpha.size() ? alpha[i] : 0.f;
      s.beta = i < beta.size() ? beta[i] : 0.f;
      pl.steps.push_back(s);
    }
    return pl;
  }
  if (!d.domain.empty()) return Unsupported("{} is not an element-wise op", pl.op);
  const std::string& op = d.op;
  if (auto it = unaryCodes().find(op); it != unaryCodes().end()) {
    pl.kind = Kind::kUnary;
    pl.step.code = it->second;
    KILN_RETURN_IF_ERROR(unaryParams(op, a, &pl.step));
  } else if (auto it = binaryCodes().find(op); it != binaryCodes().end()) {
    pl.kind = Kind::kBinary;
    pl.step.code = it->second;
    if (op == "Mod") pl.step.alpha = a.getInt("fmod") != 0 ? 1.f : 0.f;
    if (op == "BitShift") {
      const std::string& dir = a.getString("direction");
      if (dir == "RIGHT") pl.step.code = kShiftRight;
      else if (dir != "LEFT") return InvalidArgument("BitShift direction must be LEFT or RIGHT, not '{}'", dir);
    }
  } else if (auto it = variadicCodes().find(op); it != variadicCodes().end()) {
    pl.kind = Kind::kVariadic;
    pl.step.code = it->second;
    pl.mean = op == "Mean";
  } else if (op == "Clip") {
    pl.kind = Kind::kClip;
  } else if (op == "Where") {
    pl.kind = Kind::kWhere;
  } else if (op == "Cast" || op == "CastLike") {
    pl.kind = Kind::kCast;
  } else if (op == "Dropout") {
    pl.kind = Kind::kDropout;
  } else {
    return Unsupported("{} has no CUDA element-wise kernel", op);
  }
  return pl;
}

std::unique_ptr<GpuKernel> makeKernel(LayerPlan plan) { return std::make_unique<EltKernel>(std::move(plan)); }

}  // namespace kiln::cuda::eltwise
