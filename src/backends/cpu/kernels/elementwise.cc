// CPU reference kernels for element-wise ops (unary math, activations, binary arithmetic and
// logic with broadcasting, variadic Sum/Mean/Min/Max, Where, Clip, PRelu).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/cpu/kernels/broadcast.h"
#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/kernel_util.h"

namespace kiln::cpu {

void copyTensorData(const Tensor& src, Tensor& dst) {
  KILN_CHECK(src.numel() == dst.numel() && src.dtype() == dst.dtype());
  if (src.dtype() == DType::kString) {
    for (int64_t i = 0; i < src.numel(); ++i) dst.data<std::string>()[i] = src.data<std::string>()[i];
  } else if (src.nbytes() && src.raw() != dst.raw()) {
    std::memcpy(dst.raw(), src.raw(), src.nbytes());
  }
}

namespace {

template <typename C> C erfC(C x) { return std::erf(x); }
template <typename C> C sigmoidC(C x) { return x >= 0 ? C(1) / (C(1) + std::exp(-x)) : std::exp(x) / (C(1) + std::exp(x)); }
template <typename C> C softplusC(C x) { return x > C(20) ? x : std::log1p(std::exp(x)); }

// Round half to even, as ONNX Round requires.
template <typename C> C roundEven(C x) { return std::nearbyint(x); }

#define UNARY_FLOAT(NAME, EXPR)                                                        \
  Status NAME(const KernelContext& ctx) {                                              \
    return unaryMap<FloatTypes>(ctx, #NAME, [](auto x) -> decltype(x) { return EXPR; }); \
  }

UNARY_FLOAT(Sqrt, std::sqrt(x))
UNARY_FLOAT(Exp, std::exp(x))
UNARY_FLOAT(Log, std::log(x))
UNARY_FLOAT(Sin, std::sin(x))
UNARY_FLOAT(Cos, std::cos(x))
UNARY_FLOAT(Tan, std::tan(x))
UNARY_FLOAT(Asin, std::asin(x))
UNARY_FLOAT(Acos, std::acos(x))
UNARY_FLOAT(Atan, std::atan(x))
UNARY_FLOAT(Sinh, std::sinh(x))
UNARY_FLOAT(Cosh, std::cosh(x))
UNARY_FLOAT(Asinh, std::asinh(x))
UNARY_FLOAT(Acosh, std::acosh(x))
UNARY_FLOAT(Atanh, std::atanh(x))
UNARY_FLOAT(Erf, erfC(x))
UNARY_FLOAT(Sigmoid, sigmoidC(x))
UNARY_FLOAT(Tanh, std::tanh(x))
UNARY_FLOAT(Reciprocal, decltype(x)(1) / x)
UNARY_FLOAT(Softplus, softplusC(x))
UNARY_FLOAT(Softsign, x / (decltype(x)(1) + std::fabs(x)))
UNARY_FLOAT(Mish, x * std::tanh(softplusC(x)))
UNARY_FLOAT(Floor, std::floor(x))
UNARY_FLOAT(Ceil, std::ceil(x))
UNARY_FLOAT(Round, roundEven(x))
UNARY_FLOAT(HardSwish, x * std::max(decltype(x)(0), std::min(decltype(x)(1), x / decltype(x)(6) + decltype(x)(0.5))))
#undef UNARY_FLOAT

Status Elu(const KernelContext& ctx) {
  double alpha = ctx.attrs.getFloat("alpha");
  return unaryMap<FloatTypes>(ctx, "Elu", [=](auto x) -> decltype(x) {
    using C = decltype(x);
    return x >= 0 ? x : C(alpha) * (std::exp(x) - C(1));
  });
}
Status Celu(const KernelContext& ctx) {
  double alpha = ctx.attrs.getFloat("alpha");
  return unaryMap<FloatTypes>(ctx, "Celu", [=](auto x) -> decltype(x) {
    using C = decltype(x);
    return std::max(C(0), x) + std::min(C(0), C(alpha) * (std::exp(x / C(alpha)) - C(1)));
  });
}
Status Selu(const KernelContext& ctx) {
  double alpha = ctx.attrs.getFloat("alpha"), gamma = ctx.attrs.getFloat("gamma");
  return unaryMap<FloatTypes>(ctx, "Selu", [=](auto x) -> decltype(x) {
    using C = decltype(x);
    return x > 0 ? C(gamma) * x : C(gamma) * (C(alpha) * std::exp(x) - C(alpha));
  });
}
Status HardSigmoid(const KernelContext& ctx) {
  double alpha = ctx.attrs.getFloat("alpha"), beta = ctx.attrs.getFloat("beta");
  return unaryMap<FloatTypes>(ctx, "HardSigmoid", [=](auto x) -> decltype(x) {
    using C = decltype(x);
    return std::max(C(0), std::min(C(1), C(alpha) * x + C(beta)));
  });
}
Status ThresholdedRelu(const KernelContext& ctx) {
  double alpha = ctx.attrs.getFloat("alpha");
  return unaryMap<FloatTypes>(ctx, "ThresholdedRelu",
                              [=](auto x) -> decltype(x) { return x > decltype(x)(alpha) ? x : decltype(x)(0); });
}
Status LeakyRelu(const KernelContext& ctx) {
  double alpha = ctx.attrs.getFloat("alpha");
  return unaryMap<FloatTypes>(ctx, "LeakyRelu",
                              [=](auto x) -> decltype(x) { return x >= 0 ? x : decltype(x)(alpha) * x; });
}
Status Swish(const KernelContext& ctx) {
  double alpha = ctx.attrs.getFloat("alpha");
  return unaryMap<FloatTypes>(ctx, "Swish",
                              [=](auto x) -> decltype(x) { return x * sigmoidC(decltype(x)(alpha) * x); });
}
Status Gelu(const KernelContext& ctx) {
  bool tanhApprox = ctx.attrs.getString("approximate") == "tanh";
  return unaryMap<FloatTypes>(ctx, "Gelu", [=](auto x) -> decltype(x) {
    using C = decltype(x);
    if (tanhApprox) {
      const C k = C(0.7978845608028654);  // sqrt(2/pi)
      return C(0.5) * x * (C(1) + std::tanh(k * (x + C(0.044715) * x * x * x)));
    }
    return C(0.5) * x * (C(1) + std::erf(x * C(0.7071067811865476)));
  });
}

Status Abs(const KernelContext& ctx) {
  return unaryMap<NumericTypes>(ctx, "Abs", [](auto x) -> decltype(x) {
    if constexpr (std::is_unsigned_v<decltype(x)>) return x;
    else return x < 0 ? decltype(x)(-x) : x;
  });
}
Status Neg(const KernelContext& ctx) {
  return unaryMap<SignedNumericTypes>(ctx, "Neg", [](auto x) -> decltype(x) { return decltype(x)(-x); });
}
Status Sign(const KernelContext& ctx) {
  return unaryMap<NumericTypes>(ctx, "Sign", [](auto x) -> decltype(x) {
    using C = decltype(x);
    return x > C(0) ? C(1) : (x < C(0) ? C(-1) : C(0));
  });
}
Status Relu(const KernelContext& ctx) {
  return unaryMap<SignedNumericTypes>(ctx, "Relu",
                                      [](auto x) -> decltype(x) { return x > 0 ? x : decltype(x)(0); });
}
Status Shrink(const KernelContext& ctx) {
  double bias = ctx.attrs.getFloat("bias"), lambd = ctx.attrs.getFloat("lambd");
  return unaryMap<NumericTypes>(ctx, "Shrink", [=](auto x) -> decltype(x) {
    using C = decltype(x);
    double v = static_cast<double>(x);
    return v < -lambd ? C(v + bias) : (v > lambd ? C(v - bias) : C(0));
  });
}
Status BitwiseNot(const KernelContext& ctx) {
  return unaryMap<IntTypes>(ctx, "BitwiseNot", [](auto x) -> decltype(x) { return decltype(x)(~x); });
}
Status Not(const KernelContext& ctx) {
  const bool* x = ctx.in(0).data<bool>();
  bool* y = ctx.out(0).data<bool>();
  for (int64_t i = 0; i < ctx.in(0).numel(); ++i) y[i] = !x[i];
  return Status::OK();
}
Status IsNaN(const KernelContext& ctx) {
  return unaryPredicate<TypeList<float, double, Float16, BFloat16, Float8E4M3FN, Float8E4M3FNUZ,
                                 Float8E5M2, Float8E5M2FNUZ>>(ctx, "IsNaN",
                                                              [](auto x) { return std::isnan(x); });
}
Status IsInf(const KernelContext& ctx) {
  bool neg = ctx.attrs.getInt("detect_negative") != 0, pos = ctx.attrs.getInt("detect_positive") != 0;
  return unaryPredicate<TypeList<float, double, Float16, BFloat16, Float8E4M3FN, Float8E4M3FNUZ,
                                 Float8E5M2, Float8E5M2FNUZ>>(ctx, "IsInf", [=](auto x) {
    return std::isinf(x) && ((x > 0 && pos) || (x < 0 && neg));
  });
}

// ---- binary ---------------------------------------------------------------------------

template <typename List, typename F>
Status binaryMap(const KernelContext& ctx, std::string_view op, F f) {
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  Tensor& y = ctx.out(0);
  KILN_RETURN_IF_ERROR(checkBroadcast(op, y.dims(), {&a.dims(), &b.dims()}));
  return dispatchOr<List>(op, a.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = compute_t<T>;
    broadcastBinary(a.data<T>(), a.dims(), b.data<T>(), b.dims(), y.data<T>(), y.dims(),
                    [&](T x, T z) { return convertValue<T>(f(static_cast<C>(x), static_cast<C>(z))); });
  });
}

// Compares in the compute type (strings as they are).
template <typename C, typename F, typename T>
bool compareValues(F& f, const T& x, const T& z) {
  return f(static_cast<C>(x), static_cast<C>(z));
}
template <typename C, typename F>
bool compareValues(F& f, const std::string& x, const std::string& z) {
  return f(x, z);
}

template <typename List, typename F>
Status compareMap(const KernelContext& ctx, std::string_view op, F f) {
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  Tensor& y = ctx.out(0);
  KILN_RETURN_IF_ERROR(checkBroadcast(op, y.dims(), {&a.dims(), &b.dims()}));
  return dispatchOr<List>(op, a.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = compute_t<T>;
    broadcastBinary(a.data<T>(), a.dims(), b.data<T>(), b.dims(), y.data<bool>(), y.dims(),
                    [&](const T& x, const T& z) -> bool { return compareValues<C>(f, x, z); });
  });
}

Status Add(const KernelContext& c) { return binaryMap<NumericTypes>(c, "Add", [](auto x, auto y) { return x + y; }); }
Status Sub(const KernelContext& c) { return binaryMap<NumericTypes>(c, "Sub", [](auto x, auto y) { return x - y; }); }
Status Mul(const KernelContext& c) { return binaryMap<NumericTypes>(c, "Mul", [](auto x, auto y) { return x * y; }); }
Status Div(const KernelContext& c) {
  return binaryMap<NumericTypes>(c, "Div", [](auto x, auto y) -> decltype(x) {
    using C = decltype(x);
    if constexpr (std::is_integral_v<C>) {
      if (y == 0) return C(0);  // undefined in ONNX; never trap
      if constexpr (std::is_signed_v<C>)
        if (y == C(-1)) return C(0 - x);
    }
    return x / y;
  });
}
Status Mod(const KernelContext& c) {
  bool fmodMode = c.attrs.getInt("fmod") != 0;
  return binaryMap<NumericTypes>(c, "Mod", [=](auto x, auto y) -> decltype(x) {
    using C = decltype(x);
    if constexpr (std::is_integral_v<C>) {
      if (y == 0) return C(0);
      if constexpr (std::is_signed_v<C>) {
        if (y == C(-1)) return C(0);
        C r = x % y;
        if (!fmodMode && r != 0 && ((r < 0) != (y < 0))) r += y;  // sign of the divisor
        return r;
      } else {
        return x % y;
      }
    } else {
      C r = std::fmod(x, y);
      if (!fmodMode && r != 0 && ((r < 0) != (y < 0))) r += y;
      return r;
    }
  });
}
Status Pow(const KernelContext& c) {
  const Tensor &a = c.in(0), &b = c.in(1);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkBroadcast("Pow", y.dims(), {&a.dims(), &b.dims()}));
  Status inner;
  Status st = dispatchOr<NumericTypes>("Pow", a.dtype(), [&](auto ta) {
    using T = KILN_TYPE(ta);
    inner = dispatchOr<NumericTypes>("Pow exponent", b.dtype(), [&](auto tb) {
      using U = KILN_TYPE(tb);
      broadcastBinary(a.data<T>(), a.dims(), b.data<U>(), b.dims(), y.data<T>(), y.dims(),
                      [](T x, U e) {
                        if constexpr (std::is_same_v<T, float> && std::is_same_v<U, float>)
                          return std::pow(x, e);
                        else
                          return convertValue<T>(std::pow(convertValue<double>(x), convertValue<double>(e)));
                      });
    });
  });
  KILN_RETURN_IF_ERROR(st);
  return inner;
}
Status BitwiseAnd(const KernelContext& c) { return binaryMap<IntTypes>(c, "BitwiseAnd", [](auto x, auto y) { return decltype(x)(x & y); }); }
Status BitwiseOr(const KernelContext& c) { return binaryMap<IntTypes>(c, "BitwiseOr", [](auto x, auto y) { return decltype(x)(x | y); }); }
Status BitwiseXor(const KernelContext& c) { return binaryMap<IntTypes>(c, "BitwiseXor", [](auto x, auto y) { return decltype(x)(x ^ y); }); }
Status BitShift(const KernelContext& c) {
  bool left = c.attrs.getString("direction") == "LEFT";
  return binaryMap<TypeList<uint8_t, uint16_t, uint32_t, uint64_t>>(c, "BitShift", [=](auto x, auto s) -> decltype(x) {
    using C = decltype(x);
    if (s >= C(sizeof(C) * 8)) return C(0);
    return left ? C(x << s) : C(x >> s);
  });
}
Status And(const KernelContext& c) { return binaryMap<TypeList<bool>>(c, "And", [](bool x, bool y) { return x && y; }); }
Status Or(const KernelContext& c) { return binaryMap<TypeList<bool>>(c, "Or", [](bool x, bool y) { return x || y; }); }
Status Xor(const KernelContext& c) { return binaryMap<TypeList<bool>>(c, "Xor", [](bool x, bool y) { return x != y; }); }

using CompareTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t,
                              int32_t, uint32_t, int64_t, uint64_t, bool>;
using EqualTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t,
                            int32_t, uint32_t, int64_t, uint64_t, bool, std::string>;
Status Equal(const KernelContext& c) { return compareMap<EqualTypes>(c, "Equal", [](const auto& x, const auto& y) { return x == y; }); }
Status Less(const KernelContext& c) { return compareMap<CompareTypes>(c, "Less", [](auto x, auto y) { return x < y; }); }
Status Greater(const KernelContext& c) { return compareMap<CompareTypes>(c, "Greater", [](auto x, auto y) { return x > y; }); }
Status LessOrEqual(const KernelContext& c) { return compareMap<CompareTypes>(c, "LessOrEqual", [](auto x, auto y) { return x <= y; }); }
Status GreaterOrEqual(const KernelContext& c) { return compareMap<CompareTypes>(c, "GreaterOrEqual", [](auto x, auto y) { return x >= y; }); }

// Variadic ops fold inputs into the output one at a time: out = in0 broadcast, out = f(out, in_k).
template <typename F>
Status variadic(const KernelContext& c, std::string_view op, F f, bool mean = false) {
  Tensor& y = c.out(0);
  for (int k = 0; k < c.numInputs(); ++k) KILN_RETURN_IF_ERROR(checkBroadcast(op, y.dims(), {&c.in(k).dims()}));
  return dispatchOr<NumericTypes>(op, y.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = compute_t<T>;
    T* py = y.data<T>();
    const Tensor& first = c.in(0);
    broadcastBinary(first.data<T>(), first.dims(), py, y.dims(), py, y.dims(), [](T a, T) { return a; });
    for (int k = 1; k < c.numInputs(); ++k) {
      const Tensor& x = c.in(k);
      broadcastBinary(py, y.dims(), x.data<T>(), x.dims(), py, y.dims(), [&](T a, T b) {
        return convertValue<T>(f(static_cast<C>(a), static_cast<C>(b)));
      });
    }
    if (mean) {
      const C n = static_cast<C>(c.numInputs());
      for (int64_t i = 0; i < y.numel(); ++i) py[i] = convertValue<T>(static_cast<C>(py[i]) / n);
    }
  });
}
template <typename C> C nanMax(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<C>::quiet_NaN();
  return a > b ? a : b;
}
template <typename C> C nanMin(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<C>::quiet_NaN();
  return a < b ? a : b;
}
Status Sum(const KernelContext& c) { return variadic(c, "Sum", [](auto a, auto b) { return a + b; }); }
Status Mean(const KernelContext& c) { return variadic(c, "Mean", [](auto a, auto b) { return a + b; }, true); }
Status Max(const KernelContext& c) { return variadic(c, "Max", [](auto a, auto b) { return nanMax(a, b); }); }
Status Min(const KernelContext& c) { return variadic(c, "Min", [](auto a, auto b) { return nanMin(a, b); }); }

