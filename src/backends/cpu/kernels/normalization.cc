// CPU kernels for BatchNormalization, InstanceNormalization, GroupNormalization, LRN,
// LpNormalization and MeanVarianceNormalization (LayerNormalization and RMSNormalization are in
// normalization_layer.cc). X is [N, C, spatial...]; per-channel work runs on contiguous spatial
// rows in parallel. Statistics use float (double for float64 X).
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/normalization_common.h"

namespace kiln::cpu {

namespace {

struct NCS {
  int64_t n = 1, c = 1, s = 1;  // batch, channels, spatial size
};
Status splitNCS(const Tensor& x, std::string_view op, NCS* d) {
  if (x.rank() < 2) return InvalidArgument("{} input must have rank >= 2 ([N, C, ...]), got {}", op, x.dims().toString());
  d->n = x.dims()[0];
  d->c = x.dims()[1];
  d->s = 1;
  for (int i = 2; i < x.rank(); ++i) d->s *= x.dims()[i];
  return Status::OK();
}

// y = x * a[k] + b[k] over rows of `s` elements; row r uses k = r % c (a, b per channel) or, when
// per-activation, a[k*s + j].
template <typename T, typename C>
void affineRows(const T* x, T* y, const NCS& d, const std::vector<C>& a, const std::vector<C>& b, bool perAct) {
  parallelFor(d.n * d.c, std::max<int64_t>(1, 32768 / std::max<int64_t>(d.s, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t ch = r % d.c;
      const T* p = x + r * d.s;
      T* q = y + r * d.s;
      if (perAct) {
        const C* pa = a.data() + ch * d.s;
        const C* pb = b.data() + ch * d.s;
        for (int64_t j = 0; j < d.s; ++j) q[j] = convertValue<T>(static_cast<C>(p[j]) * pa[j] + pb[j]);
      } else {
        const C ca = a[ch], cb = b[ch];
        if constexpr (std::is_same_v<T, C>) affineRow<C>(p, ca, cb, q, d.s);
        else for (int64_t j = 0; j < d.s; ++j) q[j] = convertValue<T>(static_cast<C>(p[j]) * ca + cb);
      }
    }
  });
}

// ---- BatchNormalization ---------------------------------------------------------------

template <typename T>
Status batchNormTyped(const KernelContext& ctx, const NCS& d) {
  using C = stat_t<T>;
  const C eps = ctx.attrs.getFloat("epsilon");
  const bool training = ctx.attrs.getInt("training_mode") != 0;
  std::vector<C> scale = toVector<C>(ctx.in(1)), bias = toVector<C>(ctx.in(2));
  std::vector<C> mean = toVector<C>(ctx.in(3)), var = toVector<C>(ctx.in(4));
  const int64_t perChannel = d.c, perAct = d.c * d.s;
  const bool act = !training && d.s != 1 && static_cast<int64_t>(scale.size()) == perAct;
  const int64_t want = act ? perAct : perChannel;
  static const char* kNames[] = {"scale", "B", "input_mean", "input_var"};
  const std::vector<C>* params[] = {&scale, &bias, &mean, &var};
  for (int i = 0; i < 4; ++i)
    if (static_cast<int64_t>(params[i]->size()) != want)
      return InvalidArgument("BatchNormalization {} has {} elements; expected {}", kNames[i], params[i]->size(), want);
  const T* px = ctx.in(0).data<T>();
  if (training) {
    // Batch statistics per channel (population variance), then the running averages.
    std::vector<C> bm(d.c), bv(d.c);
    const int64_t count = d.n * d.s;
    parallelFor(d.c, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t ch = lo; ch < hi; ++ch) {
        C s = 0;
        for (int64_t k = 0; k < d.n; ++k) {
          const T* p = px + (k * d.c + ch) * d.s;
          s += sumRow<C>(d.s, [&](int64_t j) { return static_cast<C>(p[j]); });
        }
        const C m = count ? s / static_cast<C>(count) : C(0);
        C v = 0;
        for (int64_t k = 0; k < d.n; ++k) {
          const T* p = px + (k * d.c + ch) * d.s;
          v += sumRow<C>(d.s, [&](int64_t j) { C t = static_cast<C>(p[j]) - m; return t * t; });
        }
        bm[ch] = m;
        bv[ch] = count ? v / static_cast<C>(count) : C(0);
      }
    });
    const C mom = ctx.attrs.getFloat("momentum");
    std::vector<C> runMean(d.c), runVar(d.c);
    for (int64_t ch = 0; ch < d.c; ++ch) {
      runMean[ch] = mean[ch] * mom + bm[ch] * (C(1) - mom);
      runVar[ch] = var[ch] * mom + bv[ch] * (C(1) - mom);
    }
    if (ctx.hasOutput(1) && ctx.out(1).numel() == d.c) fromVector(runMean, ctx.out(1));
    if (ctx.hasOutput(2) && ctx.out(2).numel() == d.c) fromVector(runVar, ctx.out(2));
    mean = std::move(bm);
    var = std::move(bv);
  }
  // y = (x - mean) / sqrt(var + eps) * scale + bias = x * a + b
  std::vector<C> a(want), b(want);
  for (int64_t k = 0; k < want; ++k) {
    a[k] = scale[k] / std::sqrt(var[k] + eps);
    b[k] = bias[k] - mean[k] * a[k];
  }
  affineRows<T, C>(px, ctx.out(0).data<T>(), d, a, b, act);
  return Status::OK();
}

