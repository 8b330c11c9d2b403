// Helpers shared by the normalization kernels: two-pass row statistics and parameter tensors
// broadcast to the normalized block.
#pragma once

#include <cmath>
#include <vector>

#include "backends/cpu/kernels/broadcast.h"
#include "backends/cpu/kernels/reduction_common.h"

namespace kiln::cpu {

// Sum of f(i) over a row, 8 partial sums (vectorizes, rounds less than one running sum).
template <typename C, typename F>
inline C sumRow(int64_t n, F&& f) {
  C s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += f(i + k);
  for (; i < n; ++i) s[0] += f(i);
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// sum x[i] and sum (x[i] - m)^2 (float rows use 4-lane SIMD).
template <typename C>
inline C sumOf(const C* x, int64_t n) {
  if constexpr (std::is_same_v<C, float>) {
    f32x4 a = splat4(0.0f), b = splat4(0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) a += load4(x + i), b += load4(x + i + 4);
    float t = 0;
    for (; i < n; ++i) t += x[i];
    return hsum4(a + b) + t;
  } else {
    return sumRow<C>(n, [&](int64_t i) { return x[i]; });
  }
}
template <typename C>
inline C sumSqDiff(const C* x, C m, int64_t n) {
  if constexpr (std::is_same_v<C, float>) {
    f32x4 a = splat4(0.0f), b = splat4(0.0f);
    const f32x4 mv = splat4(m);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const f32x4 d0 = load4(x + i) - mv, d1 = load4(x + i + 4) - mv;
      a += d0 * d0;
      b += d1 * d1;
    }
    float t = 0;
    for (; i < n; ++i) t += (x[i] - m) * (x[i] - m);
    return hsum4(a + b) + t;
  } else {
    return sumRow<C>(n, [&](int64_t i) { C d = x[i] - m; return d * d; });
  }
}

// Mean and population variance of n values (two passes: exact for large means too).
template <typename C>
inline void meanVar(const C* x, int64_t n, C* mean, C* var) {
  const C m = sumOf(x, n) / static_cast<C>(n);
  *mean = m;
  *var = sumSqDiff(x, m, n) / static_cast<C>(n);
}

// y[j] = (x[j] - mean) * inv * scale[j] (+ bias[j] when given), converted to T.
template <typename T, typename C>
inline void normalizeRow(const C* x, C mean, C inv, const C* scale, const C* bias, T* y, int64_t n) {
  int64_t j = 0;
  if constexpr (std::is_same_v<T, float> && std::is_same_v<C, float>) {
    const f32x4 mv = splat4(mean), iv = splat4(inv);
    if (bias) {
      for (; j + 4 <= n; j += 4) store4(y + j, (load4(x + j) - mv) * iv * load4(scale + j) + load4(bias + j));
    } else {
      for (; j + 4 <= n; j += 4) store4(y + j, (load4(x + j) - mv) * iv * load4(scale + j));
    }
  }
  for (; j < n; ++j) y[j] = convertValue<T>((x[j] - mean) * inv * scale[j] + (bias ? bias[j] : C(0)));
}

// A row of T as compute values: the row itself when T is C, else converted into `buf`.
template <typename C, typename T>
inline const C* loadRow(const T* p, int64_t n, std::vector<C>& buf) {
  if constexpr (std::is_same_v<T, C>) {
    return p;
  } else {
    buf.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) buf[i] = static_cast<C>(static_cast<compute_t<T>>(p[i]));
    return buf.data();
  }
}

// A parameter (Scale, B) broadcast over X's normalized block dims[axis:] when its non-1 dims all
// fall there (the common case: one value per normalized element), else over all of X.
template <typename C>
struct BlockParam {
  std::vector<C> v;
  bool perRow = false;  // v has rows*D values instead of D
  const C* row(int64_t r, int64_t d) const { return v.data() + (perRow ? r * d : 0); }
};

template <typename C>
BlockParam<C> blockParam(const Tensor& p, const Dims& x, int axis) {
  Dims pd = p.dims();
  while (pd.rank() > 0 && pd[0] == 1) pd.erase(0);
  BlockParam<C> out;
  Dims target;
  if (pd.rank() <= x.rank() - axis) {
    for (int i = axis; i < x.rank(); ++i) target.push_back(x[i]);
  } else {
    target = x;
    out.perRow = true;
  }
  const std::vector<C> src = toVector<C>(p);
  out.v.resize(static_cast<size_t>(target.numel()));
  BroadcastPlan<1> plan(target, {pd});
  const int64_t st = plan.innerStride(0);
  plan.forEachRow([&](int64_t o, const std::array<int64_t, 1>& off, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out.v[o + i] = src[off[0] + i * st];
  });
  return out;
}

// Parameters must broadcast to X (checked at inference; re-checked here against bad graphs).
inline Status checkBroadcastsTo(const Tensor& p, const Dims& x, std::string_view what) {
  bool ok = p.rank() <= x.rank();
  for (int i = 0; ok && i < p.rank(); ++i) {
    const int64_t d = p.dims()[i];
    ok = d == 1 || d == x[i + x.rank() - p.rank()];
  }
  if (!ok)
    return InvalidArgument("{} of shape {} does not broadcast to {}", what, p.dims().toString(), x.toString());
  return Status::OK();
}

}  // namespace kiln::cpu
