// CPU kernels for CumSum/CumProd (running sums/products along an axis) and TopK (partial sort of
// each slice along an axis; ties keep the lower index, NaN ranks above every number).
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "backends/cpu/kernels/reduction_common.h"

namespace kiln::cpu {

namespace {

// ---- CumSum / CumProd -----------------------------------------------------------------

template <bool kProd, typename T>
void scanTyped(const T* x, T* y, const AxisSplit& s, bool exclusive, bool reverse) {
  // Floats accumulate in their compute type, integers in uint64 (wrapping like T would, without
  // signed overflow).
  using A = std::conditional_t<isFloatLike<T>, compute_t<T>, uint64_t>;
  using W = std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>;
  constexpr int64_t kBlock = 256;
  const int64_t nBlocks = (s.inner + kBlock - 1) / kBlock;
  const int64_t work = std::max<int64_t>(1, s.n * std::min(kBlock, s.inner));
  parallelFor(s.outer * nBlocks, std::max<int64_t>(1, 32768 / work), [&](int64_t b, int64_t e) {
    std::array<A, kBlock> acc;
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / nBlocks, j0 = (t % nBlocks) * kBlock;
      const int64_t len = std::min(kBlock, s.inner - j0);
      const T* p = x + o * s.n * s.inner + j0;
      T* q = y + o * s.n * s.inner + j0;
      acc.fill(A(kProd ? 1 : 0));
      for (int64_t k = 0; k < s.n; ++k) {
        const int64_t i = reverse ? s.n - 1 - k : k;
        const T* pr = p + i * s.inner;
        T* qr = q + i * s.inner;
        for (int64_t j = 0; j < len; ++j) {
          A v;
          if constexpr (isFloatLike<T>) v = static_cast<A>(static_cast<compute_t<T>>(pr[j]));
          else v = static_cast<A>(static_cast<W>(pr[j]));
          if (exclusive) qr[j] = convertValue<T>(acc[j]);
          if constexpr (kProd) acc[j] *= v;
          else acc[j] += v;
          if (!exclusive) qr[j] = convertValue<T>(acc[j]);
        }
      }
    }
  });
}

template <bool kProd>
Status scanKernel(const KernelContext& ctx, std::string_view op) {
  const Tensor& x = ctx.in(0);
  const Tensor& a = ctx.in(1);
  if (a.numel() != 1) return InvalidArgument("{} axis must hold one value, got {}", op, a.numel());
  if (x.rank() == 0) return InvalidArgument("{} needs an input of rank >= 1", op);
  int axis;
  if (!normAxis(a.intAt(0), x.rank(), &axis))
    return InvalidArgument("{} axis {} is out of range for rank {}", op, a.intAt(0), x.rank());
  if (x.numel() == 0) return Status::OK();
  const AxisSplit s = splitAt(x.dims(), axis);
  const bool exclusive = ctx.attrs.getInt("exclusive") != 0, reverse = ctx.attrs.getInt("reverse") != 0;
  return dispatchOr<NumericTypes>(op, x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    scanTyped<kProd, T>(x.data<T>(), ctx.out(0).data<T>(), s, exclusive, reverse);
  });
}

// ---- TopK -----------------------------------------------------------------------------

// Total order with NaN above every number.
template <typename C>
inline bool greaterNaN(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
  }
  return a > b;
}

Status topKKernel(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.rank() == 0) return InvalidArgument("TopK needs an input of rank >= 1");
  int axis;
  if (!normAxis(ctx.attrs.getInt("axis"), x.rank(), &axis))
    return InvalidArgument("TopK axis {} is out of range for rank {}", ctx.attrs.getInt("axis"), x.rank());
  if (!ctx.hasInput(1) || ctx.in(1).numel() != 1) return InvalidArgument("TopK K must hold one value");
  const int64_t k = ctx.in(1).intAt(0);
  const AxisSplit s = splitAt(x.dims(), axis);
  if (k < 0 || k > s.n) return InvalidArgument("TopK K = {} is outside [0, {}] (the size of axis {})", k, s.n, axis);
  Tensor& values = ctx.out(0);
  // In an engine whose K is an input, the outputs are sized for K = the axis until this runs.
  Dims outDims = x.dims();
  outDims[axis] = k;
  KILN_RETURN_IF_ERROR(fitOutput(values, outDims, "TopK"));
  if (ctx.hasOutput(1)) KILN_RETURN_IF_ERROR(fitOutput(ctx.out(1), outDims, "TopK"));
  int64_t* indices = ctx.out(1).data<int64_t>();
  if (k == 0 || s.outer * s.inner == 0) return Status::OK();
  const bool largest = ctx.attrs.getInt("largest") != 0;
  return dispatchOr<NumericTypes>("TopK", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = compute_t<T>;
    const T* px = x.data<T>();
    T* pv = values.data<T>();
    // a ranks before b: the better value, then the lower index.
    auto before = [largest](const std::pair<C, int64_t>& a, const std::pair<C, int64_t>& b) {
      if (largest ? greaterNaN(a.first, b.first) : greaterNaN(b.first, a.first)) return true;
      if (largest ? greaterNaN(b.first, a.first) : greaterNaN(a.first, b.first)) return false;
      return a.second < b.second;
    };
    parallelFor(s.outer * s.inner, std::max<int64_t>(1, 16384 / s.n), [&](int64_t b, int64_t e) {
      std::vector<std::pair<C, int64_t>> cand;
      cand.reserve(static_cast<size_t>(k * 4 <= s.n ? k : s.n));
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / s.inner, j = t % s.inner;
        const T* p = px + o * s.n * s.inner + j;
        cand.clear();
        if (k * 4 <= s.n) {
          // Small K: a heap of the K best so far with the worst on top; most elements lose to it.
          for (int64_t i = 0; i < s.n; ++i) {
            std::pair<C, int64_t> v{static_cast<C>(p[i * s.inner]), i};
            if (static_cast<int64_t>(cand.size()) < k) {
              cand.push_back(v);
              std::push_heap(cand.begin(), cand.end(), before);
            } else if (before(v, cand.front())) {
              std::pop_heap(cand.begin(), cand.end(), before);
              cand.back() = v;
              std::push_heap(cand.begin(), cand.end(), before);
            }
          }
          std::sort_heap(cand.begin(), cand.end(), before);
        } else {
          for (int64_t i = 0; i < s.n; ++i) cand.emplace_back(static_cast<C>(p[i * s.inner]), i);
          if (k == s.n) std::sort(cand.begin(), cand.end(), before);
          else std::partial_sort(cand.begin(), cand.begin() + k, cand.end(), before);
        }
        T* qv = pv + o * k * s.inner + j;
        int64_t* qi = indices + o * k * s.inner + j;
        for (int64_t i = 0; i < k; ++i) {
          qv[i * s.inner] = p[cand[i].second * s.inner];
          qi[i * s.inner] = cand[i].second;
        }
      }
    });
  });
}

}  // namespace

void RegisterScanKernels(KernelRegistry& r) {
  r.addFn("CumSum", "cpu_ref_CumSum", [](const KernelContext& c) { return scanKernel<false>(c, "CumSum"); });
  r.addFn("CumProd", "cpu_ref_CumProd", [](const KernelContext& c) { return scanKernel<true>(c, "CumProd"); });
  r.addFn("TopK", "cpu_ref_TopK", &topKKernel);
}

}  // namespace kiln::cpu
