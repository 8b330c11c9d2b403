// kiln:ElementwiseChain on the CPU: the chain is decoded once when the kernel is created; a run
// streams the tensor through it in cache-sized blocks, one read of the input and one write of the
// output however long the chain is.
#include <cmath>
#include <vector>

#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/kernel_util.h"
#include "core/activation.h"

namespace kiln::cpu {

namespace {

enum class Op {
  kCast, kRelu, kSigmoid, kTanh, kExp, kLog, kNeg, kAbs, kSqrt, kReciprocal, kErf, kGelu, kGeluTanh, kSilu,
  kHardSwish, kLeakyRelu, kSoftplus, kFloor, kCeil, kClip, kAdd, kSub, kMul, kDiv, kPow, kMax, kMin
};

bool parseOp(const std::string& s, Op* op) {
  static const std::pair<const char*, Op> kOps[] = {
      {"Cast", Op::kCast}, {"Relu", Op::kRelu}, {"Sigmoid", Op::kSigmoid}, {"Tanh", Op::kTanh}, {"Exp", Op::kExp},
      {"Log", Op::kLog}, {"Neg", Op::kNeg}, {"Abs", Op::kAbs}, {"Sqrt", Op::kSqrt}, {"Reciprocal", Op::kReciprocal},
      {"Erf", Op::kErf}, {"Gelu", Op::kGelu}, {"GeluTanh", Op::kGeluTanh}, {"Silu", Op::kSilu},
      {"HardSwish", Op::kHardSwish}, {"LeakyRelu", Op::kLeakyRelu}, {"Softplus", Op::kSoftplus}, {"Floor", Op::kFloor},
      {"Ceil", Op::kCeil}, {"Clip", Op::kClip}, {"Add", Op::kAdd}, {"Sub", Op::kSub}, {"Mul", Op::kMul},
      {"Div", Op::kDiv}, {"Pow", Op::kPow}, {"Max", Op::kMax}, {"Min", Op::kMin}};
  for (const auto& [n, o] : kOps)
    if (s == n) {
      *op = o;
      return true;
    }
  return false;
}

struct Step {
  Op op;
  int operand;  // -1 unary, else input index
  bool swapped;
  float alpha, beta;
};

inline float unary(const Step& s, float v) {
  switch (s.op) {
    case Op::kCast: return v;
    case Op::kRelu: return v > 0 ? v : 0;
    case Op::kSigmoid: return 1.f / (1.f + std::exp(-v));
    case Op::kTanh: return std::tanh(v);
    case Op::kExp: return std::exp(v);
    case Op::kLog: return std::log(v);
    case Op::kNeg: return -v;
    case Op::kAbs: return std::fabs(v);
    case Op::kSqrt: return std::sqrt(v);
    case Op::kReciprocal: return 1.f / v;
    case Op::kErf: return std::erf(v);
    case Op::kGelu: return applyActivation<float>(Activation::kGeluErf, v, 0, 0);
    case Op::kGeluTanh: return applyActivation<float>(Activation::kGeluTanh, v, 0, 0);
    case Op::kSilu: return v / (1.f + std::exp(-s.alpha * v));
    case Op::kHardSwish: return applyActivation<float>(Activation::kHardSwish, v, 0, 0);
    case Op::kLeakyRelu: return v >= 0 ? v : s.alpha * v;
    case Op::kSoftplus: return v > 20.f ? v : std::log1p(std::exp(v));
    case Op::kFloor: return std::floor(v);
    case Op::kCeil: return std::ceil(v);
    case Op::kClip: return v < s.alpha ? s.alpha : (v > s.beta ? s.beta : v);
    default: return v;
  }
}

inline float binary(Op op, float a, float b) {
  switch (op) {
    case Op::kAdd: return a + b;
    case Op::kSub: return a - b;
    case Op::kMul: return a * b;
    case Op::kDiv: return a / b;
    case Op::kPow: return std::pow(a, b);
    case Op::kMax: return std::isnan(a) || std::isnan(b) ? NAN : (a > b ? a : b);
    case Op::kMin: return std::isnan(a) || std::isnan(b) ? NAN : (a < b ? a : b);
    default: return a;
  }
}

class ChainKernel final : public Kernel {
 public:
  explicit ChainKernel(std::vector<Step> steps) : steps_(std::move(steps)) {}

