// DFT and STFT: direct transforms, one thread per output bin, mirroring the CPU reference
// (backends/cpu/kernels/misc_signal.cc) operation for operation: samples widened to double, the
// twiddle w^j = exp(-2 pi i j / n) from the same double expression, the twiddle index advanced as
// j = (j + k) mod n, complex products and sums in double with the same association, 1/n scaling
// last, and the result rounded like convertValue (double -> float -> 16-bit type). Products and sums
// use the _rn intrinsics so nvcc does not contract them into FMAs the CPU build does not use; the
// only difference left is the last bit of the device's sin/cos.
//
// Each block builds the twiddle table of lengths up to kTableMax in shared memory; longer
// transforms compute each twiddle where it is used. No atomics: every output is written by one
// thread, so CUDA graph replays are bit-identical.
#include <algorithm>

#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/signal_launch.h"

namespace kiln::cuda::signal {

namespace {

constexpr int kBlock = 256;
constexpr int64_t kTableMax = 2048;  // 2048 * 16 bytes = 32 KiB of shared memory
constexpr double kPi = 3.141592653589793238462643383279502884;  // std::numbers::pi

template <typename T> struct TypeTag { using type = T; };

template <typename F>
bool dispatchFloat(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32: f(TypeTag<float>{}); return true;
    case DType::kFloat16: f(TypeTag<__half>{}); return true;
    case DType::kBFloat16: f(TypeTag<__nv_bfloat16>{}); return true;
    case DType::kFloat64: f(TypeTag<double>{}); return true;
    default: return false;
  }
}

// exp(-2 pi i j / n) as (cos, sin), the angle computed like the CPU's twiddles().
__device__ __forceinline__ double2 twiddle(int64_t j, int64_t n) {
  const double a = -2.0 * kPi * static_cast<double>(j) / static_cast<double>(n);
  double s, c;
  sincos(a, &s, &c);
  return make_double2(c, s);
}

template <typename T>
__device__ __forceinline__ double toD(T v) {
  return convertTo<double>(v);  // 16-bit floats go through float, exactly
}

template <typename T>
struct DftView {
  const T* x;
  const T* window;
  T* y;
  int64_t batch, frames, inner, len, n, m;
  int64_t strideB, strideF, strideI, strideT;
  int comp, outComp;
  bool inverse, irfft;
};

// Sample t of a line starting at `base`: (re, im), windowed.
template <typename T>
__device__ __forceinline__ double2 loadSample(const DftView<T>& v, const T* base, int64_t t) {
  const T* e = base + t * v.strideT;
  double re = toD(e[0]);
  double im = v.comp == 2 ? toD(e[1]) : 0.0;
  if (v.window) {
    const double wt = toD(v.window[t]);
    re = __dmul_rn(re, wt);
    im = v.comp == 2 ? __dmul_rn(im, wt) : 0.0;
  }
  return make_double2(re, im);
}

// Input t of the transform: the samples (zero past len) or, for irfft, the Hermitian spectrum
// they start: bins 0..n/2 as given, bin n-k the conjugate of bin k.
template <typename T>
__device__ __forceinline__ double2 transformInput(const DftView<T>& v, const T* base, int64_t t) {
  if (!v.irfft) return loadSample(v, base, t);  // t < min(len, n)
  if (t <= v.n / 2) return t < v.len ? loadSample(v, base, t) : make_double2(0.0, 0.0);
  const int64_t k = v.n - t;
  if (k >= v.len) return make_double2(0.0, 0.0);
  const double2 s = loadSample(v, base, k);
  return make_double2(s.x, -s.y);
}

template <typename T, bool kTable>
__global__ void __launch_bounds__(kBlock) dftKernel(DftView<T> v) {
  extern __shared__ double2 table[];
  if constexpr (kTable) {
    for (int64_t j = threadIdx.x; j < v.n; j += blockDim.x) table[j] = twiddle(j, v.n);
    __syncthreads();
  }
  const int64_t used = v.irfft ? v.n : (v.len < v.n ? v.len : v.n);
  const int64_t total = v.batch * v.frames * v.m * v.inner;
  KILN_GRID_STRIDE_LOOP(q, total) {
    const int64_t i = q % v.inner;
    const int64_t r = q / v.inner;
    const int64_t k = r % v.m, line = r / v.m;
    const int64_t f = line % v.frames, b = line / v.frames;
    const T* base = v.x + b * v.strideB + f * v.strideF + i * v.strideI;
    double re = 0.0, im = 0.0;
    int64_t j = 0;
    for (int64_t t = 0; t < used; ++t) {
      const double2 s = transformInput(v, base, t);
      double2 w;
      if constexpr (kTable) w = table[j];
      else w = twiddle(j, v.n);
      if (v.inverse) w.y = -w.y;
      // (s.x + i s.y) * (w.x + i w.y), rounded product by product like std::complex<double>.
      re = __dadd_rn(re, __dsub_rn(__dmul_rn(s.x, w.x), __dmul_rn(s.y, w.y)));
      im = __dadd_rn(im, __dadd_rn(__dmul_rn(s.x, w.y), __dmul_rn(s.y, w.x)));
      j += k;  // k < n
      if (j >= v.n) j -= v.n;
    }
    if (v.inverse) {
      re = __ddiv_rn(re, static_cast<double>(v.n));
      im = __ddiv_rn(im, static_cast<double>(v.n));
    }
    T* out = v.y + ((line * v.m + k) * v.inner + i) * v.outComp;
    out[0] = convertTo<T>(re);
    if (v.outComp == 2) out[1] = convertTo<T>(im);
  }
}

template <typename T>
cudaError_t launchDftTyped(const DftArgs& a, cudaStream_t s) {
  const int64_t total = a.batch * a.frames * a.m * a.inner;
  if (total == 0) return cudaSuccess;
  DftView<T> v{static_cast<const T*>(a.x), static_cast<const T*>(a.window), static_cast<T*>(a.y), a.batch, a.frames,
               a.inner, a.len, a.n, a.m, a.strideB, a.strideF, a.strideI, a.strideT, a.comp, a.outComp, a.inverse,
               a.irfft};
  // The table costs each block n sincos: enough blocks to fill the device, no more.
  const int64_t cap = static_cast<int64_t>(a.smCount > 0 ? a.smCount : 132) * 8;
  const unsigned grid = static_cast<unsigned>(std::max<int64_t>(1, std::min((total + kBlock - 1) / kBlock, cap)));
  if (a.n <= kTableMax) {
    dftKernel<T, true><<<grid, kBlock, static_cast<size_t>(a.n) * sizeof(double2), s>>>(v);
  } else {
    dftKernel<T, false><<<grid, kBlock, 0, s>>>(v);
  }
  return cudaGetLastError();
}

}  // namespace

bool signalSupportsType(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16 || t == DType::kFloat64;
}

cudaError_t launchDft(const DftArgs& a, cudaStream_t s) {
  if (a.n < 1 || a.m < 0 || a.len < 0 || a.frames < 1 || a.inner < 0 || a.batch < 0 || (a.comp != 1 && a.comp != 2) ||
      (a.outComp != 1 && a.outComp != 2) || (!a.irfft && a.m > a.n) || (a.irfft && a.m != a.n))
    return cudaErrorInvalidValue;
  cudaError_t err = cudaErrorInvalidValue;
  dispatchFloat(a.dtype, [&](auto tag) { err = launchDftTyped<typename decltype(tag)::type>(a, s); });
  return err;
}

}  // namespace kiln::cuda::signal
