// Device-side semantics of the element-wise step codes (eltwise_launch.h), written to match the CPU
// reference kernels (backends/cpu/kernels/elementwise.cc, fused_elementwise.cc) in the compute
// type C: float for float32/float16/bfloat16, double for float64, the integer type itself for
// integers (exact, with the CPU's rules for division by zero and -1), bool for logic.
//
// Each function applies one step to VEC values at once; the switch sits outside the VEC loop so
// the (warp-uniform) decode is paid once per step and chunk.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "backends/cuda/kernels/eltwise_launch.h"

namespace kiln::cuda::eltwise {

// float / double overloads of the libm functions (device code).
#define KILN_ELT_MATH1(name)                                                     \
  __device__ __forceinline__ float m_##name(float x) { return ::name##f(x); }    \
  __device__ __forceinline__ double m_##name(double x) { return ::name(x); }
KILN_ELT_MATH1(exp)
KILN_ELT_MATH1(log)
KILN_ELT_MATH1(log1p)
KILN_ELT_MATH1(sqrt)
KILN_ELT_MATH1(tanh)
KILN_ELT_MATH1(erf)
KILN_ELT_MATH1(floor)
KILN_ELT_MATH1(ceil)
KILN_ELT_MATH1(rint)
KILN_ELT_MATH1(sin)
KILN_ELT_MATH1(cos)
KILN_ELT_MATH1(tan)
KILN_ELT_MATH1(asin)
KILN_ELT_MATH1(acos)
KILN_ELT_MATH1(atan)
KILN_ELT_MATH1(sinh)
KILN_ELT_MATH1(cosh)
KILN_ELT_MATH1(asinh)
KILN_ELT_MATH1(acosh)
KILN_ELT_MATH1(atanh)
KILN_ELT_MATH1(fabs)
#undef KILN_ELT_MATH1
__device__ __forceinline__ float m_pow(float a, float b) { return b == 2.f ? a * a : ::powf(a, b); }
__device__ __forceinline__ double m_pow(double a, double b) { return b == 2.0 ? a * a : ::pow(a, b); }
__device__ __forceinline__ float m_fmod(float a, float b) { return ::fmodf(a, b); }
__device__ __forceinline__ double m_fmod(double a, double b) { return ::fmod(a, b); }

template <typename C>
__device__ __forceinline__ C sigmoidOf(C x) {
  // The CPU's stable form: never exp of a large positive number.
  if (x >= C(0)) return C(1) / (C(1) + m_exp(-x));
  C e = m_exp(x);
  return e / (C(1) + e);
}
template <typename C>
__device__ __forceinline__ C softplusOf(C x) {
  return x > C(20) ? x : m_log1p(m_exp(x));
}

#define KILN_ELT_U(CODE, EXPR)              \
  case CODE:                                \
    _Pragma("unroll") for (int j = 0; j < VEC; ++j) { \
      const C x = v[j];                     \
      v[j] = (EXPR);                        \
    }                                       \
    break;

#define KILN_ELT_B(CODE, EXPR)              \
  case CODE:                                \
    _Pragma("unroll") for (int j = 0; j < VEC; ++j) { \
      const C a = l[j];                     \
      const C b = r[j];                     \
      v[j] = (EXPR);                        \
    }                                       \
    break;

// ---- floating point (C = float or double) -------------------------------------------------------
template <typename C, int VEC>
__device__ __forceinline__ void unaryFloat(const Step& s, C (&v)[VEC]) {
  const C alpha = C(s.alpha), beta = C(s.beta);
  (void)alpha;
  (void)beta;
  switch (s.code) {
    KILN_ELT_U(kRelu, x > C(0) ? x : C(0))
    KILN_ELT_U(kSigmoid, sigmoidOf(x))
    KILN_ELT_U(kTanh, m_tanh(x))
    KILN_ELT_U(kExp, m_exp(x))
    KILN_ELT_U(kLog, m_log(x))
    KILN_ELT_U(kNeg, -x)
    KILN_ELT_U(kAbs, m_fabs(x))
    KILN_ELT_U(kSqrt, m_sqrt(x))
    KILN_ELT_U(kReciprocal, C(1) / x)
    KILN_ELT_U(kErf, m_erf(x))
    KILN_ELT_U(kGelu, C(0.5) * x * (C(1) + m_erf(x * C(0.7071067811865476))))
    KILN_ELT_U(kGeluTanh, C(0.5) * x * (C(1) + m_tanh(C(0.7978845608028654) * (x + C(0.044715) * x * x * x))))
    KILN_ELT_U(kSilu, x * sigmoidOf(alpha * x))
    KILN_ELT_U(kHardSwish, x * fmax(C(0), fmin(C(1), x / C(6) + C(0.5))))
    KILN_ELT_U(kLeakyRelu, x >= C(0) ? x : alpha * x)
    KILN_ELT_U(kSoftplus, softplusOf(x))
    KILN_ELT_U(kFloor, m_floor(x))
    KILN_ELT_U(kCeil, m_ceil(x))
    KILN_ELT_U(kClip, x < alpha ? alpha : (x > beta ? beta : x))
    KILN_ELT_U(kRound, m_rint(x))
    KILN_ELT_U(kSign, x > C(0) ? C(1) : (x < C(0) ? C(-1) : C(0)))
    KILN_ELT_U(kSin, m_sin(x))
    KILN_ELT_U(kCos, m_cos(x))
    KILN_ELT_U(kTan, m_tan(x))
    KILN_ELT_U(kAsin, m_asin(x))
    KILN_ELT_U(kAcos, m_acos(x))
    KILN_ELT_U(kAtan, m_atan(x))
    KILN_ELT_U(kSinh, m_sinh(x))
    KILN_ELT_U(kCosh, m_cosh(x))
    KILN_ELT_U(kAsinh, m_asinh(x))
    KILN_ELT_U(kAcosh, m_acosh(x))
    KILN_ELT_U(kAtanh, m_atanh(x))
    KILN_ELT_U(kSoftsign, x / (C(1) + m_fabs(x)))
    KILN_ELT_U(kMish, x * m_tanh(softplusOf(x)))
    KILN_ELT_U(kElu, x >= C(0) ? x : alpha * (m_exp(x) - C(1)))
    KILN_ELT_U(kCelu, fmax(C(0), x) + fmin(C(0), alpha * (m_exp(x / alpha) - C(1))))
    KILN_ELT_U(kSelu, x > C(0) ? beta * x : beta * (alpha * m_exp(x) - alpha))
    KILN_ELT_U(kHardSigmoid, fmax(C(0), fmin(C(1), alpha * x + beta)))
    KILN_ELT_U(kThresholdedRelu, x > alpha ? x : C(0))
    KILN_ELT_U(kShrink, x < -beta ? C(x + alpha) : (x > beta ? C(x - alpha) : C(0)))
    KILN_ELT_U(kIsNaN, isnan(x) ? C(1) : C(0))
    KILN_ELT_U(kIsInf, (isinf(x) && ((x > C(0) && s.beta != 0.f) || (x < C(0) && s.alpha != 0.f))) ? C(1) : C(0))
    KILN_ELT_U(kDivCount, x / alpha)
    default: break;  // kIdentity (Cast in a chain)
  }
}

template <typename C>
__device__ __forceinline__ C floatMod(C a, C b, bool fmodMode) {
  C q = m_fmod(a, b);
  if (!fmodMode && q != C(0) && ((q < C(0)) != (b < C(0)))) q += b;  // sign of the divisor
  return q;
}

template <typename C, int VEC>
__device__ __forceinline__ void binaryFloat(const Step& s, C (&v)[VEC], const C (&l)[VEC], const C (&r)[VEC]) {
  const bool fmodMode = s.alpha != 0.f;
  (void)fmodMode;
  switch (s.code) {
    KILN_ELT_B(kAdd, a + b)
    KILN_ELT_B(kSub, a - b)
    KILN_ELT_B(kMul, a * b)
    KILN_ELT_B(kDiv, a / b)
    KILN_ELT_B(kPow, m_pow(a, b))
    KILN_ELT_B(kMax, (isnan(a) || isnan(b)) ? C(NAN) : (a > b ? a : b))
    KILN_ELT_B(kMin, (isnan(a) || isnan(b)) ? C(NAN) : (a < b ? a : b))
    KILN_ELT_B(kMod, floatMod(a, b, fmodMode))
    KILN_ELT_B(kEqual, a == b ? C(1) : C(0))
    KILN_ELT_B(kLess, a < b ? C(1) : C(0))
    KILN_ELT_B(kGreater, a > b ? C(1) : C(0))
    KILN_ELT_B(kLessOrEqual, a <= b ? C(1) : C(0))
    KILN_ELT_B(kGreaterOrEqual, a >= b ? C(1) : C(0))
    KILN_ELT_B(kPRelu, a < C(0) ? a * b : a)
    KILN_ELT_B(kClipLo, a < b ? b : a)
    KILN_ELT_B(kClipHi, a > b ? b : a)
    default: break;
  }
}

// ---- integers (C = the integer type; exact) -------------------------------------------------------
template <typename C>
__device__ __forceinline__ C intDiv(C x, C y) {
  if (y == C(0)) return C(0);  // undefined in ONNX; never trap (as the CPU)
  if constexpr (std::is_signed_v<C>)
    if (y == C(-1)) return C(C(0) - x);
  return C(x / y);
}
template <typename C>
__device__ __forceinline__ C intMod(C x, C y, bool fmodMode) {
  if (y == C(0)) return C(0);
  if constexpr (std::is_signed_v<C>) {
    if (y == C(-1)) return C(0);
    C q = C(x % y);
    if (!fmodMode && q != 0 && ((q < 0) != (y < 0))) q = C(q + y);
    return q;
  } else {
    return C(x % y);
  }
}

template <typename C>
__device__ __forceinline__ bool isNeg(C x) {
  if constexpr (std::is_unsigned_v<C>) return false;
  else return x < C(0);
}
// Integer Pow as the CPU computes it (pow in double, truncated to C), but by repeated squaring:
// the device's pow() is not exact for exact integer results (5^3 may come out as 124.999...).
template <typename C>
__device__ __forceinline__ C intPow(C a, C b) {
  double r = 1.0, base = static_cast<double>(a);
  uint64_t k = isNeg(b) ? uint64_t{0} - static_cast<uint64_t>(static_cast<int64_t>(b)) : static_cast<uint64_t>(b);
  while (k) {
    if (k & 1) r *= base;
    base *= base;
    k >>= 1;
  }
  if (isNeg(b)) r = 1.0 / r;
  return static_cast<C>(r);
}

template <typename C>
__device__ __forceinline__ C intAbs(C x) {
  if constexpr (std::is_unsigned_v<C>) return x;
  else return x < C(0) ? C(C(0) - x) : x;
}
template <typename C>
__device__ __forceinline__ C intShrink(C x, float biasF, float lambdF) {
  // In double, as the CPU.
  const double d = static_cast<double>(x);
  const double bias = biasF;
  const double lambd = lambdF;
  return d < -lambd ? C(d + bias) : (d > lambd ? C(d - bias) : C(0));
}

template <typename C, int VEC>
__device__ __forceinline__ void unaryInt(const Step& s, C (&v)[VEC]) {
  switch (s.code) {
    KILN_ELT_U(kRelu, x > C(0) ? x : C(0))
    KILN_ELT_U(kNeg, C(C(0) - x))
    KILN_ELT_U(kAbs, intAbs(x))
    KILN_ELT_U(kSign, x > C(0) ? C(1) : (isNeg(x) ? C(-1) : C(0)))
    KILN_ELT_U(kBitwiseNot, C(~x))
    KILN_ELT_U(kShrink, intShrink(x, s.alpha, s.beta))
    KILN_ELT_U(kDivCount, C(x / C(s.alpha)))
    default: break;
  }
}

template <typename C, int VEC>
__device__ __forceinline__ void binaryInt(const Step& s, C (&v)[VEC], const C (&l)[VEC], const C (&r)[VEC]) {
  const bool fmodMode = s.alpha != 0.f;
  constexpr int kBits = int(sizeof(C) * 8);
  (void)kBits;
  switch (s.code) {
    KILN_ELT_B(kAdd, C(a + b))
    KILN_ELT_B(kSub, C(a - b))
    KILN_ELT_B(kMul, C(a * b))
    KILN_ELT_B(kDiv, intDiv(a, b))
    KILN_ELT_B(kPow, intPow(a, b))
    KILN_ELT_B(kMax, a > b ? a : b)
    KILN_ELT_B(kMin, a < b ? a : b)
    KILN_ELT_B(kMod, intMod(a, b, fmodMode))
    KILN_ELT_B(kBitAnd, C(a & b))
    KILN_ELT_B(kBitOr, C(a | b))
    KILN_ELT_B(kBitXor, C(a ^ b))
    KILN_ELT_B(kShiftLeft, b >= C(kBits) ? C(0) : C(a << b))  // unsigned types only (supports)
    KILN_ELT_B(kShiftRight, b >= C(kBits) ? C(0) : C(a >> b))
    KILN_ELT_B(kEqual, a == b ? C(1) : C(0))
    KILN_ELT_B(kLess, a < b ? C(1) : C(0))
    KILN_ELT_B(kGreater, a > b ? C(1) : C(0))
    KILN_ELT_B(kLessOrEqual, a <= b ? C(1) : C(0))
    KILN_ELT_B(kGreaterOrEqual, a >= b ? C(1) : C(0))
    KILN_ELT_B(kPRelu, isNeg(a) ? C(a * b) : a)
    KILN_ELT_B(kClipLo, a < b ? b : a)
    KILN_ELT_B(kClipHi, a > b ? b : a)
    default: break;
  }
}

// ---- bool ------------------------------------------------------------------------------------------
template <int VEC>
__device__ __forceinline__ void unaryBool(const Step& s, bool (&v)[VEC]) {
  using C = bool;
  switch (s.code) {
    KILN_ELT_U(kNot, !x)
    default: break;
  }
}
template <int VEC>
__device__ __forceinline__ void binaryBool(const Step& s, bool (&v)[VEC], const bool (&l)[VEC], const bool (&r)[VEC]) {
  using C = bool;
  switch (s.code) {
    KILN_ELT_B(kAnd, a && b)
    KILN_ELT_B(kOr, a || b)
    KILN_ELT_B(kXor, a != b)
    KILN_ELT_B(kEqual, a == b)
    KILN_ELT_B(kLess, !a && b)
    KILN_ELT_B(kGreater, a && !b)
    KILN_ELT_B(kLessOrEqual, !a || b)
    KILN_ELT_B(kGreaterOrEqual, a || !b)
    default: break;
  }
}

#undef KILN_ELT_U
#undef KILN_ELT_B

template <typename C, int VEC>
__device__ __forceinline__ void applyUnary(const Step& s, C (&v)[VEC]) {
  if constexpr (std::is_same_v<C, bool>) unaryBool<VEC>(s, v);
  else if constexpr (std::is_floating_point_v<C>) unaryFloat<C, VEC>(s, v);
  else unaryInt<C, VEC>(s, v);
}
template <typename C, int VEC>
__device__ __forceinline__ void applyBinary(const Step& s, C (&v)[VEC], const C (&l)[VEC], const C (&r)[VEC]) {
  if constexpr (std::is_same_v<C, bool>) binaryBool<VEC>(s, v, l, r);
  else if constexpr (std::is_floating_point_v<C>) binaryFloat<C, VEC>(s, v, l, r);
  else binaryInt<C, VEC>(s, v, l, r);
}

}  // namespace kiln::cuda::eltwise
