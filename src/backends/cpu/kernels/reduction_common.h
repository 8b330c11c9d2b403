// Helpers shared by the reduction and normalization kernels: 4-lane float SIMD (vector
// extensions) with a fast exp, the [outer, n, inner] split around an axis, and conversions of
// small parameter tensors.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/kernel_util.h"

namespace kiln::cpu {

// ---- 4-wide float SIMD through GCC/Clang vector extensions --------------------------------
// The build uses -O2, where GCC does not vectorize loops of unknown length; the hot loops of
// softmax and layer normalization use these 4-lane types (SSE2/NEON baseline) instead.
using f32x4 = float __attribute__((vector_size(16)));
using i32x4 = int32_t __attribute__((vector_size(16)));

inline f32x4 load4(const float* p) {
  f32x4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store4(float* p, f32x4 v) { std::memcpy(p, &v, sizeof v); }
inline f32x4 splat4(float v) { return f32x4{v, v, v, v}; }
inline i32x4 splat4i(int32_t v) { return i32x4{v, v, v, v}; }
// Lanes of a where the mask is set (all ones), else of b.
inline f32x4 select4(i32x4 m, f32x4 a, f32x4 b) {
  return reinterpret_cast<f32x4>((m & reinterpret_cast<i32x4>(a)) | (~m & reinterpret_cast<i32x4>(b)));
}
inline float hsum4(f32x4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

// exp(x) for float: range reduction to r = x - n*ln2 with |r| <= ln2/2, a degree-6 polynomial
// (Cephes expf), scaling by 2^n through the exponent bits (in two halves so that n = 128 does not
// overflow the field). Max relative error ~2 ulp; exp(-inf) = 0, exp(inf) = inf, NaN propagates;
// results below FLT_MIN flush to 0. expFast4 is the same computation on 4 lanes.
namespace expc {
inline constexpr float kLo = -87.33654475f, kHi = 88.72283905f;  // ln(FLT_MIN), ln(FLT_MAX)
inline constexpr float kLog2e = 1.44269504088896341f, kMagic = 12582912.0f;  // 1.5 * 2^23
inline constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
inline constexpr float kP[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
}  // namespace expc

inline f32x4 expFast4(f32x4 x) {
  using namespace expc;
  const i32x4 below = x < splat4(kLo), above = x > splat4(kHi);  // false for NaN
  f32x4 xc = select4(below, splat4(kLo), x);
  xc = select4(above, splat4(kHi), xc);
  const f32x4 t = xc * kLog2e + kMagic;  // rounds to nearest; the integer lands in the mantissa
  const f32x4 n = t - kMagic;
  const i32x4 ni = reinterpret_cast<i32x4>(t) - std::bit_cast<int32_t>(kMagic);
  f32x4 r = xc - n * kLn2Hi;
  r = r - n * kLn2Lo;
  f32x4 p = splat4(kP[0]);
  for (int k = 1; k < 6; ++k) p = p * r + kP[k];
  f32x4 y = p * r * r + r + 1.0f;
  const i32x4 n1 = ni >> 1, n2 = ni - n1;
  y = y * reinterpret_cast<f32x4>((n1 + 127) << 23) * reinterpret_cast<f32x4>((n2 + 127) << 23);
  y = select4(below, splat4(0.0f), y);
  return select4(above, splat4(std::numeric_limits<float>::infinity()), y);
}

inline float expFast(float x) { return expFast4(splat4(x))[0]; }

// exp in the compute type: the fast float version, std::exp for double.
template <typename C>
inline C expC(C x) {
  if constexpr (std::is_same_v<C, float>) return expFast(x);
  else return std::exp(x);
}

// sum_i exp(x[i] - m), also storing the exponentials into w when it is not null (w may be x).
template <typename C>
inline C expSum(const C* x, C m, C* w, int64_t n) {
  int64_t i = 0;
  C total = 0;
  if constexpr (std::is_same_v<C, float>) {
    f32x4 s0 = splat4(0.0f), s1 = splat4(0.0f);
    const f32x4 mv = splat4(m);
    for (; i + 8 <= n; i += 8) {
      const f32x4 a = expFast4(load4(x + i) - mv), b = expFast4(load4(x + i + 4) - mv);
      if (w) store4(w + i, a), store4(w + i + 4, b);
      s0 += a;
      s1 += b;
    }
    total = hsum4(s0 + s1);
  }
  C s[4] = {};
  for (; i < n; ++i) {
    const C e = expC(x[i] - m);
    if (w) w[i] = e;
    s[i & 3] += e;
  }
  return total + ((s[0] + s[1]) + (s[2] + s[3]));
}

// y[i] = x[i] * a + b (y may be x).
template <typename C>
inline void affineRow(const C* x, C a, C b, C* y, int64_t n) {
  int64_t i = 0;
  if constexpr (std::is_same_v<C, float>) {
    const f32x4 av = splat4(a), bv = splat4(b);
    for (; i + 4 <= n; i += 4) store4(y + i, load4(x + i) * av + bv);
  }
  for (; i < n; ++i) y[i] = x[i] * a + b;
}

// A tensor's dims split around `axis` (already normalized): [outer, n, inner].
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};
inline AxisSplit splitAt(const Dims& d, int axis) {
  AxisSplit s;
  for (int i = 0; i < d.rank(); ++i) {
    if (i < axis) s.outer *= d[i];
    else if (i == axis) s.n = d[i];
    else s.inner *= d[i];
  }
  return s;
}
// Axis in [-rank, rank) to [0, rank); false when out of range (rank 0 accepts 0 and -1).
inline bool normAxis(int64_t axis, int rank, int* out) {
  const int r = rank == 0 ? 1 : rank;
  if (axis < -r || axis >= r) return false;
  *out = static_cast<int>(axis < 0 ? axis + r : axis);
  return true;
}

// Arg-max/min comparison: true when x replaces the current best. NaN wins (as numpy's
// argmax/argmin): the first NaN, or the last one when `last` (select_last_index) is set.
template <bool kMax, typename C>
inline bool argBetter(C x, C best, bool last) {
  if constexpr (std::is_floating_point_v<C>) {
    if (std::isnan(best)) return last && std::isnan(x);
    if (std::isnan(x)) return true;
  }
  if (last) return kMax ? x >= best : x <= best;
  return kMax ? x > best : x < best;
}

// Accumulation type of statistics: double for float64 inputs, float otherwise.
template <typename T>
using stat_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Elements of a numeric tensor converted to C (callers check the dtype first).
template <typename C>
std::vector<C> toVector(const Tensor& t) {
  std::vector<C> v(static_cast<size_t>(t.numel()));
  bool ok = dispatchType<NumericTypes>(t.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* p = t.data<T>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<C>(static_cast<compute_t<T>>(p[i]));
  });
  KILN_CHECK(ok);
  return v;
}

// Writes values (converted) into a float tensor of the same element count.
template <typename C>
void fromVector(const std::vector<C>& v, Tensor& t) {
  bool ok = dispatchType<FloatTypes>(t.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    T* p = t.data<T>();
    for (size_t i = 0; i < v.size(); ++i) p[i] = convertValue<T>(v[i]);
  });
  KILN_CHECK(ok);
}

// Registration of the kernels in the reduction_*.cc files (called from reduction.cc).
void RegisterSoftmaxKernels(KernelRegistry& r);
void RegisterScanKernels(KernelRegistry& r);
// And in normalization_*.cc (called from normalization.cc).
void RegisterLayerNormKernels(KernelRegistry& r);

}  // namespace kiln::cpu