Status batchNorm(const KernelContext& ctx) {
  NCS d;
  KILN_RETURN_IF_ERROR(splitNCS(ctx.in(0), "BatchNormalization", &d));
  for (int i = 1; i < 5; ++i)
    if (!isFloat(ctx.in(i).dtype()) || isFloat8(ctx.in(i).dtype()))
      return unsupportedType("BatchNormalization parameter", ctx.in(i).dtype());
  Status st;
  KILN_RETURN_IF_ERROR(dispatchOr<FloatTypes>("BatchNormalization", ctx.in(0).dtype(), [&](auto tag) {
    st = batchNormTyped<KILN_TYPE(tag)>(ctx, d);
  }));
  return st;
}

// ---- InstanceNormalization / GroupNormalization ---------------------------------------

// Normalizes each of the N*G contiguous groups of (C/G)*S elements; channel k of the group scales
// by scale[k] (or by scale[g] when the parameters are per group).
template <typename T, typename C>
Status groupNormTyped(const KernelContext& ctx, const NCS& d, int64_t groups, std::string_view op) {
  const C eps = ctx.attrs.getFloat("epsilon");
  const std::vector<C> scale = toVector<C>(ctx.in(1)), bias = toVector<C>(ctx.in(2));
  const int64_t cpg = d.c / groups;
  const bool perGroup = static_cast<int64_t>(scale.size()) == groups && groups != d.c;
  const int64_t want = perGroup ? groups : d.c;
  if (static_cast<int64_t>(scale.size()) != want || static_cast<int64_t>(bias.size()) != want)
    return InvalidArgument("{} scale and bias must have {} elements, got {} and {}", op, d.c, scale.size(), bias.size());
  const T* px = ctx.in(0).data<T>();
  T* py = ctx.out(0).data<T>();
  const int64_t len = cpg * d.s;
  parallelFor(d.n * groups, std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)), [&](int64_t lo, int64_t hi) {
    std::vector<C> buf;
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t g = t % groups;
      const C* xr = loadRow<C>(px + t * len, len, buf);
      C mean, var;
      meanVar(xr, len, &mean, &var);
      const C inv = C(1) / std::sqrt(var + eps);
      T* yr = py + t * len;
      for (int64_t k = 0; k < cpg; ++k) {
        const int64_t pi = perGroup ? g : g * cpg + k;
        const C a = scale[pi] * inv, b = bias[pi] - mean * a;
        const C* xs = xr + k * d.s;
        T* ys = yr + k * d.s;
        if constexpr (std::is_same_v<T, C>) affineRow<C>(xs, a, b, ys, d.s);
        else for (int64_t j = 0; j < d.s; ++j) ys[j] = convertValue<T>(xs[j] * a + b);
      }
    }
  });
  return Status::OK();
}

Status groupNormKernel(const KernelContext& ctx, int64_t groups, std::string_view op) {
  const Tensor& x = ctx.in(0);
  NCS d;
  KILN_RETURN_IF_ERROR(splitNCS(x, op, &d));
  if (groups <= 0 || d.c % groups != 0)
    return InvalidArgument("{}: {} channels do not split into {} groups", op, d.c, groups);
  if (ctx.in(1).dtype() != x.dtype() || ctx.in(2).dtype() != x.dtype())
    return InvalidArgument("{} scale and bias must have the input's type {}", op, dtypeName(x.dtype()));
  if (x.numel() == 0) return Status::OK();
  Status st;
  KILN_RETURN_IF_ERROR(dispatchOr<FloatTypes>(op, x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    // GroupNormalization's stash_type = double computes the statistics in double.
    if (ctx.attrs.getInt("stash_type", 1) == static_cast<int64_t>(DType::kFloat64))
      st = groupNormTyped<T, double>(ctx, d, groups, op);
    else
      st = groupNormTyped<T, stat_t<T>>(ctx, d, groups, op);
  }));
  return st;
}

