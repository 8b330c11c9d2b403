// CPU reference kernels for the convolution ops: Conv and ConvTranspose (float types; small floats
// compute in float), ConvInteger and QLinearConv (8-bit, int32 accumulation). Conv is im2col + the
// blocked GEMM per (image, group); ConvTranspose is GEMM + col2im. Any spatial rank >= 1.
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/kernels/conv_pool_geom.h"
#include "backends/cpu/kernels/conv_pool_ref.h"
#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/kernel_util.h"
#include "backends/cpu/kernels/matmul_gemm.h"

namespace kiln::cpu {

namespace {

template <typename F>
void runMaybeParallel(int64_t n, int64_t grain, bool parallel, F&& fn) {
  if (parallel) parallelFor(n, grain, fn);
  else fn(0, n);
}

// Kernel index r (row-major over kernel dims) -> per-dim kernel offsets.
void kernelOffsets(int64_t r, const Dims& kernel, int64_t* kk) {
  for (int i = kernel.rank() - 1; i >= 0; --i) {
    kk[i] = r % kernel[i];
    r /= kernel[i];
  }
}

// Range [lo, hi) of positions p in [0, count) with 0 <= p*s + off < limit.
void validRange(int64_t off, int64_t s, int64_t limit, int64_t count, int64_t* lo, int64_t* hi) {
  *lo = off >= 0 ? 0 : (-off + s - 1) / s;
  *hi = limit - 1 - off >= 0 ? (limit - 1 - off) / s + 1 : 0;
  *lo = std::min(*lo, count);
  *hi = std::max(*lo, std::min(*hi, count));
}

// cols[(c*K + k) * outSize + o] = x[c][o*s - pad + k*d] (or `pad` outside the input), for
// `channels` input planes of g.in.
template <typename T>
void im2col(const T* x, const SpatialGeom& g, int64_t channels, T* cols, T pad, bool parallel) {
  const int n = g.n;
  const int64_t ksz = g.kernelSize(), osz = g.outSize(), isz = g.inSize();
  const int64_t lastOut = g.out[n - 1], lastIn = g.in[n - 1];
  const int64_t s = g.strides[n - 1];
  const int64_t outer = lastOut ? osz / lastOut : 0;
  runMaybeParallel(channels * ksz, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, osz)), parallel,
                   [&](int64_t r0, int64_t r1) {
    int64_t kk[kMaxRank], oidx[kMaxRank];
    for (int64_t r = r0; r < r1; ++r) {
      kernelOffsets(r % ksz, g.kernel, kk);
      const T* xc = x + (r / ksz) * isz;
      T* dst = cols + r * osz;
      const int64_t off = kk[n - 1] * g.dilations[n - 1] - g.padBegin[n - 1];
      int64_t lo, hi;
      validRange(off, s, lastIn, lastOut, &lo, &hi);
      std::fill(oidx, oidx + n, 0);
      for (int64_t q = 0; q < outer; ++q, dst += lastOut) {
        bool valid = true;
        int64_t inOff = 0;
        for (int i = 0; i + 1 < n; ++i) {
          const int64_t ii = oidx[i] * g.strides[i] - g.padBegin[i] + kk[i] * g.dilations[i];
          if (ii < 0 || ii >= g.in[i]) {
            valid = false;
            break;
          }
          inOff = inOff * g.in[i] + ii;
        }
        if (!valid) {
          std::fill(dst, dst + lastOut, pad);
        } else {
          const T* xr = xc + inOff * lastIn;  // input index of output o: o*s + off (>= 0 in [lo, hi))
          std::fill(dst, dst + lo, pad);
          if (s == 1) {
            for (int64_t o = lo; o < hi; ++o) dst[o] = xr[o + off];
          } else {
            for (int64_t o = lo; o < hi; ++o) dst[o] = xr[o * s + off];
          }
          std::fill(dst + hi, dst + lastOut, pad);
        }
        for (int i = n - 2; i >= 0; --i) {
          if (++oidx[i] < g.out[i]) break;
          oidx[i] = 0;
        }
      }
    }
  });
}

