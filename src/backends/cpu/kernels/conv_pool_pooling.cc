// CPU reference kernels for pooling: MaxPool (with the optional int64 Indices output), AveragePool,
// LpPool, GlobalAveragePool, GlobalMaxPool, GlobalLpPool, and MaxUnpool. Any spatial rank >= 1.
//
// Window semantics (as the ONNX reference): taps at o*s - pad_begin + k*d; taps outside the input
// are skipped. AveragePool with count_include_pad divides by the taps inside the padded extent
// [-pad_begin, in + pad_end) (ceil_mode taps past pad_end never count), otherwise by the taps
// inside the input.
#include <cmath>
#include <limits>

#include "backends/cpu/kernels/conv_pool_geom.h"
#include "backends/cpu/kernels/conv_pool_ref.h"
#include "backends/cpu/kernels/kernel_util.h"

namespace kiln::cpu {

namespace {

using PoolTypes = TypeList<float, double, Float16, BFloat16>;
using MaxPoolTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t>;

Status poolGeom(const KernelContext& ctx, SpatialGeom* g) {
  const Tensor& x = ctx.in(0);
  if (x.rank() < 3) return InvalidArgument("input must have rank >= 3 (N, C, spatial...), got {}", x.dims().toString());
  const auto& k = ctx.attrs.getInts("kernel_shape");
  if (static_cast<int>(k.size()) != x.rank() - 2)
    return InvalidArgument("kernel_shape has {} values; the input has {} spatial dims", k.size(), x.rank() - 2);
  return makeGeom(ctx.attrs, x.dims(), Dims(k), ctx.out(0).dims(), PadMode::kConv, g);
}

// Per output position: the box of valid kernel taps per dim and the include-pad tap count.
struct Window {
  int64_t klo[kMaxRank], khi[kMaxRank], start[kMaxRank];
  int64_t validCount, padCount;
};

void windowAt(const SpatialGeom& g, const int64_t* o, Window* w) {
  w->validCount = 1;
  w->padCount = 1;
  for (int i = 0; i < g.n; ++i) {
    const int64_t st = o[i] * g.strides[i] - g.padBegin[i], d = g.dilations[i], k = g.kernel[i];
    w->start[i] = st;
    auto div = [d](int64_t v) { return d == 1 ? v : v / d; };  // v >= 0
    int64_t lo = st >= 0 ? 0 : div(-st + d - 1);
    int64_t hi = g.in[i] - 1 - st >= 0 ? std::min(k, div(g.in[i] - 1 - st) + 1) : 0;
    int64_t padHi = g.in[i] + g.padEnd[i] - 1 - st >= 0 ? std::min(k, div(g.in[i] + g.padEnd[i] - 1 - st) + 1) : 0;
    lo = std::min(lo, k);
    hi = std::max(hi, lo);
    w->klo[i] = lo;
    w->khi[i] = hi;
    w->validCount *= hi - lo;
    w->padCount *= padHi;
  }
}

// Calls fn(spatialIndex, inputCoords) for every valid tap of the window: an odometer over the
// outer spatial dims and a straight loop over the last one.
template <typename F>
void forEachTap(const SpatialGeom& g, const Window& w, F&& fn) {
  if (w.validCount == 0) return;
  const int last = g.n - 1;
  const int64_t d = g.dilations[last], st = w.start[last], lo = w.klo[last], hi = w.khi[last], inLast = g.in[last];
  int64_t k[kMaxRank], pos[kMaxRank];
  for (int i = 0; i < last; ++i) k[i] = w.klo[i];
  while (true) {
    int64_t base = 0;
    for (int i = 0; i < last; ++i) {
      pos[i] = w.start[i] + k[i] * g.dilations[i];
      base = base * g.in[i] + pos[i];
    }
    base *= inLast;
    for (int64_t kk = lo; kk < hi; ++kk) {
      pos[last] = st + kk * d;
      fn(base + pos[last], static_cast<const int64_t*>(pos));
    }
    int i = last - 1;
    for (; i >= 0; --i) {
      if (++k[i] < w.khi[i]) break;
      k[i] = w.klo[i];
    }
    if (i < 0) return;
  }
}

// Runs fn(plane, outIndex, outCoords) for every output element, planes in parallel.
template <typename F>
void forEachOutput(const SpatialGeom& g, int64_t planes, F&& fn) {
  const int64_t osz = g.outSize();
  parallelFor(planes, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, osz * g.kernelSize())),
              [&](int64_t p0, int64_t p1) {
    int64_t o[kMaxRank];
    for (int64_t p = p0; p < p1; ++p) {
      std::fill(o, o + g.n, 0);
      for (int64_t q = 0; q < osz; ++q) {
        fn(p, q, o);
        for (int i = g.n - 1; i >= 0; --i) {
          if (++o[i] < g.out[i]) break;
          o[i] = 0;
        }
      }
    }
  });
}