Status instanceNorm(const KernelContext& ctx) {
  if (ctx.in(0).rank() < 2) return InvalidArgument("InstanceNormalization input must have rank >= 2");
  return groupNormKernel(ctx, ctx.in(0).dims()[1], "InstanceNormalization");
}
Status groupNorm(const KernelContext& ctx) {
  return groupNormKernel(ctx, ctx.attrs.getInt("num_groups"), "GroupNormalization");
}

// ---- LRN ------------------------------------------------------------------------------

Status lrn(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  NCS d;
  KILN_RETURN_IF_ERROR(splitNCS(x, "LRN", &d));
  const int64_t size = ctx.attrs.getInt("size");
  if (size <= 0) return InvalidArgument("LRN size must be positive, got {}", size);
  const double alpha = ctx.attrs.getFloat("alpha"), beta = ctx.attrs.getFloat("beta"),
               bias = ctx.attrs.getFloat("bias");
  if (x.numel() == 0) return Status::OK();
  const int64_t before = (size - 1) / 2, after = size - 1 - before;  // floor / ceil of (size-1)/2
  return dispatchOr<FloatTypes>("LRN", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = stat_t<T>;
    const C a = static_cast<C>(alpha / static_cast<double>(size));
    const C b = static_cast<C>(bias), be = static_cast<C>(beta);
    const T* px = x.data<T>();
    T* py = ctx.out(0).data<T>();
    constexpr int64_t kBlock = 256;
    const int64_t nBlocks = (d.s + kBlock - 1) / kBlock;
    parallelFor(d.n * d.c * nBlocks, std::max<int64_t>(1, 4096 / (size * std::min(kBlock, d.s))),
                [&](int64_t lo, int64_t hi) {
      std::array<C, kBlock> sum;
      for (int64_t t = lo; t < hi; ++t) {
        const int64_t blk = t % nBlocks, nc = t / nBlocks, ch = nc % d.c, n = nc / d.c;
        const int64_t j0 = blk * kBlock, len = std::min(kBlock, d.s - j0);
        const int64_t c0 = std::max<int64_t>(0, ch - before), c1 = std::min(d.c - 1, ch + after);
        sum.fill(C(0));
        for (int64_t k = c0; k <= c1; ++k) {
          const T* p = px + (n * d.c + k) * d.s + j0;
          for (int64_t j = 0; j < len; ++j) {
            C v = static_cast<C>(p[j]);
            sum[j] += v * v;
          }
        }
        const T* p = px + nc * d.s + j0;
        T* q = py + nc * d.s + j0;
        for (int64_t j = 0; j < len; ++j)
          q[j] = convertValue<T>(static_cast<C>(p[j]) / std::pow(b + a * sum[j], be));
      }
    });
  });
}

// ---- LpNormalization ------------------------------------------------------------------