Status Where(const KernelContext& c) {
  const Tensor &cond = c.in(0), &x = c.in(1), &z = c.in(2);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkBroadcast("Where", y.dims(), {&cond.dims(), &x.dims(), &z.dims()}));
  BroadcastPlan<3> plan(y.dims(), {cond.dims(), x.dims(), z.dims()});
  const int64_t s0 = plan.innerStride(0), s1 = plan.innerStride(1), s2 = plan.innerStride(2);
  const bool* pc = cond.data<bool>();
  return dispatchOr<TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t,
                             int32_t, uint32_t, int64_t, uint64_t, bool, std::string>>(
      "Where", x.dtype(), [&](auto tag) {
        using T = KILN_TYPE(tag);
        const T* px = x.data<T>();
        const T* pz = z.data<T>();
        T* py = y.data<T>();
        plan.forEachRow([&](int64_t o, const std::array<int64_t, 3>& off, int64_t n) {
          for (int64_t i = 0; i < n; ++i)
            py[o + i] = pc[off[0] + i * s0] ? px[off[1] + i * s1] : pz[off[2] + i * s2];
        });
      });
}

Status PRelu(const KernelContext& c) {
  const Tensor &x = c.in(0), &slope = c.in(1);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkBroadcast("PRelu", y.dims(), {&x.dims(), &slope.dims()}));
  return dispatchOr<SignedNumericTypes>("PRelu", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = compute_t<T>;
    broadcastBinary(x.data<T>(), x.dims(), slope.data<T>(), slope.dims(), y.data<T>(), y.dims(),
                    [](T a, T s) {
                      C v = static_cast<C>(a);
                      return v < C(0) ? convertValue<T>(v * static_cast<C>(s)) : a;
                    });
  });
}

