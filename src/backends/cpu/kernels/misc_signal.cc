// CPU kernels for the misc family's signal ops: Hann/Hamming/BlackmanWindow, DFT (forward,
// inverse, one-sided rfft/irfft along any axis, any length), STFT and MelWeightMatrix. Transforms
// are direct DFTs over a twiddle table, accumulated in double.
#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>
#include <vector>

#include "backends/cpu/kernels/kernel_util.h"
#include "backends/cpu/kernels/misc_kernels.h"
#include "backends/signal_geometry.h"

namespace kiln::cpu {

namespace {

using OutTypes = NumericTypes;

// ---- Windows ------------------------------------------------------------------------------------

template <typename F>
Status windowKernel(const KernelContext& ctx, const char* op, F f) {
  const int64_t size = ctx.in(0).intAt(0);
  Tensor& y = ctx.out(0);
  if (size < 0 || y.numel() != size) return InvalidArgument("{} size {} is invalid", op, size);
  const bool periodic = ctx.attrs.getInt("periodic") != 0;
  const double n1 = periodic ? double(size) : double(size - 1);
  return dispatchOr<OutTypes>(op, y.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    T* py = y.data<T>();
    for (int64_t i = 0; i < size; ++i) py[i] = convertValue<T>(n1 > 0 ? f(double(i), n1) : 1.0);
  });
}

constexpr double kPi = std::numbers::pi;

Status HannWindow(const KernelContext& ctx) {
  return windowKernel(ctx, "HannWindow", [](double n, double n1) {
    const double s = std::sin(kPi * n / n1);
    return s * s;
  });
}
Status HammingWindow(const KernelContext& ctx) {
  return windowKernel(ctx, "HammingWindow", [](double n, double n1) {
    const double alpha = 25.0 / 46.0;
    return alpha - std::cos(2 * kPi * n / n1) * (1 - alpha);
  });
}
Status BlackmanWindow(const KernelContext& ctx) {
  return windowKernel(ctx, "BlackmanWindow", [](double n, double n1) {
    return 0.42 - 0.5 * std::cos(2 * kPi * n / n1) + 0.08 * std::cos(4 * kPi * n / n1);
  });
}

// ---- DFT ----------------------------------------------------------------------------------------

using cd = std::complex<double>;

// exp(-2 pi i j / n) for j in [0, n).
std::vector<cd> twiddles(int64_t n) {
  std::vector<cd> w(n);
  for (int64_t j = 0; j < n; ++j) {
    const double a = -2.0 * kPi * double(j) / double(n);
    w[j] = cd(std::cos(a), std::sin(a));
  }
  return w;
}

// One line: in[0, len) (zero past len) -> out[0, m) of the length-n transform.
//   forward: X[k] = sum_t x[t] w^(kt);  inverse: x[t] = 1/n sum_k X[k] w^(-kt);
//   irfft: the inverse of the Hermitian spectrum built from the first n/2+1 bins, real part.
void dftLine(const cd* in, int64_t len, int64_t n, int64_t m, bool inverse, bool irfft, const std::vector<cd>& w,
             cd* out, std::vector<cd>& scratch) {
  if (irfft) {
    scratch.assign(n, cd(0, 0));
    const int64_t half = n / 2;
    for (int64_t k = 0; k <= half && k < len; ++k) scratch[k] = in[k];
    for (int64_t k = 1; k < n - k; ++k) scratch[n - k] = std::conj(k < len ? in[k] : cd(0, 0));
    in = scratch.data();
    len = n;
  }
  const int64_t used = std::min(len, n);
  for (int64_t k = 0; k < m; ++k) {
    cd acc(0, 0);
    for (int64_t t = 0, j = 0; t < used; ++t, j = (j + k) % n) {
      const cd tw = inverse ? std::conj(w[j]) : w[j];
      acc += in[t] * tw;
    }
    if (inverse) acc /= double(n);
    out[k] = irfft ? cd(acc.real(), 0) : acc;
  }
}

Status DFT(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  backends::DftGeometry g;
  KILN_RETURN_IF_ERROR(backends::dftGeometry(ctx.attrs, x, ctx.hasInput(1) ? &ctx.in(1) : nullptr,
                                             ctx.hasInput(2) ? &ctx.in(2) : nullptr, &g));
  const bool inverse = g.inverse, irfft = g.irfft;
  const int64_t L = g.len, n = g.n, m = g.bins, comp = g.comp, oc = g.outComp, outer = g.outer, inner = g.inner;
  Tensor& y = ctx.out(0);
  if (y.numel() != outer * m * inner * oc)
    return InternalError("DFT output {} does not match the transform ({} bins)", y.dims().toString(), m);
  const std::vector<cd> w = twiddles(n);
  return dispatchOr<FloatTypes>("DFT", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallelFor(outer * inner, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, n * m)), [&](int64_t lo, int64_t hi) {
      std::vector<cd> in(L), out(m), scratch;
      for (int64_t oi = lo; oi < hi; ++oi) {
        const int64_t o = oi / inner, i = oi % inner;
        for (int64_t t = 0; t < L; ++t) {
          const T* e = px + ((o * L + t) * inner + i) * comp;
          in[t] = cd(double(static_cast<compute_t<T>>(e[0])), comp == 2 ? double(static_cast<compute_t<T>>(e[1])) : 0.0);
        }
        dftLine(in.data(), L, n, m, inverse, irfft, w, out.data(), scratch);
        for (int64_t k = 0; k < m; ++k) {
          T* e = py + ((o * m + k) * inner + i) * oc;
          e[0] = convertValue<T>(out[k].real());
          if (oc == 2) e[1] = convertValue<T>(out[k].imag());
        }
      }
    });
  });
}

// ---- STFT ---------------------------------------------------------------------------------------