Status lpNorm(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t p = ctx.attrs.getInt("p");
  if (p != 1 && p != 2) return InvalidArgument("LpNormalization p must be 1 or 2, got {}", p);
  int axis;
  if (!normAxis(ctx.attrs.getInt("axis"), x.rank(), &axis))
    return InvalidArgument("LpNormalization axis {} is out of range for rank {}", ctx.attrs.getInt("axis"), x.rank());
  const AxisSplit s = splitAt(x.dims(), axis);
  if (x.numel() == 0) return Status::OK();
  return dispatchOr<FloatTypes>("LpNormalization", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = stat_t<T>;
    const T* px = x.data<T>();
    T* py = ctx.out(0).data<T>();
    auto term = [p](C v) { return p == 1 ? std::fabs(v) : v * v; };
    auto scaleOf = [p](C acc) { C norm = p == 1 ? acc : std::sqrt(acc); return norm == C(0) ? C(0) : C(1) / norm; };
    constexpr int64_t kBlock = 256;
    const int64_t nBlocks = (s.inner + kBlock - 1) / kBlock;
    const int64_t work = std::max<int64_t>(1, s.n * std::min(kBlock, s.inner));
    parallelFor(s.outer * nBlocks, std::max<int64_t>(1, 16384 / work), [&](int64_t lo, int64_t hi) {
      std::array<C, kBlock> acc;
      for (int64_t t = lo; t < hi; ++t) {
        const int64_t o = t / nBlocks, j0 = (t % nBlocks) * kBlock, len = std::min(kBlock, s.inner - j0);
        const T* pr = px + o * s.n * s.inner + j0;
        T* qr = py + o * s.n * s.inner + j0;
        acc.fill(C(0));
        for (int64_t i = 0; i < s.n; ++i)
          for (int64_t j = 0; j < len; ++j) acc[j] += term(static_cast<C>(pr[i * s.inner + j]));
        for (int64_t j = 0; j < len; ++j) acc[j] = scaleOf(acc[j]);  // 0 when the norm is 0
        for (int64_t i = 0; i < s.n; ++i)
          for (int64_t j = 0; j < len; ++j)
            qr[i * s.inner + j] = convertValue<T>(static_cast<C>(pr[i * s.inner + j]) * acc[j]);
      }
    });
  });
}

// ---- MeanVarianceNormalization --------------------------------------------------------

// y = (x - mean) / (sqrt(var) + 1e-9) with the statistics over `axes` (ONNX's function body).
Status meanVarianceNorm(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int rank = x.rank();
  Dims stat = x.dims();
  std::vector<bool> seen(rank, false);
  for (int64_t a : ctx.attrs.getInts("axes")) {
    int k;
    if (!normAxis(a, rank, &k) || (rank == 0 && a != 0 && a != -1))
      return InvalidArgument("MeanVarianceNormalization axes value {} is out of range for rank {}", a, rank);
    if (rank == 0) continue;
    if (seen[k]) return InvalidArgument("MeanVarianceNormalization axes repeats axis {}", a);
    seen[k] = true;
    stat[k] = 1;
  }
  if (x.numel() == 0) return Status::OK();
  const int64_t count = x.numel() / stat.numel();
  return dispatchOr<FloatTypes>("MeanVarianceNormalization", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = stat_t<T>;
    const T* px = x.data<T>();
    T* py = ctx.out(0).data<T>();
    BroadcastPlan<1> plan(x.dims(), {stat});
    const int64_t st = plan.innerStride(0);
    std::vector<C> mean(stat.numel(), C(0)), var(stat.numel(), C(0));
    std::array<int64_t, 1> off;
    // Sequential accumulation: several rows may share statistics.
    for (int64_t row = 0; row < plan.rows(); ++row) {
      plan.rowOffsets(row, off);
      const T* p = px + row * plan.inner();
      for (int64_t i = 0; i < plan.inner(); ++i) mean[off[0] + i * st] += static_cast<C>(p[i]);
    }
    for (C& m : mean) m /= static_cast<C>(count);
    for (int64_t row = 0; row < plan.rows(); ++row) {
      plan.rowOffsets(row, off);
      const T* p = px + row * plan.inner();
      for (int64_t i = 0; i < plan.inner(); ++i) {
        C dlt = static_cast<C>(p[i]) - mean[off[0] + i * st];
        var[off[0] + i * st] += dlt * dlt;
      }
    }
    for (C& v : var) v = C(1) / (std::sqrt(v / static_cast<C>(count)) + C(1e-9));
    plan.forEachRow([&](int64_t o, const std::array<int64_t, 1>& of, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        const int64_t k = of[0] + i * st;
        py[o + i] = convertValue<T>((static_cast<C>(px[o + i]) - mean[k]) * var[k]);
      }
    });
  });
}

}  // namespace

void RegisterNormalizationKernels(KernelRegistry& r) {
  r.addFn("BatchNormalization", "cpu_ref_BatchNormalization", &batchNorm);
  r.addFn("InstanceNormalization", "cpu_ref_InstanceNormalization", &instanceNorm);
  r.addFn("GroupNormalization", "cpu_ref_GroupNormalization", &groupNorm);
  r.addFn("LRN", "cpu_ref_LRN", &lrn);
  r.addFn("LpNormalization", "cpu_ref_LpNormalization", &lpNorm);
  r.addFn("MeanVarianceNormalization", "cpu_ref_MeanVarianceNormalization", &meanVarianceNorm);
  RegisterLayerNormKernels(r);
}

}  // namespace kiln::cpu
