// CPU kernels for Softmax, LogSoftmax and Hardmax. The innermost-axis case (attention scores) runs
// contiguous rows in parallel: a max pass, one exp pass that also sums (the vectorizable expFast
// for float), and a scaling pass. Other axes work on blocks of columns [n, block] so that the
// inner loops stay contiguous. `kiln_coerce_2d` (opset < 13 forms) normalizes over every axis from
// `axis` on, which is the row case with rows of prod(dims[axis:]).
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/kernels/reduction_common.h"

namespace kiln::cpu {

namespace {

enum class SMode { kSoftmax, kLogSoftmax, kHardmax };

template <typename T, typename C = compute_t<T>>
inline C rowMax(const T* p, int64_t n) {
  if constexpr (std::is_same_v<T, C>) {
    C m[8];
    for (int k = 0; k < 8; ++k) m[k] = -std::numeric_limits<C>::infinity();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; ++k) m[k] = p[i + k] > m[k] ? p[i + k] : m[k];
    for (; i < n; ++i) m[0] = p[i] > m[0] ? p[i] : m[0];
    for (int k = 1; k < 8; ++k) m[0] = m[k] > m[0] ? m[k] : m[0];
    return m[0];
  } else {
    C m = -std::numeric_limits<C>::infinity();
    for (int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<C>(p[i]));
    return m;
  }
}

template <SMode kMode, typename T>
void softmaxRows(const T* x, T* y, int64_t rows, int64_t n) {
  using C = compute_t<T>;
  parallelFor(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
    std::vector<C> scratch;  // compute-type copy of a row for fp16/bf16
    if constexpr (!std::is_same_v<T, C>) scratch.resize(static_cast<size_t>(n));
    for (int64_t r = b; r < e; ++r) {
      const T* p = x + r * n;
      T* q = y + r * n;
      if constexpr (kMode == SMode::kHardmax) {
        C best = static_cast<C>(p[0]);
        int64_t bi = 0;
        for (int64_t i = 1; i < n; ++i)
          if (argBetter<true>(static_cast<C>(p[i]), best, false)) best = static_cast<C>(p[i]), bi = i;
        for (int64_t i = 0; i < n; ++i) q[i] = convertValue<T>(C(i == bi ? 1 : 0));
        continue;
      }
      const C* xc;
      if constexpr (std::is_same_v<T, C>) {
        xc = p;
      } else {
        for (int64_t i = 0; i < n; ++i) scratch[i] = static_cast<C>(p[i]);
        xc = scratch.data();
      }
      const C m = rowMax<C>(xc, n);
      if constexpr (kMode == SMode::kSoftmax) {
        C* w;
        if constexpr (std::is_same_v<T, C>) w = q;
        else w = scratch.data();  // in place over the converted row
        const C inv = C(1) / expSum<C>(xc, m, w, n);
        if constexpr (std::is_same_v<T, C>) {
          affineRow<C>(w, inv, C(0), q, n);
        } else {
          for (int64_t i = 0; i < n; ++i) q[i] = convertValue<T>(w[i] * inv);
        }
      } else {
        const C lse = std::log(expSum<C>(xc, m, nullptr, n));
        int64_t i = 0;
        if constexpr (std::is_same_v<T, float>) {
          const f32x4 mv = splat4(m), lv = splat4(lse);
          for (; i + 4 <= n; i += 4) store4(q + i, (load4(xc + i) - mv) - lv);
        }
        for (; i < n; ++i) q[i] = convertValue<T>((xc[i] - m) - lse);
      }
    }
  });
}