Status MaxPool(const KernelContext& ctx) {
  SpatialGeom g;
  KILN_RETURN_IF_ERROR(poolGeom(ctx, &g));
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  int64_t* ind = ctx.hasOutput(1) ? ctx.out(1).data<int64_t>() : nullptr;
  const bool colMajor = ctx.attrs.getInt("storage_order") == 1;
  Dims colStrides = Dims::filled(g.n, 1);
  for (int i = 1; i < g.n; ++i) colStrides[i] = colStrides[i - 1] * g.in[i - 1];
  const int64_t isz = g.inSize(), osz = g.outSize();
  return dispatchOr<MaxPoolTypes>("MaxPool", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = compute_t<T>;
    const T* px = x.data<T>();
    T* py = y.data<T>();
    forEachOutput(g, g.batch * g.inC, [&](int64_t p, int64_t q, const int64_t* o) {
      Window w;
      windowAt(g, o, &w);
      const T* plane = px + p * isz;
      bool found = false;
      C best = C(0);
      int64_t bestIdx = -1;
      forEachTap(g, w, [&](int64_t idx, const int64_t* pos) {
        const C v = static_cast<C>(plane[idx]);
        if (!found || v > best) {
          found = true;
          best = v;
          if (ind) {
            if (colMajor) {
              bestIdx = 0;
              for (int i = 0; i < g.n; ++i) bestIdx += pos[i] * colStrides[i];
            } else {
              bestIdx = idx;
            }
          }
        }
      });
      py[p * osz + q] = convertValue<T>(best);
      if (ind) ind[p * osz + q] = found ? p * isz + bestIdx : -1;
    });
  });
}

enum class Reduce { kAvg, kLp };

Status avgOrLpPool(const KernelContext& ctx, Reduce mode, std::string_view op) {
  SpatialGeom g;
  KILN_RETURN_IF_ERROR(poolGeom(ctx, &g));
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const bool includePad = mode == Reduce::kAvg && ctx.attrs.getInt("count_include_pad") != 0;
  const int64_t p = mode == Reduce::kLp ? ctx.attrs.getInt("p") : 1;
  if (p < 1) return InvalidArgument("{}: p must be >= 1 (got {})", op, p);
  const int64_t isz = g.inSize(), osz = g.outSize();
  return dispatchOr<PoolTypes>(op, x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    forEachOutput(g, g.batch * g.inC, [&](int64_t pl, int64_t q, const int64_t* o) {
      Window w;
      windowAt(g, o, &w);
      const T* plane = px + pl * isz;
      double acc = 0;
      if (mode == Reduce::kAvg) {
        forEachTap(g, w, [&](int64_t idx, const int64_t*) { acc += static_cast<double>(plane[idx]); });
        const int64_t count = includePad ? w.padCount : w.validCount;
        acc = count ? acc / static_cast<double>(count) : 0.0;
      } else {
        forEachTap(g, w, [&](int64_t idx, const int64_t*) {
          const double v = std::fabs(static_cast<double>(plane[idx]));
          acc += p == 1 ? v : p == 2 ? v * v : std::pow(v, static_cast<double>(p));
        });
        acc = p == 1 ? acc : p == 2 ? std::sqrt(acc) : std::pow(acc, 1.0 / static_cast<double>(p));
      }
      py[pl * osz + q] = convertValue<T>(acc);
    });
  });
}

Status LpPool(const KernelContext& ctx) { return avgOrLpPool(ctx, Reduce::kLp, "LpPool"); }

enum class GlobalKind { kAvg, kMax, kLp };

Status globalPool(const KernelContext& ctx, GlobalKind kind, std::string_view op) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  if (x.rank() < 2) return InvalidArgument("{}: input must have rank >= 2, got {}", op, x.dims().toString());
  const int64_t planes = x.dims()[0] * x.dims()[1];
  const int64_t sz = planes ? x.numel() / planes : 0;
  const int64_t p = kind == GlobalKind::kLp ? ctx.attrs.getInt("p") : 1;
  if (p < 1) return InvalidArgument("{}: p must be >= 1 (got {})", op, p);
  return dispatchOr<PoolTypes>(op, x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallelFor(planes, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, sz)), [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl) {
        const T* s = px + pl * sz;
        double acc = 0;
        if (kind == GlobalKind::kMax) {
          acc = sz ? static_cast<double>(s[0]) : 0.0;
          for (int64_t i = 1; i < sz; ++i) {
            const double v = static_cast<double>(s[i]);
            if (v > acc || std::isnan(v)) acc = v;
            if (std::isnan(acc)) break;
          }
        } else if (kind == GlobalKind::kAvg) {
          for (int64_t i = 0; i < sz; ++i) acc += static_cast<double>(s[i]);
          acc = sz ? acc / static_cast<double>(sz) : 0.0;
        } else {
          for (int64_t i = 0; i < sz; ++i) acc += std::pow(std::fabs(static_cast<double>(s[i])), static_cast<double>(p));
          acc = std::pow(acc, 1.0 / static_cast<double>(p));
        }
        py[pl] = convertValue<T>(acc);
      }
    });
  });
}