// y[N, M, out...] = conv(x[N, C, in...], w[M, C/group, k...]) (+ bias[M]).
template <typename T>
void convCore(const T* x, const T* w, const T* bias, T* y, const SpatialGeom& g, int64_t group) {
  const int64_t cg = g.inC / group, mg = g.outC / group;
  const int64_t ksz = g.kernelSize(), osz = g.outSize(), isz = g.inSize(), kg = cg * ksz;
  bool direct = true;  // 1x1, stride 1, no padding: X is its own im2col matrix
  for (int i = 0; i < g.n; ++i)
    if (g.kernel[i] != 1 || g.strides[i] != 1 || g.padBegin[i] != 0 || g.padEnd[i] != 0) direct = false;
  auto one = [&](int64_t n, int64_t gi, bool parallel) {
    const T* src = x + (n * g.inC + gi * cg) * isz;
    if (!direct) {
      T* cols = threadScratch<T>(ScratchSlot::kCols, kg * osz);
      im2col(src, g, cg, cols, T(0), parallel);
      src = cols;
    }
    T* yg = y + (n * g.outC + gi * mg) * osz;
    gemm(mg, osz, kg, rowMajor(w + gi * mg * kg, kg), rowMajor(src, osz), yg, osz, false, parallel);
    if (bias)
      for (int64_t m = 0; m < mg; ++m) {
        const T b = bias[gi * mg + m];
        T* row = yg + m * osz;
        for (int64_t o = 0; o < osz; ++o) row[o] += b;
      }
  };
  const int64_t tasks = g.batch * group;
  const bool outerParallel = tasks >= 4 && mg * osz * kg < (int64_t{1} << 22);
  if (outerParallel) {
    parallelFor(tasks, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) one(t / group, t % group, false);
    });
  } else {
    for (int64_t t = 0; t < tasks; ++t) one(t / group, t % group, true);
  }
}

// y[N, M, out...] = convT(x[N, C, in...], w[C, M/group, k...]) (+ bias[M]): per (image, group),
// cols[(m*K + k), in] = W^T X, then each cols row is scattered (added) into y.
template <typename T>
void convTransposeCore(const T* x, const T* w, const T* bias, T* y, const SpatialGeom& g, int64_t group) {
  const int n = g.n;
  const int64_t cg = g.inC / group, mg = g.outC / group;
  const int64_t ksz = g.kernelSize(), osz = g.outSize(), isz = g.inSize();
  const int64_t lastOut = g.out[n - 1], lastIn = g.in[n - 1], s = g.strides[n - 1];
  const int64_t outer = lastIn ? isz / lastIn : 0;
  T* cols = threadScratch<T>(ScratchSlot::kCols, mg * ksz * isz);
  for (int64_t b = 0; b < g.batch; ++b) {
    for (int64_t gi = 0; gi < group; ++gi) {
      const T* xg = x + (b * g.inC + gi * cg) * isz;
      const T* wg = w + gi * cg * mg * ksz;
      gemm(mg * ksz, isz, cg, colMajor(wg, mg * ksz), rowMajor(xg, isz), cols, isz, false);
      parallelFor(mg, 1, [&](int64_t m0, int64_t m1) {
        int64_t kk[kMaxRank], iidx[kMaxRank];
        for (int64_t m = m0; m < m1; ++m) {
          T* yp = y + (b * g.outC + gi * mg + m) * osz;
          std::fill(yp, yp + osz, bias ? bias[gi * mg + m] : T(0));
          for (int64_t k = 0; k < ksz; ++k) {
            kernelOffsets(k, g.kernel, kk);
            const T* src = cols + (m * ksz + k) * isz;
            const int64_t off = kk[n - 1] * g.dilations[n - 1] - g.padBegin[n - 1];
            int64_t lo, hi;
            validRange(off, s, lastOut, lastIn, &lo, &hi);
            std::fill(iidx, iidx + n, 0);
            for (int64_t q = 0; q < outer; ++q, src += lastIn) {
              bool valid = true;
              int64_t outOff = 0;
              for (int i = 0; i + 1 < n; ++i) {
                const int64_t oi = iidx[i] * g.strides[i] - g.padBegin[i] + kk[i] * g.dilations[i];
                if (oi < 0 || oi >= g.out[i]) {
                  valid = false;
                  break;
                }
                outOff = outOff * g.out[i] + oi;
              }
              if (valid) {
                T* dst = yp + outOff * lastOut;  // output index of input i: i*s + off (>= 0 in [lo, hi))
                for (int64_t i = lo; i < hi; ++i) dst[i * s + off] += src[i];
              }
              for (int i = n - 2; i >= 0; --i) {
                if (++iidx[i] < g.in[i]) break;
                iidx[i] = 0;
              }
            }
          }
        }
      });
    }
  }
}

// Elements of a small-float tensor as float, in the calling thread's scratch `slot`.
template <typename T>
const float* floatsIn(const Tensor& t, ScratchSlot slot) {
  float* v = threadScratch<float>(slot, t.numel());
  const T* p = t.data<T>();
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = static_cast<float>(p[i]);
  return v;
}