// Normalization along the middle axis of [outer, n, inner], in blocks of columns.
template <SMode kMode, typename T>
void softmaxStrided(const T* x, T* y, const AxisSplit& s) {
  using C = compute_t<T>;
  constexpr int64_t kBlock = 256;
  const int64_t nBlocks = (s.inner + kBlock - 1) / kBlock;
  const int64_t work = std::max<int64_t>(1, s.n * std::min(kBlock, s.inner));
  parallelFor(s.outer * nBlocks, std::max<int64_t>(1, 16384 / work), [&](int64_t b, int64_t e) {
    std::array<C, kBlock> m, sum;
    std::array<int64_t, kBlock> arg;
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / nBlocks, j0 = (t % nBlocks) * kBlock;
      const int64_t len = std::min(kBlock, s.inner - j0);
      const T* p = x + o * s.n * s.inner + j0;
      T* q = y + o * s.n * s.inner + j0;
      if constexpr (kMode == SMode::kHardmax) {
        for (int64_t j = 0; j < len; ++j) m[j] = static_cast<C>(p[j]), arg[j] = 0;
        for (int64_t i = 1; i < s.n; ++i)
          for (int64_t j = 0; j < len; ++j) {
            C v = static_cast<C>(p[i * s.inner + j]);
            if (argBetter<true>(v, m[j], false)) m[j] = v, arg[j] = i;
          }
        for (int64_t i = 0; i < s.n; ++i)
          for (int64_t j = 0; j < len; ++j) q[i * s.inner + j] = convertValue<T>(C(arg[j] == i ? 1 : 0));
        continue;
      }
      for (int64_t j = 0; j < len; ++j) m[j] = -std::numeric_limits<C>::infinity(), sum[j] = 0;
      for (int64_t i = 0; i < s.n; ++i)
        for (int64_t j = 0; j < len; ++j) {
          C v = static_cast<C>(p[i * s.inner + j]);
          m[j] = v > m[j] ? v : m[j];
        }
      for (int64_t i = 0; i < s.n; ++i)
        for (int64_t j = 0; j < len; ++j) sum[j] += expC(static_cast<C>(p[i * s.inner + j]) - m[j]);
      if constexpr (kMode == SMode::kSoftmax) {
        for (int64_t j = 0; j < len; ++j) sum[j] = C(1) / sum[j];
        for (int64_t i = 0; i < s.n; ++i)
          for (int64_t j = 0; j < len; ++j)
            q[i * s.inner + j] = convertValue<T>(expC(static_cast<C>(p[i * s.inner + j]) - m[j]) * sum[j]);
      } else {
        for (int64_t j = 0; j < len; ++j) sum[j] = std::log(sum[j]);
        for (int64_t i = 0; i < s.n; ++i)
          for (int64_t j = 0; j < len; ++j)
            q[i * s.inner + j] = convertValue<T>((static_cast<C>(p[i * s.inner + j]) - m[j]) - sum[j]);
      }
    }
  });
}

template <SMode kMode>
Status softmaxKernel(const KernelContext& ctx, std::string_view op) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int rank = x.rank();
  const int64_t axisAttr = ctx.attrs.getInt("axis");
  AxisSplit s;
  if (ctx.attrs.getInt("kiln_coerce_2d") != 0) {
    // Opset < 13: the input as a matrix [prod(dims[:axis]), prod(dims[axis:])].
    if (axisAttr < -rank || axisAttr > rank)
      return InvalidArgument("{} axis {} is out of range for rank {}", op, axisAttr, rank);
    const int axis = static_cast<int>(axisAttr < 0 ? axisAttr + rank : axisAttr);
    s.n = 1;
    for (int i = 0; i < rank; ++i) (i < axis ? s.outer : s.n) *= x.dims()[i];
  } else {
    int axis;
    if (!normAxis(axisAttr, rank, &axis))
      return InvalidArgument("{} axis {} is out of range for rank {}", op, axisAttr, rank);
    s = splitAt(x.dims(), axis);
  }
  if (x.numel() == 0) return Status::OK();
  return dispatchOr<FloatTypes>(op, x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    if (s.inner == 1) softmaxRows<kMode, T>(x.data<T>(), y.data<T>(), s.outer, s.n);
    else softmaxStrided<kMode, T>(x.data<T>(), y.data<T>(), s);
  });
}

}  // namespace

void RegisterSoftmaxKernels(KernelRegistry& r) {
  r.addFn("Softmax", "cpu_ref_Softmax", [](const KernelContext& c) { return softmaxKernel<SMode::kSoftmax>(c, "Softmax"); });
  r.addFn("LogSoftmax", "cpu_ref_LogSoftmax", [](const KernelContext& c) { return softmaxKernel<SMode::kLogSoftmax>(c, "LogSoftmax"); });
  r.addFn("Hardmax", "cpu_ref_Hardmax", [](const KernelContext& c) { return softmaxKernel<SMode::kHardmax>(c, "Hardmax"); });
}

}  // namespace kiln::cpu