Status GlobalMaxPool(const KernelContext& ctx) { return globalPool(ctx, GlobalKind::kMax, "GlobalMaxPool"); }
Status GlobalLpPool(const KernelContext& ctx) { return globalPool(ctx, GlobalKind::kLp, "GlobalLpPool"); }

// Y (zeros) gets X[i] at flat index I[i] of the unpooled shape N x C x ((in-1)*s - pads + k); with
// an explicit output_shape that block sits at the start of each larger output dim.
Status MaxUnpool(const KernelContext& ctx) {
  const Tensor &x = ctx.in(0), &ind = ctx.in(1);
  Tensor& y = ctx.out(0);
  if (x.rank() < 3 || ind.dims() != x.dims() || y.rank() != x.rank())
    return InvalidArgument("MaxUnpool: X {} and indices {} must have the same shape of rank >= 3",
                           x.dims().toString(), ind.dims().toString());
  const int n = x.rank() - 2;
  const auto& k = ctx.attrs.getInts("kernel_shape");
  const auto s = ctx.attrs.getInts("strides", std::vector<int64_t>(n, 1));
  const auto pads = ctx.attrs.getInts("pads", std::vector<int64_t>(2 * n, 0));
  if (static_cast<int>(k.size()) != n || static_cast<int>(s.size()) != n || static_cast<int>(pads.size()) != 2 * n)
    return InvalidArgument("MaxUnpool: kernel_shape, strides and pads must match {} spatial dims", n);
  Dims inferred;
  for (int i = 0; i < n; ++i) inferred.push_back((x.dims()[i + 2] - 1) * s[i] - pads[i] - pads[i + n] + k[i]);
  const Dims& yd = y.dims();
  if (yd[0] != x.dims()[0] || yd[1] != x.dims()[1])
    return InvalidArgument("MaxUnpool: output shape {} must keep N and C of X {}", yd.toString(), x.dims().toString());
  for (int i = 0; i < n; ++i)
    if (yd[i + 2] < inferred[i])
      return InvalidArgument("MaxUnpool: output shape {} is smaller than the unpooled shape", yd.toString());
  const int64_t isz = inferred.numel(), osz = Dims(yd.begin() + 2, yd.end()).numel();
  const int64_t limit = yd[0] * yd[1] * isz;
  const int64_t* pi = ind.data<int64_t>();
  for (int64_t e = 0; e < x.numel(); ++e)
    if (pi[e] < 0 || pi[e] >= limit)
      return InvalidArgument("MaxUnpool: index {} is out of range [0, {})", pi[e], limit);
  return dispatchOr<PoolTypes>("MaxUnpool", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    std::fill(py, py + y.numel(), T(0.0f));
    for (int64_t e = 0; e < x.numel(); ++e) {
      const int64_t idx = pi[e];
      const int64_t plane = idx / isz;
      int64_t rem = idx % isz, off = 0, mul = 1;
      for (int i = n - 1; i >= 0; --i) {
        off += (rem % inferred[i]) * mul;
        rem /= inferred[i];
        mul *= yd[i + 2];
      }
      py[plane * osz + off] = px[e];
    }
  });
}

}  // namespace

Status refMaxPool(const KernelContext& ctx) { return MaxPool(ctx); }
Status refAveragePool(const KernelContext& ctx) { return avgOrLpPool(ctx, Reduce::kAvg, "AveragePool"); }
Status refGlobalAveragePool(const KernelContext& ctx) { return globalPool(ctx, GlobalKind::kAvg, "GlobalAveragePool"); }

void RegisterConvPoolPoolingKernels(KernelRegistry& r) {
  r.addFn("MaxPool", "cpu_ref_MaxPool", &refMaxPool);
  r.addFn("AveragePool", "cpu_ref_AveragePool", &refAveragePool);
  r.addFn("LpPool", "cpu_ref_LpPool", &LpPool);
  r.addFn("GlobalAveragePool", "cpu_ref_GlobalAveragePool", &refGlobalAveragePool);
  r.addFn("GlobalMaxPool", "cpu_ref_GlobalMaxPool", &GlobalMaxPool);
  r.addFn("GlobalLpPool", "cpu_ref_GlobalLpPool", &GlobalLpPool);
  r.addFn("MaxUnpool", "cpu_ref_MaxUnpool", &MaxUnpool);
}

}  // namespace kiln::cpu