  Status run(const KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    Tensor& y = ctx.out(0);
    if (y.dtype() != DType::kFloat32) return unsupportedType("kiln:ElementwiseChain", y.dtype());
    if (x.numel() != y.numel()) return InvalidArgument("ElementwiseChain: input {} vs output {}", x.dims().toString(), y.dims().toString());
    const int64_t n = y.numel();
    // Each other operand: a scalar, the output's size, or a vector of the output's trailing dims.
    std::array<const float*, 16> ptr{};
    std::array<int64_t, 16> period{};
    for (int i = 1; i < ctx.numInputs() && i < 16; ++i) {
      const Tensor& o = ctx.in(i);
      if (o.dtype() != DType::kFloat32) return unsupportedType("kiln:ElementwiseChain operand", o.dtype());
      int64_t m = o.numel();
      if (m == 0 || (m != 1 && n % m != 0))
        return InvalidArgument("ElementwiseChain: operand {} of shape {} does not fit the output {}", i, o.dims().toString(),
                               y.dims().toString());
      ptr[i] = o.data<float>();
      period[i] = m;
    }
    float* py = y.data<float>();
    Status st = dispatchOr<TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t, int32_t,
                                    uint32_t, int64_t, uint64_t, bool>>("kiln:ElementwiseChain", x.dtype(), [&](auto tag) {
      using T = KILN_TYPE(tag);
      const T* px = x.data<T>();
      parallelFor(n, 8192, [&](int64_t b, int64_t e) {
        constexpr int64_t kBlock = 512;
        float buf[kBlock];
        for (int64_t s0 = b; s0 < e; s0 += kBlock) {
          const int64_t len = std::min(kBlock, e - s0);
          for (int64_t i = 0; i < len; ++i) buf[i] = convertValue<float>(px[s0 + i]);
          for (const Step& st : steps_) {
            if (st.operand < 0) {
              for (int64_t i = 0; i < len; ++i) buf[i] = unary(st, buf[i]);
              continue;
            }
            const float* op = ptr[st.operand];
            const int64_t m = period[st.operand];
            if (m == 1) {
              const float c = op[0];
              if (st.swapped) for (int64_t i = 0; i < len; ++i) buf[i] = binary(st.op, c, buf[i]);
              else for (int64_t i = 0; i < len; ++i) buf[i] = binary(st.op, buf[i], c);
            } else {
              for (int64_t i = 0; i < len; ++i) {
                const float c = op[(s0 + i) % m];
                buf[i] = st.swapped ? binary(st.op, c, buf[i]) : binary(st.op, buf[i], c);
              }
            }
          }
          std::memcpy(py + s0, buf, static_cast<size_t>(len) * sizeof(float));
        }
      });
    });
    return st;
  }

 private:
  std::vector<Step> steps_;
};

Result<std::unique_ptr<Kernel>> createChain(const LayerDesc& d) {
  const AttrMap& a = *d.attrs;
  const auto& ops = a.getStrings("ops");
  const auto& operand = a.getInts("operand");
  const auto& swapped = a.getInts("swapped");
  auto alpha = a.getFloats("alpha", {});
  auto beta = a.getFloats("beta", {});
  std::vector<Step> steps;
  for (size_t i = 0; i < ops.size(); ++i) {
    Step s{};
    if (!parseOp(ops[i], &s.op)) return Unsupported("ElementwiseChain: unknown op '{}'", ops[i]);
    s.operand = static_cast<int>(operand[i]);
    s.swapped = swapped[i] != 0;
    s.alpha = i < alpha.size() ? alpha[i] : 0.0f;
    s.beta = i < beta.size() ? beta[i] : 0.0f;
    if (s.operand >= 16) return Unsupported("ElementwiseChain: at most 15 operands");
    steps.push_back(s);
  }
  return std::unique_ptr<Kernel>(std::make_unique<ChainKernel>(std::move(steps)));
}

}  // namespace

void RegisterFusedElementwiseKernels(KernelRegistry& r) {
  KernelDef k;
  k.domain = "kiln";
  k.op = "ElementwiseChain";
  k.tactic = "cpu_elementwise_chain";
  k.create = createChain;
  r.add(std::move(k));
}

}  // namespace kiln::cpu