// Runs core<float/double>(x, w, bias, y) for any float dtype of the tensors.
template <typename Core>
Status dispatchFloatConv(std::string_view op, const Tensor& x, const Tensor& w, const Tensor* b, Tensor& y,
                         Core core) {
  return dispatchOr<FloatTypes>(op, x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      core(x.data<T>(), w.data<T>(), b ? b->data<T>() : static_cast<const T*>(nullptr), y.data<T>());
    } else {
      const float* xf = floatsIn<T>(x, ScratchSlot::kX);
      const float* wf = floatsIn<T>(w, ScratchSlot::kW);
      const float* bf = b ? floatsIn<T>(*b, ScratchSlot::kB) : nullptr;
      float* yf = threadScratch<float>(ScratchSlot::kY, y.numel());
      core(xf, wf, bf, yf);
      T* py = y.data<T>();
      for (int64_t i = 0; i < y.numel(); ++i) py[i] = T(yf[i]);
    }
  });
}

Dims spatialOf(const Dims& d) { return Dims(d.begin() + 2, d.end()); }

// Checks the run-time shapes a conv kernel relies on (inference validated them already; this keeps
// a kernel called directly from reading out of bounds).
Status checkConvShapes(std::string_view op, const Tensor& x, const Tensor& w, const Tensor* b, int64_t group,
                       int64_t wIn, int64_t wOut, int64_t outC) {
  if (x.rank() < 3 || w.rank() != x.rank())
    return InvalidArgument("{}: input {} and weights {} must have the same rank >= 3", op, x.dims().toString(),
                           w.dims().toString());
  if (group < 1 || x.dims()[1] != wIn * group || outC % group != 0)
    return InvalidArgument("{}: input {} does not match weights {} with group {}", op, x.dims().toString(),
                           w.dims().toString(), group);
  (void)wOut;
  if (b && b->numel() != outC)
    return InvalidArgument("{}: bias has {} values; expected {}", op, b->numel(), outC);
  return Status::OK();
}

template <typename Q>
Q saturateRound(double v) {
  v = std::nearbyint(v);
  v = std::min<double>(std::max<double>(v, std::numeric_limits<Q>::lowest()), std::numeric_limits<Q>::max());
  return static_cast<Q>(v);
}

// Input i as int32 values minus a zero point (scalar, or per leading-dim entry when `perRow`).
Result<std::vector<int32_t>> centered(const Tensor& t, const Tensor* zp, std::string_view what) {
  std::vector<int32_t> v(t.numel());
  const int64_t rows = t.rank() ? t.dims()[0] : 1;
  const int64_t per = rows ? t.numel() / rows : 0;
  if (zp && zp->numel() != 1 && zp->numel() != rows)
    return InvalidArgument("{} has {} values; expected 1 or {}", what, zp->numel(), rows);
  if (zp && zp->dtype() != t.dtype())
    return InvalidArgument("{} has type {}; expected {}", what, dtypeName(zp->dtype()), dtypeName(t.dtype()));
  Status st = dispatchOr<TypeList<int8_t, uint8_t>>(what, t.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* p = t.data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      const int32_t z = zp ? static_cast<int32_t>(zp->data<T>()[zp->numel() == 1 ? 0 : r]) : 0;
      for (int64_t i = r * per; i < (r + 1) * per; ++i) v[i] = static_cast<int32_t>(p[i]) - z;
    }
  });
  KILN_RETURN_IF_ERROR(st);
  return v;
}

Status ConvInteger(const KernelContext& ctx) {
  const Tensor &x = ctx.in(0), &w = ctx.in(1);
  Tensor& y = ctx.out(0);
  const int64_t group = ctx.attrs.getInt("group");
  KILN_RETURN_IF_ERROR(checkConvShapes("ConvInteger", x, w, nullptr, group, w.dims()[1], w.dims()[0], w.dims()[0]));
  SpatialGeom g;
  KILN_RETURN_IF_ERROR(makeGeom(ctx.attrs, x.dims(), spatialOf(w.dims()), y.dims(), PadMode::kConv, &g));
  if (y.numel() == 0) return Status::OK();
  const Tensor* xzp = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
  const Tensor* wzp = ctx.hasInput(3) ? &ctx.in(3) : nullptr;
  if (xzp && xzp->numel() != 1) return InvalidArgument("ConvInteger: x_zero_point must be a scalar");
  KILN_ASSIGN_OR_RETURN(auto xv, centered(x.reshaped({1, x.numel()}), xzp, "ConvInteger x_zero_point"));
  KILN_ASSIGN_OR_RETURN(auto wv, centered(w, wzp, "ConvInteger w_zero_point"));
  convCore<int32_t>(xv.data(), wv.data(), nullptr, y.data<int32_t>(), g, group);
  return Status::OK();
}

