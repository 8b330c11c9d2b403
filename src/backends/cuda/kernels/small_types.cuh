// Device conversions for the small ONNX element types (fp8 e4m3fn/e4m3fnuz/e5m2/e5m2fnuz, fp4
// e2m1, e8m0, 4- and 2-bit integers stored one per byte). They mirror the host conversions in
// core/dtype.cc bit for bit (same double arithmetic, same rounding and saturation rules), so a
// CUDA Cast/QuantizeLinear matches the CPU reference exactly; the GPU tests compare every code.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda::small {

struct F8Format {
  int manBits, bias;
  unsigned maxCode;  // largest finite magnitude code
  bool hasInf, uz;   // e5m2 has inf; fnuz: 0x80 is NaN, no negative zero
  unsigned nanCode;
};

__host__ __device__ inline F8Format f8Format(DType t) {
  switch (t) {
    case DType::kFloat8E4M3FN: return {3, 7, 0x7E, false, false, 0x7F};
    case DType::kFloat8E4M3FNUZ: return {3, 8, 0x7F, false, true, 0x80};
    case DType::kFloat8E5M2: return {2, 15, 0x7B, true, false, 0x7F};
    default: return {2, 16, 0x7F, false, true, 0x80};  // kFloat8E5M2FNUZ
  }
}

__device__ inline uint8_t encodeF8(float f, bool saturate, const F8Format& fmt) {
  const uint8_t sign = signbit(f) ? 0x80 : 0x00;
  if (isnan(f)) return fmt.uz ? 0x80 : static_cast<uint8_t>(sign | fmt.nanCode);
  const double a = fabs(static_cast<double>(f));
  auto overflow = [&]() -> uint8_t {
    if (saturate) return static_cast<uint8_t>((fmt.uz && a == 0) ? 0 : (sign | fmt.maxCode));
    if (fmt.hasInf) return static_cast<uint8_t>(sign | 0x7C);
    return fmt.uz ? 0x80 : static_cast<uint8_t>(sign | fmt.nanCode);
  };
  if (isinf(f)) return overflow();
  const int minExp = 1 - fmt.bias;  // exponent of the smallest normal
  unsigned code;
  if (a < ldexp(1.0, minExp)) {
    code = static_cast<unsigned>(nearbyint(ldexp(a, fmt.manBits - minExp)));
  } else {
    int e;
    const double m = frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
    e -= 1;
    const double frac = (2 * m - 1) * (1 << fmt.manBits);
    unsigned mant = static_cast<unsigned>(nearbyint(frac));
    if (mant == (1u << fmt.manBits)) {
      mant = 0;
      ++e;
    }
    const int biased = e + fmt.bias;
    if (biased > 15 + (fmt.manBits == 2 ? 16 : 0)) return overflow();
    code = (static_cast<unsigned>(biased) << fmt.manBits) | mant;
  }
  if (code > fmt.maxCode) return overflow();
  if (code == 0 && fmt.uz) return 0;
  return static_cast<uint8_t>(sign | code);
}

__device__ inline float decodeF8(uint8_t v, const F8Format& fmt) {
  const bool neg = v & 0x80;
  const unsigned mag = v & 0x7F;
  if (fmt.uz) {
    if (v == 0x80) return __int_as_float(0x7fc00000);
  } else if (fmt.hasInf) {
    if (mag == 0x7C) return neg ? -INFINITY : INFINITY;
    if (mag > 0x7C) return __int_as_float(0x7fc00000);
  } else if (mag == 0x7F) {
    return __int_as_float(0x7fc00000);
  }
  const unsigned exp = mag >> fmt.manBits;
  const unsigned mant = mag & ((1u << fmt.manBits) - 1);
  const double val = exp == 0 ? ldexp(static_cast<double>(mant), 1 - fmt.bias - fmt.manBits)
                              : ldexp(1.0 + ldexp(static_cast<double>(mant), -fmt.manBits),
                                      static_cast<int>(exp) - fmt.bias);
  return static_cast<float>(neg ? -val : val);
}

__device__ inline uint8_t encodeF4(float f) {
  const uint8_t sign = signbit(f) ? 0x8 : 0x0;
  if (isnan(f)) return sign ^ 0x8;  // no NaN code: like the reference, a zero of the other sign
  const float a = fabsf(f);
  const float mid[7] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
  uint8_t code = 0;
  while (code < 7 && (a > mid[code] || (a == mid[code] && (code & 1)))) ++code;
  return sign | code;
}

__device__ inline float decodeF4(uint8_t v) {
  const float mag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  const float m = mag[v & 0x7];
  return (v & 0x8) ? -m : m;
}

// roundMode: 0 up, 1 down, 2 nearest (fp::E8M0Rounding order).
__device__ inline uint8_t encodeE8M0(float f, bool saturate, int roundMode) {
  const uint32_t u = __float_as_uint(f);
  uint32_t exp = (u >> 23) & 0xFF;
  if (exp == 0xFF) return 0xFF;
  const uint32_t mant = u & 0x7FFFFF;
  bool up = false;
  if (roundMode == 0) up = mant != 0;
  else if (roundMode == 2) up = (mant & 0x400000) && ((mant & 0x3FFFFF) || exp > 0);
  if (up && !(saturate && exp == 0xFE)) ++exp;
  return static_cast<uint8_t>(exp);
}

__device__ inline float decodeE8M0(uint8_t v) {
  if (v == 0xFF) return __int_as_float(0x7fc00000);
  return v == 0 ? __uint_as_float(0x00400000u) : __uint_as_float(static_cast<uint32_t>(v) << 23);  // 2^-127 is subnormal
}

// float16 -> float keeping a NaN's sign (the hardware conversion returns a canonical positive
// NaN; the host's keeps the sign, which fp8 encodings preserve).
__device__ inline float halfToFloatExact(uint16_t h) {
  if ((h & 0x7C00) == 0x7C00 && (h & 0x03FF)) return __uint_as_float((static_cast<uint32_t>(h & 0x8000) << 16) | 0x7FC00000u);
  return __half2float(__ushort_as_half(h));
}

// 4/2-bit integers: the canonical byte (sign-extended for the signed types) and its value.
__device__ inline uint8_t subByteCanonical(uint8_t b, int bits, bool isSigned) {
  if (isSigned) return static_cast<uint8_t>(static_cast<int8_t>(static_cast<uint8_t>(b << (8 - bits))) >> (8 - bits));
  return b & static_cast<uint8_t>((1u << bits) - 1);
}
__device__ inline int subByteValue(uint8_t b, int bits, bool isSigned) {
  return isSigned ? static_cast<int8_t>(static_cast<uint8_t>(b << (8 - bits))) >> (8 - bits)
                  : b & static_cast<int>((1u << bits) - 1);
}

}  // namespace kiln::cuda::small
