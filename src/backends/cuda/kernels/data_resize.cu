// Resize / Upsample on the GPU: nearest (every coordinate transform and nearest mode,
// exclude_outside, tf_crop_and_resize extrapolation), linear and cubic, with or without antialias.
//
// Each output element computes the source coordinate of every resized axis itself, with the same
// double-precision expressions, in the same order, as the CPU reference (layout_resize.cc), so
// nearest picks identical samples. Linear/cubic accumulate in double in the reference's separable
// order (the first processed axis innermost), using explicitly rounded double operations
// (__dmul_rn/__dadd_rn) so that nvcc cannot contract them into FMAs that the host code does not
// use. Results therefore match the CPU reference to the last bit in nearly every case.
#include <cstdint>
#include <cstring>
#include <limits>

#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/exact_math.cuh"
#include "backends/cuda/kernels/data_launch.h"

namespace kiln::cuda::data {

namespace {

using exact::add;
using exact::dvd;
using exact::mul;
using exact::sub;

// Input coordinate of output index yi on axis a (planAxis in layout_resize.cc); sets *extrap for
// tf_crop_and_resize coordinates outside the input (and non-finite coordinates).
__device__ double sourceCoord(const ResizeArgs& r, int a, int64_t yi, bool* extrap) {
  const double y = static_cast<double>(yi);
  const double inW = static_cast<double>(r.inDims[a]);
  const double scale = r.scale[a];
  const double outW = mul(scale, inW);
  double x = 0;
  *extrap = false;
  switch (r.coord) {
    case ResizeCoord::kAlignCorners: x = outW == 1 ? 0.0 : __ddiv_rn(mul(y, sub(inW, 1)), sub(outW, 1)); break;
    case ResizeCoord::kAsymmetric: x = __ddiv_rn(y, scale); break;
    case ResizeCoord::kTfCrop: {
      const double width = r.roiWidth[a];
      x = outW == 1 ? __ddiv_rn(mul(width, sub(inW, 1)), 2.0) : __ddiv_rn(mul(mul(y, width), sub(inW, 1)), sub(outW, 1));
      x = add(x, r.roiStart[a]);
      *extrap = x < 0 || x > inW - 1;
      break;
    }
    case ResizeCoord::kPytorchHalfPixel: x = outW == 1 ? -0.5 : sub(__ddiv_rn(add(y, 0.5), scale), 0.5); break;
    case ResizeCoord::kHalfPixel: x = sub(__ddiv_rn(add(y, 0.5), scale), 0.5); break;
    case ResizeCoord::kTfHalfPixelForNN: x = __ddiv_rn(add(y, 0.5), scale); break;
    case ResizeCoord::kHalfPixelSymmetric: x = sub(add(r.symOffset[a], __ddiv_rn(add(y, 0.5), scale)), 0.5); break;
  }
  if (!isfinite(x)) {
    *extrap = true;
    x = 0;
  }
  return x;
}

// The first (unclamped) index of the n samples nearest to x, ties to the smaller index (computed
// as the reference does, on the coordinate shifted by the edge padding); with exclude_outside the
// weights of samples outside the input drop out and the rest are renormalized.
__device__ int64_t windowStart(const ResizeArgs& r, int a, double x, int n, double* w) {
  const int half = n / 2;
  const double xp = add(x, static_cast<double>(half));
  const double pf = floor(xp);
  const int64_t start = static_cast<int64_t>(pf) + (xp == pf ? -half : -half + 1) - half;
  if (r.excludeOutside) {
    double sum = 0;
    for (int k = 0; k < n; ++k) {
      const int64_t idx = start + k;
      if (idx < 0 || idx >= r.inDims[a]) w[k] = 0;
      sum = add(sum, w[k]);
    }
    if (sum == 0) sum = 1;
    for (int k = 0; k < n; ++k) w[k] = __ddiv_rn(w[k], sum);
  }
  return start;
}

// Window of `Taps` samples around x: first (unclamped) index and weights (coefficients() and the
// exclude_outside renormalization of layout_resize.cc).
template <int Taps>
__device__ int64_t window(const ResizeArgs& r, int a, double x, double* w) {
  const double xf = floor(x);
  const double ratio = x == xf ? 1.0 : sub(x, xf);
  if (r.mode == ResizeMode::kNearest) {
    bool right;
    if (ratio == 1.0) right = true;
    else if (r.nearest == ResizeNearest::kRoundPreferFloor) right = ratio > 0.5;
    else if (r.nearest == ResizeNearest::kRoundPreferCeil) right = ratio >= 0.5;
    else right = r.nearest == ResizeNearest::kCeil;
    w[0] = right ? 0.0 : 1.0;
    w[1] = right ? 1.0 : 0.0;
  } else if (r.mode == ResizeMode::kLinear) {
    w[0] = sub(1, ratio);
    w[1] = ratio;
  } else if constexpr (Taps == 4) {
    const double A = r.cubicA;
    const double r1 = add(ratio, 1), q = sub(1, ratio), q1 = add(q, 1);
    const double A5 = mul(5, A), A8 = mul(8, A), A4 = mul(4, A);
    w[0] = sub(mul(add(mul(sub(mul(A, r1), A5), r1), A8), r1), A4);
    w[1] = add(mul(mul(sub(mul(add(A, 2), ratio), add(A, 3)), ratio), ratio), 1);
    w[2] = add(mul(mul(sub(mul(add(A, 2), q), add(A, 3)), q), q), 1);
    w[3] = sub(mul(add(mul(sub(mul(A, q1), A5), q1), A8), q1), A4);
  }
  return windowStart(r, a, x, Taps, w);
}

template <typename T>
__device__ __forceinline__ double loadD(const T& v) {
  if constexpr (IsHalfLike<T>::value) return static_cast<double>(convertTo<float>(v));
  else return static_cast<double>(v);
}

// saturateTo/storeValue of layout_resize.cc: integers round half to even and clamp; floats clamp
// to the finite range (16-bit floats through float, like the host conversion).
template <typename T>
__device__ __forceinline__ T storeD(double v) {
  if constexpr (std::is_same_v<T, double>) {
    return v > 1.7976931348623157e308 ? 1.7976931348623157e308 : (v < -1.7976931348623157e308 ? -1.7976931348623157e308 : v);
  } else if constexpr (std::is_same_v<T, float>) {
    const double hi = 3.4028234663852886e38;
    return static_cast<float>(v > hi ? hi : (v < -hi ? -hi : v));
  } else if constexpr (std::is_same_v<T, __half>) {
    const double hi = 65504.0;
    return __float2half_rn(static_cast<float>(v > hi ? hi : (v < -hi ? -hi : v)));
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const double hi = 3.3895313892515355e38;
    return __float2bfloat16_rn(static_cast<float>(v > hi ? hi : (v < -hi ? -hi : v)));
  } else {
    if (isnan(v)) return T(0);
    const double rr = rint(v);
    const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
    const double hi = static_cast<double>(std::numeric_limits<T>::max());
    if (rr <= lo) return std::numeric_limits<T>::lowest();
    if (rr >= hi) return std::numeric_limits<T>::max();
    return static_cast<T>(rr);
  }
}

// Nearest: a gather through per-axis source indices; a removed sample takes a fill, and the
// highest axis with a fill decides which (axisMapGather in indexing_util.h).
template <typename W>
__global__ void resizeNearestKernel(const W* __restrict__ x, W* __restrict__ y, ResizeArgs r, W extrapFill) {
  KILN_GRID_STRIDE_LOOP(i, r.n) {
    int64_t rem = i, off = 0;
    int fill = 0;  // 0: none, 1: extrapolation value, 2: zero
    for (int a = r.rank - 1; a >= 0; --a) {
      const int64_t q = rem / r.outDims[a];
      const int64_t c = rem - q * r.outDims[a];
      rem = q;
      if (!r.active[a]) {
        off += c * r.inStrides[a];
        continue;
      }
      bool extrap;
      const double xc = sourceCoord(r, a, c, &extrap);
      double w[2];
      const int64_t start = window<2>(r, a, xc, w);
      int64_t idx = start + (w[1] > w[0] ? 1 : 0);
      if (extrap) {
        if (fill == 0) fill = 1;
      } else if (w[0] == 0 && w[1] == 0) {
        if (fill == 0) fill = 2;
      } else {
        idx = idx < 0 ? 0 : (idx >= r.inDims[a] ? r.inDims[a] - 1 : idx);
        off += idx * r.inStrides[a];
      }
    }
    y[i] = fill == 0 ? x[off] : (fill == 1 ? extrapFill : W{});
  }
}

// Per active axis (processing order): clamped sample offsets and weights, or an extrapolated flag.
template <int Taps>
struct AxisWin {
  int64_t off[Taps];
  double w[Taps];
  bool extrap;
};

// sum_k w_j[k] * S_{j-1}(off + off_j[k]), the first processed axis (j = 0) innermost, like the
// reference's passes; an extrapolated axis contributes the extrapolation value at its stage.
template <typename T, int Taps, int J>
__device__ __forceinline__ double sepSum(const T* __restrict__ x, const AxisWin<Taps>* win, int64_t off, double extrapolation) {
  if constexpr (J < 0) {
    return loadD(x[off]);
  } else {
    if (win[J].extrap) return extrapolation;
    double acc = 0;
#pragma unroll
    for (int k = 0; k < Taps; ++k)
      acc = add(acc, mul(win[J].w[k], sepSum<T, Taps, J - 1>(x, win, off + win[J].off[k], extrapolation)));
    return acc;
  }
}

// Coordinates of output element i on every axis; returns the input offset of the axes that are
// not resized (they map output index c to input index c).
__device__ __forceinline__ int64_t outputCoords(const ResizeArgs& r, int64_t i, int64_t* coord) {
  int64_t rem = i, off = 0;
  for (int a = r.rank - 1; a >= 0; --a) {
    const int64_t q = rem / r.outDims[a];
    coord[a] = rem - q * r.outDims[a];
    rem = q;
    if (!r.active[a]) off += coord[a] * r.inStrides[a];
  }
  return off;
}

template <typename T, int Taps, int M>
__global__ void resizeInterpKernel(const T* __restrict__ x, T* __restrict__ y, ResizeArgs r) {
  KILN_GRID_STRIDE_LOOP(i, r.n) {
    int64_t coord[kMaxResizeRank];
    const int64_t off = outputCoords(r, i, coord);
    AxisWin<Taps> win[M];
#pragma unroll
    for (int j = 0; j < M; ++j) {
      const int a = r.order[j];
      const double xc = sourceCoord(r, a, coord[a], &win[j].extrap);
      const int64_t start = window<Taps>(r, a, xc, win[j].w);
      const int64_t last = r.inDims[a] - 1;
#pragma unroll
      for (int k = 0; k < Taps; ++k) {
        int64_t idx = start + k;
        idx = idx < 0 ? 0 : (idx > last ? last : idx);
        win[j].off[k] = idx * r.inStrides[a];
      }
    }
    y[i] = storeD<T>(sepSum<T, Taps, M - 1>(x, win, off, r.extrapolation));
  }
}

// Antialiased linear/cubic (downscaling): per active axis a window of r.taps[a] samples whose
// weights are the filter stretched by 1/scale (coefficients() of layout_resize.cc), computed per
// output element in the reference's double expressions, then the same separable sum.
__device__ double cubicKernelD(double x, double A) {
  x = fabs(x);
  const double x2 = mul(x, x), x3 = mul(x2, x);
  if (x <= 1) return add(sub(mul(add(A, 2), x3), mul(add(A, 3), x2)), 1);
  if (x < 2) return sub(add(sub(mul(A, x3), mul(mul(5, A), x2)), mul(mul(8, A), x)), mul(4, A));
  return 0.0;
}

__device__ int64_t antialiasWindow(const ResizeArgs& r, int a, double x, double* w) {
  const int n = r.taps[a];
  const double xf = floor(x);
  const double ratio = x == xf ? 1.0 : sub(x, xf);
  const double s = r.scale[a] < 1.0 ? r.scale[a] : 1.0;
  const int64_t first = 1 - n / 2;
  double sum = 0;
  for (int k = 0; k < n; ++k) {
    const double arg = sub(static_cast<double>(first + k), ratio);
    if (r.mode == ResizeMode::kLinear) {
      const double v = sub(1, fabs(mul(arg, s)));
      w[k] = v < 0 ? 0.0 : (v > 1 ? 1.0 : v);
    } else {
      w[k] = cubicKernelD(mul(s, arg), r.cubicA);
    }
    sum = add(sum, w[k]);
  }
  for (int k = 0; k < n; ++k) w[k] = __ddiv_rn(w[k], sum);
  return windowStart(r, a, x, n, w);
}

struct AxisWinAA {
  int64_t off[kMaxResizeTaps];
  double w[kMaxResizeTaps];
  int n;
  bool extrap;
};

template <typename T, int J>
__device__ double sepSumAA(const T* __restrict__ x, const AxisWinAA* win, int64_t off, double extrapolation) {
  if constexpr (J < 0) {
    return loadD(x[off]);
  } else {
    if (win[J].extrap) return extrapolation;
    double acc = 0;
    for (int k = 0; k < win[J].n; ++k)
      acc = add(acc, mul(win[J].w[k], sepSumAA<T, J - 1>(x, win, off + win[J].off[k], extrapolation)));
    return acc;
  }
}

template <typename T, int M>
__global__ void resizeAntialiasKernel(const T* __restrict__ x, T* __restrict__ y, ResizeArgs r) {
  KILN_GRID_STRIDE_LOOP(i, r.n) {
    int64_t coord[kMaxResizeRank];
    const int64_t off = outputCoords(r, i, coord);
    AxisWinAA win[M];
    for (int j = 0; j < M; ++j) {
      const int a = r.order[j];
      const double xc = sourceCoord(r, a, coord[a], &win[j].extrap);
      const int64_t start = antialiasWindow(r, a, xc, win[j].w);
      win[j].n = r.taps[a];
      const int64_t last = r.inDims[a] - 1;
      for (int k = 0; k < win[j].n; ++k) {
        int64_t idx = start + k;
        idx = idx < 0 ? 0 : (idx > last ? last : idx);
        win[j].off[k] = idx * r.inStrides[a];
      }
    }
    y[i] = storeD<T>(sepSumAA<T, M - 1>(x, win, off, r.extrapolation));
  }
}

template <int Bytes> struct WordOf;
template <> struct WordOf<1> { using type = uint8_t; };
template <> struct WordOf<2> { using type = uint16_t; };
template <> struct WordOf<4> { using type = uint32_t; };
template <> struct WordOf<8> { using type = uint64_t; };

template <typename W>
cudaError_t runNearest(const ResizeArgs& r, int smCount, cudaStream_t s) {
  W fill;
  memcpy(&fill, &r.extrapolationBits, sizeof(W));
  resizeNearestKernel<W><<<smGrid(r.n, smCount), kThreads, 0, s>>>(static_cast<const W*>(r.x), static_cast<W*>(r.y), r, fill);
  return cudaGetLastError();
}

template <typename T, int Taps>
cudaError_t runInterp(const ResizeArgs& r, int smCount, cudaStream_t s) {
  const unsigned g = smGrid(r.n, smCount);
  const T* x = static_cast<const T*>(r.x);
  T* y = static_cast<T*>(r.y);
  switch (r.numActive) {
    case 1: resizeInterpKernel<T, Taps, 1><<<g, kThreads, 0, s>>>(x, y, r); break;
    case 2: resizeInterpKernel<T, Taps, 2><<<g, kThreads, 0, s>>>(x, y, r); break;
    case 3: resizeInterpKernel<T, Taps, 3><<<g, kThreads, 0, s>>>(x, y, r); break;
    case 4:
      if constexpr (Taps == 2) {
        resizeInterpKernel<T, Taps, 4><<<g, kThreads, 0, s>>>(x, y, r);
        break;
      }
      return cudaErrorInvalidValue;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t runAntialias(const ResizeArgs& r, int smCount, cudaStream_t s) {
  const unsigned g = smGrid(r.n, smCount);
  const T* x = static_cast<const T*>(r.x);
  T* y = static_cast<T*>(r.y);
  switch (r.numActive) {
    case 1: resizeAntialiasKernel<T, 1><<<g, kThreads, 0, s>>>(x, y, r); break;
    case 2: resizeAntialiasKernel<T, 2><<<g, kThreads, 0, s>>>(x, y, r); break;
    case 3: resizeAntialiasKernel<T, 3><<<g, kThreads, 0, s>>>(x, y, r); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t runInterpT(const ResizeArgs& r, int smCount, cudaStream_t s) {
  if (r.antialias) return runAntialias<T>(r, smCount, s);
  return r.mode == ResizeMode::kLinear ? runInterp<T, 2>(r, smCount, s) : runInterp<T, 4>(r, smCount, s);
}

}  // namespace

cudaError_t launchResize(const ResizeArgs& r, int smCount, cudaStream_t s) {
  if (r.n == 0) return cudaSuccess;
  if (r.rank < 1 || r.rank > kMaxResizeRank) return cudaErrorInvalidValue;
  if (r.mode == ResizeMode::kNearest) {
    switch (r.elemSize) {
      case 1: return runNearest<uint8_t>(r, smCount, s);
      case 2: return runNearest<uint16_t>(r, smCount, s);
      case 4: return runNearest<uint32_t>(r, smCount, s);
      case 8: return runNearest<uint64_t>(r, smCount, s);
      default: return cudaErrorInvalidValue;
    }
  }
  switch (r.kind) {
    case ElemKind::kF32: return runInterpT<float>(r, smCount, s);
    case ElemKind::kF16: return runInterpT<__half>(r, smCount, s);
    case ElemKind::kBF16: return runInterpT<__nv_bfloat16>(r, smCount, s);
    case ElemKind::kF64: return runInterpT<double>(r, smCount, s);
    case ElemKind::kI8: return runInterpT<int8_t>(r, smCount, s);
    case ElemKind::kU8: return runInterpT<uint8_t>(r, smCount, s);
    case ElemKind::kI16: return runInterpT<int16_t>(r, smCount, s);
    case ElemKind::kU16: return runInterpT<uint16_t>(r, smCount, s);
    case ElemKind::kI32: return runInterpT<int32_t>(r, smCount, s);
    case ElemKind::kU32: return runInterpT<uint32_t>(r, smCount, s);
    case ElemKind::kI64: return runInterpT<int64_t>(r, smCount, s);
    case ElemKind::kU64: return runInterpT<uint64_t>(r, smCount, s);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace kiln::cuda::data