Status QLinearConv(const KernelContext& ctx) {
  const Tensor &x = ctx.in(0), &w = ctx.in(3);
  Tensor& y = ctx.out(0);
  const int64_t group = ctx.attrs.getInt("group");
  const Tensor* b = ctx.hasInput(8) ? &ctx.in(8) : nullptr;
  const int64_t m = w.rank() ? w.dims()[0] : 0;
  KILN_RETURN_IF_ERROR(checkConvShapes("QLinearConv", x, w, b, group, w.dims()[1], m, m));
  SpatialGeom g;
  KILN_RETURN_IF_ERROR(makeGeom(ctx.attrs, x.dims(), spatialOf(w.dims()), y.dims(), PadMode::kConv, &g));
  if (y.numel() == 0) return Status::OK();
  const Tensor &xs = ctx.in(1), &ws = ctx.in(4), &ys = ctx.in(6), &yzp = ctx.in(7);
  if (xs.numel() != 1 || ys.numel() != 1 || yzp.numel() != 1 || ctx.in(2).numel() != 1)
    return InvalidArgument("QLinearConv: x_scale, x_zero_point, y_scale and y_zero_point must be scalars");
  if (ws.numel() != 1 && ws.numel() != m)
    return InvalidArgument("QLinearConv: w_scale has {} values; expected 1 or {}", ws.numel(), m);
  KILN_ASSIGN_OR_RETURN(auto xv, centered(x.reshaped({1, x.numel()}), &ctx.in(2), "QLinearConv x_zero_point"));
  KILN_ASSIGN_OR_RETURN(auto wv, centered(w, &ctx.in(5), "QLinearConv w_zero_point"));
  std::vector<int32_t> acc(y.numel());
  convCore<int32_t>(xv.data(), wv.data(), b ? b->data<int32_t>() : nullptr, acc.data(), g, group);
  const float xsv = xs.data<float>()[0], ysv = ys.data<float>()[0];
  const int64_t osz = g.outSize();
  return dispatchOr<TypeList<int8_t, uint8_t>>("QLinearConv", y.dtype(), [&](auto tag) {
    using Q = KILN_TYPE(tag);
    const double zp = static_cast<double>(yzp.data<Q>()[0]);
    Q* py = y.data<Q>();
    for (int64_t i = 0; i < y.numel(); ++i) {
      const int64_t ch = (i / osz) % m;
      const float mult = xsv * ws.data<float>()[ws.numel() == 1 ? 0 : ch] / ysv;
      py[i] = saturateRound<Q>(static_cast<double>(acc[i]) * static_cast<double>(mult) + zp);
    }
  });
}

}  // namespace

Status refConv(const KernelContext& ctx) {
  const Tensor &x = ctx.in(0), &w = ctx.in(1);
  const Tensor* b = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
  Tensor& y = ctx.out(0);
  const int64_t group = ctx.attrs.getInt("group");
  KILN_RETURN_IF_ERROR(checkConvShapes("Conv", x, w, b, group, w.dims()[1], w.dims()[0], w.dims()[0]));
  SpatialGeom g;
  KILN_RETURN_IF_ERROR(makeGeom(ctx.attrs, x.dims(), spatialOf(w.dims()), y.dims(), PadMode::kConv, &g));
  if (y.numel() == 0) return Status::OK();
  return dispatchFloatConv("Conv", x, w, b, y, [&](const auto* px, const auto* pw, const auto* pb, auto* py) {
    convCore(px, pw, pb, py, g, group);
  });
}

Status refConvTranspose(const KernelContext& ctx) {
  const Tensor &x = ctx.in(0), &w = ctx.in(1);
  const Tensor* b = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
  Tensor& y = ctx.out(0);
  const int64_t group = ctx.attrs.getInt("group");
  const int64_t m = w.rank() >= 2 ? w.dims()[1] * group : 0;
  if (x.rank() < 3 || w.rank() != x.rank() || group < 1 || w.dims()[0] != x.dims()[1] ||
      x.dims()[1] % group != 0 || y.dims()[1] != m)
    return InvalidArgument("ConvTranspose: input {} does not match weights {} with group {}", x.dims().toString(),
                           w.dims().toString(), group);
  if (b && b->numel() != m) return InvalidArgument("ConvTranspose: bias has {} values; expected {}", b->numel(), m);
  SpatialGeom g;
  KILN_RETURN_IF_ERROR(
      makeGeom(ctx.attrs, x.dims(), spatialOf(w.dims()), y.dims(), PadMode::kConvTranspose, &g));
  if (y.numel() == 0) return Status::OK();
  return dispatchFloatConv("ConvTranspose", x, w, b, y,
                           [&](const auto* px, const auto* pw, const auto* pb, auto* py) {
                             convTransposeCore(px, pw, pb, py, g, group);
                           });
}

void RegisterConvPoolKernels(KernelRegistry& r) {
  r.addFn("Conv", "cpu_ref_Conv", &refConv);
  r.addFn("ConvTranspose", "cpu_ref_ConvTranspose", &refConvTranspose);
  r.addFn("ConvInteger", "cpu_ref_ConvInteger", &ConvInteger);
  r.addFn("QLinearConv", "cpu_ref_QLinearConv", &QLinearConv);
  RegisterConvPoolPoolingKernels(r);
}

}  // namespace kiln::cpu