Status Clip(const KernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  return dispatchOr<NumericTypes>("Clip", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = compute_t<T>;
    C lo = c.hasInput(1) && c.in(1).numel() ? static_cast<C>(c.in(1).data<T>()[0]) : std::numeric_limits<C>::lowest();
    C hi = c.hasInput(2) && c.in(2).numel() ? static_cast<C>(c.in(2).data<T>()[0]) : std::numeric_limits<C>::max();
    if constexpr (std::is_floating_point_v<C>) {
      if (!c.hasInput(1)) lo = -std::numeric_limits<C>::infinity();
      if (!c.hasInput(2)) hi = std::numeric_limits<C>::infinity();
    }
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallelFor(x.numel(), 16384, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        C v = static_cast<C>(px[i]);
        C w = v < lo ? lo : v;  // min > max gives max, as ONNX specifies
        py[i] = convertValue<T>(w > hi ? hi : w);
      }
    });
  });
}

}  // namespace

void RegisterElementwiseKernels(KernelRegistry& r) {
#define REG(NAME) r.addFn(#NAME, "cpu_ref_" #NAME, &NAME)
  REG(Sqrt); REG(Exp); REG(Log); REG(Sin); REG(Cos); REG(Tan); REG(Asin); REG(Acos); REG(Atan);
  REG(Sinh); REG(Cosh); REG(Asinh); REG(Acosh); REG(Atanh); REG(Erf); REG(Sigmoid); REG(Tanh);
  REG(Reciprocal); REG(Softplus); REG(Softsign); REG(Mish); REG(Floor); REG(Ceil); REG(Round);
  REG(HardSwish); REG(Elu); REG(Celu); REG(Selu); REG(HardSigmoid); REG(ThresholdedRelu);
  REG(LeakyRelu); REG(Swish); REG(Gelu); REG(Abs); REG(Neg); REG(Sign); REG(Relu); REG(Shrink);
  REG(BitwiseNot); REG(Not); REG(IsNaN); REG(IsInf);
  REG(Add); REG(Sub); REG(Mul); REG(Div); REG(Mod); REG(Pow); REG(BitwiseAnd); REG(BitwiseOr);
  REG(BitwiseXor); REG(BitShift); REG(And); REG(Or); REG(Xor); REG(Equal); REG(Less);
  REG(Greater); REG(LessOrEqual); REG(GreaterOrEqual); REG(Sum); REG(Mean); REG(Max); REG(Min);
  REG(Where); REG(PRelu); REG(Clip);
#undef REG
}

}  // namespace kiln::cpu