Status STFT(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor* win = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
  backends::StftGeometry g;
  KILN_RETURN_IF_ERROR(
      backends::stftGeometry(ctx.attrs, x, ctx.in(1), win, ctx.hasInput(3) ? &ctx.in(3) : nullptr, &g));
  const int64_t B = g.batch, L = g.len, comp = g.comp, step = g.step, fl = g.frameLength, frames = g.frames,
                bins = g.bins;
  Tensor& y = ctx.out(0);
  if (y.dims() != Dims{B, frames, bins, 2})
    return InternalError("STFT output {} does not match ({}, {}, {}, 2)", y.dims().toString(), B, frames, bins);
  const std::vector<cd> w = twiddles(fl);
  return dispatchOr<FloatTypes>("STFT", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    const T* pw = win ? win->data<T>() : nullptr;
    T* py = y.data<T>();
    parallelFor(B * frames, 1, [&](int64_t lo, int64_t hi) {
      std::vector<cd> in(fl), out(bins), scratch;
      for (int64_t bf = lo; bf < hi; ++bf) {
        const int64_t b = bf / frames, f = bf % frames;
        for (int64_t t = 0; t < fl; ++t) {
          const T* e = px + (b * L + f * step + t) * comp;
          const double wt = pw ? double(static_cast<compute_t<T>>(pw[t])) : 1.0;
          in[t] = cd(double(static_cast<compute_t<T>>(e[0])) * wt,
                     comp == 2 ? double(static_cast<compute_t<T>>(e[1])) * wt : 0.0);
        }
        dftLine(in.data(), fl, fl, bins, false, false, w, out.data(), scratch);
        for (int64_t k = 0; k < bins; ++k) {
          py[(bf * bins + k) * 2] = convertValue<T>(out[k].real());
          py[(bf * bins + k) * 2 + 1] = convertValue<T>(out[k].imag());
        }
      }
    });
  });
}

// ---- MelWeightMatrix ----------------------------------------------------------------------------

// numpy's floor division of doubles.
double floorDivide(double a, double b) {
  if (b == 0) return a / b;
  const double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div == 0) return std::copysign(0.0, a / b);
  double fl = std::floor(div);
  if (div - fl > 0.5) fl += 1.0;
  return fl;
}

Status MelWeightMatrix(const KernelContext& ctx) {
  const int64_t mel = ctx.in(0).intAt(0), dft = ctx.in(1).intAt(0), sr = ctx.in(2).intAt(0);
  if (mel < 1 || dft < 1 || sr < 1)
    return InvalidArgument("MelWeightMatrix num_mel_bins ({}), dft_length ({}) and sample_rate ({}) must be >= 1", mel,
                           dft, sr);
  const int64_t nbins = dft / 2 + 1;
  Tensor& y = ctx.out(0);
  if (y.dims() != Dims{nbins, mel}) return InternalError("MelWeightMatrix output {} is mis-sized", y.dims().toString());
  // The reference computes the edge mels in the edge frequencies' type and the rest in double.
  double lowMel = 0, step = 0;
  Status st = dispatchOr<FloatTypes>("MelWeightMatrix", ctx.in(3).dtype(), [&](auto tag) {
    using E = KILN_TYPE(tag);
    using C = compute_t<E>;
    const C lo = static_cast<C>(ctx.in(3).data<E>()[0]), hi = static_cast<C>(ctx.in(4).data<E>()[0]);
    const C ln10 = static_cast<C>(std::log(10.0));
    const C l = C(2595) * std::log1p(lo / C(700)) / ln10, h = C(2595) * std::log1p(hi / C(700)) / ln10;
    lowMel = l;
    step = static_cast<C>((h - l) / C(mel + 2));
  });
  KILN_RETURN_IF_ERROR(st);
  std::vector<int64_t> fb(mel + 2);
  for (int64_t i = 0; i < mel + 2; ++i) {
    const double f = double(i) * step + lowMel;
    const double hz = 700 * std::expm1(f / 2595 * std::log(10.0));
    const double b = floorDivide(double(dft + 1) * hz, double(sr));
    if (!(b >= 0 && b < double(nbins)))
      return InvalidArgument("MelWeightMatrix edge frequencies map to spectrogram bin {} outside [0, {})", b, nbins);
    fb[i] = static_cast<int64_t>(b);
  }
  std::vector<double> w(nbins * mel, 0.0);
  for (int64_t i = 0; i < mel; ++i) {
    const int64_t lo = fb[i], c = fb[i + 1], hi = fb[i + 2];
    if (c == lo) {
      w[c * mel + i] = 1;
    } else {
      for (int64_t j = lo; j <= c; ++j) w[j * mel + i] = double(j - lo) / double(c - lo);
    }
    if (hi > c)
      for (int64_t j = c; j < hi; ++j) w[j * mel + i] = double(hi - j) / double(hi - c);
  }
  return dispatchOr<OutTypes>("MelWeightMatrix", y.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    T* py = y.data<T>();
    for (int64_t k = 0; k < nbins * mel; ++k) py[k] = convertValue<T>(w[k]);
  });
}

}  // namespace

void RegisterMiscSignalKernels(KernelRegistry& r) {
  r.addFn("HannWindow", "cpu_ref_HannWindow", &HannWindow);
  r.addFn("HammingWindow", "cpu_ref_HammingWindow", &HammingWindow);
  r.addFn("BlackmanWindow", "cpu_ref_BlackmanWindow", &BlackmanWindow);
  r.addFn("DFT", "cpu_ref_DFT", &DFT);
  r.addFn("STFT", "cpu_ref_STFT", &STFT);
  r.addFn("MelWeightMatrix", "cpu_ref_MelWeightMatrix", &MelWeightMatrix);
}

}  // namespace kiln::cpu
