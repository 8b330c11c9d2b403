// GridSample, RoiAlign and Col2Im on the GPU, mirroring the CPU reference (cpu/kernels/
// misc_vision.cc) operation for operation: coordinates and interpolation weights in double with
// the reference's float roundings, the same tap order and accumulation order. Products and sums
// use explicitly rounded operations (__dmul_rn, __fadd_rn, ...) so that nvcc cannot contract them
// into FMAs the host code does not use; results therefore match the CPU bit for bit in nearly
// every case. No atomics: every output element is written by one thread.
#include <cstdint>
#include <type_traits>

#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/exact_math.cuh"
#include "backends/cuda/kernels/vision_launch.h"

namespace kiln::cuda::vision {

namespace {

using exact::add;
using exact::dvd;
using exact::mul;
using exact::sub;

// std::max / std::clamp semantics (NaN handling included), which fmax/fmin do not share.
__device__ __forceinline__ double stdMax(double a, double b) { return a < b ? b : a; }

// Element value as the CPU reads it: 16-bit floats through float.
template <typename T>
__device__ __forceinline__ double toDouble(T v) {
  return static_cast<double>(convertTo<float>(v));
}
template <>
__device__ __forceinline__ double toDouble<double>(double v) {
  return v;
}

// ---- GridSample ---------------------------------------------------------------------------------

template <GridMode M>
constexpr int tapsOf() {
  return M == GridMode::kNearest ? 1 : (M == GridMode::kLinear ? 2 : 4);
}

// reflect() of the reference: reflects x into [lo, hi] by its nearest border until inside.
__device__ double reflect(double x, double lo, double hi) {
  const double rng = sub(hi, lo);
  if (!(rng > 0)) return lo;
  if (x < lo) {
    const double dx = sub(lo, x);
    const double n = floor(dvd(dx, rng)), r = sub(dx, mul(n, rng));
    return fmod(n, 2.0) == 0 ? add(lo, r) : sub(hi, r);
  }
  if (x > hi) {
    const double dx = sub(x, hi);
    const double n = floor(dvd(dx, rng)), r = sub(dx, mul(n, rng));
    return fmod(n, 2.0) == 0 ? sub(hi, r) : add(lo, r);
  }
  return x;
}

// Grid component i as the reference reads it: converted to float, then widened.
__device__ __forceinline__ double gridValue(const void* g, VisionType t, int64_t i) {
  switch (t) {
    case VisionType::kF32: return static_cast<const float*>(g)[i];
    case VisionType::kF16: return __half2float(static_cast<const __half*>(g)[i]);
    case VisionType::kBF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(g)[i]);
    default: return static_cast<float>(static_cast<const double*>(g)[i]);
  }
}

// Bicubic coefficients (A = -0.75) of the four taps around fraction t (cubicCoeffs()).
__device__ void cubicCoeffs(double t, double c[4]) {
  const double a = -0.75, a5 = 5 * a, a8 = 8 * a, a4 = 4 * a, a2 = a + 2, a3 = a + 3;
  t = fabs(t);
  const double t1 = add(t, 1), t2 = sub(1, t), t3 = sub(2, t);
  c[0] = sub(mul(add(mul(sub(mul(a, t1), a5), t1), a8), t1), a4);
  c[1] = add(mul(mul(sub(mul(a2, t), a3), t), t), 1);
  c[2] = add(mul(mul(sub(mul(a2, t2), a3), t2), t2), 1);
  c[3] = sub(mul(add(mul(sub(mul(a, t3), a5), t3), a8), t3), a4);
}

// The taps of one spatial axis: source index after the padding mode (-1: reads zero padding) and
// weight (rounded to float, as the reference stores it).
template <int NT>
__device__ void axisTaps(double gv, int64_t dim, GridPad pad, bool align, int64_t idx[NT], float w[NT]) {
  const double lo = align ? 0.0 : -0.5;
  const double hi = align ? static_cast<double>(dim) - 1.0 : static_cast<double>(dim) - 0.5;
  double c = align ? mul(dvd(add(gv, 1), 2.0), static_cast<double>(dim - 1))
                   : dvd(sub(mul(add(gv, 1), static_cast<double>(dim)), 1), 2.0);
  c = static_cast<float>(c);  // the reference keeps coordinates in float32
  if (NT == 1) c = rint(c);   // nearbyint: round half to even
  if (c < lo || c > hi) {
    if (pad == GridPad::kBorder) {
      const double top = static_cast<double>(dim - 1);
      c = c < 0.0 ? 0.0 : (top < c ? top : c);
    } else if (pad == GridPad::kReflection) {
      c = static_cast<float>(reflect(c, lo, hi));
    }
  }
  if constexpr (NT == 1) {
    idx[0] = static_cast<int64_t>(c);
    w[0] = 1.0f;
  } else {
    const double f = floor(c);
    const int64_t i0 = static_cast<int64_t>(f);
    const double t = static_cast<float>(sub(c, f));
    if constexpr (NT == 2) {
      idx[0] = i0, idx[1] = i0 + 1;
      w[0] = static_cast<float>(sub(1.0, t)), w[1] = static_cast<float>(t);
    } else {
      double cc[4];
      cubicCoeffs(t, cc);
#pragma unroll
      for (int k = 0; k < 4; ++k) idx[k] = i0 - 1 + k, w[k] = static_cast<float>(cc[k]);
    }
  }
  // mapIndex(): in range as is; zeros reads nothing; border clamps; reflection reflects the index.
#pragma unroll
  for (int k = 0; k < NT; ++k) {
    const int64_t i = idx[k];
    if (i >= 0 && i < dim) continue;
    if (pad == GridPad::kZeros) {
      idx[k] = -1;
    } else {
      int64_t m = pad == GridPad::kBorder ? i : static_cast<int64_t>(reflect(static_cast<double>(i), lo, hi));
      idx[k] = m < 0 ? 0 : (m > dim - 1 ? dim - 1 : m);
    }
  }
}

// One thread per (n, channel group, output point): the taps are computed once and reused for the
// group's channels; consecutive threads take consecutive points (coalesced grid reads and writes).
template <typename T, int R, GridMode M>
__global__ void gridSampleKernel(GridSampleArgs a, int64_t groups, int64_t perGroup) {
  using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
  constexpr int NT = tapsOf<M>();
  static_assert(R >= 1 && R <= kMaxGridSampleRank);
  constexpr int kCombos = R == 1 ? NT : (R == 2 ? NT * NT : NT * NT * NT);  // NT^R tap combinations
  const T* __restrict__ x = static_cast<const T*>(a.x);
  T* __restrict__ y = static_cast<T*>(a.y);
  int64_t strides[R];
  int64_t S = 1;
#pragma unroll
  for (int i = R - 1; i >= 0; --i) strides[i] = S, S *= a.inDims[i];
  const int64_t P = a.points;
  KILN_GRID_STRIDE_LOOP(t, a.batch * groups * P) {
    const int64_t p = t % P, rest = t / P;
    const int64_t g = rest % groups, n = rest / groups;
    int64_t idx[R][NT];
    float w[R][NT];
#pragma unroll
    for (int i = 0; i < R; ++i)
      axisTaps<NT>(gridValue(a.grid, a.gridType, (n * P + p) * R + (R - 1 - i)), a.inDims[i], a.pad, a.alignCorners,
                   idx[i], w[i]);
    const int64_t c0 = g * perGroup;
    const int64_t c1 = c0 + perGroup < a.channels ? c0 + perGroup : a.channels;
    for (int64_t c = c0; c < c1; ++c) {
      const T* src = x + (n * a.channels + c) * S;
      C acc = 0;
      // The reference's tap product order: axis 0's taps vary fastest; the weight is the product
      // over axes 0..R-1 (starting from 1); taps reading zero padding are left out.
#pragma unroll
      for (int j = 0; j < kCombos; ++j) {
        int rem = j;
        bool valid = true;
        int64_t off = 0;
        C wt = C(1);
#pragma unroll
        for (int i = 0; i < R; ++i) {
          const int k = rem % NT;
          rem /= NT;
          valid = valid && idx[i][k] >= 0;
          off += idx[i][k] * strides[i];
          wt = mul(wt, static_cast<C>(w[i][k]));
        }
        if (valid) acc = add(acc, mul(wt, convertTo<C>(src[off])));
      }
      y[(n * a.channels + c) * P + p] = convertTo<T>(acc);
    }
  }
}

template <typename T, int R, GridMode M>
cudaError_t runGridSample(const GridSampleArgs& a, int smCount, cudaStream_t s) {
  // Enough threads to fill the device: split the channels into groups only when the points alone
  // do not.
  const int64_t work = a.batch * a.points;
  const int64_t target = static_cast<int64_t>(smCount > 0 ? smCount : 132) * 2048;
  int64_t groups = (target + work - 1) / work;
  if (groups > a.channels) groups = a.channels;
  if (groups < 1) groups = 1;
  const int64_t perGroup = (a.channels + groups - 1) / groups;
  groups = (a.channels + perGroup - 1) / perGroup;
  gridSampleKernel<T, R, M><<<smGrid(work * groups, smCount), kThreads, 0, s>>>(a, groups, perGroup);
  return cudaGetLastError();
}

template <typename T, int R>
cudaError_t gridSampleMode(const GridSampleArgs& a, int smCount, cudaStream_t s) {
  switch (a.mode) {
    case GridMode::kNearest: return runGridSample<T, R, GridMode::kNearest>(a, smCount, s);
    case GridMode::kLinear: return runGridSample<T, R, GridMode::kLinear>(a, smCount, s);
    case GridMode::kCubic: return runGridSample<T, R, GridMode::kCubic>(a, smCount, s);
  }
  return cudaErrorInvalidValue;
}

template <typename T>
cudaError_t gridSampleRank(const GridSampleArgs& a, int smCount, cudaStream_t s) {
  switch (a.rank) {
    case 1: return gridSampleMode<T, 1>(a, smCount, s);
    case 2: return gridSampleMode<T, 2>(a, smCount, s);
    case 3: return gridSampleMode<T, 3>(a, smCount, s);
    default: return cudaErrorInvalidValue;
  }
}

// ---- RoiAlign -----------------------------------------------------------------------------------

// One bilinear sample of the reference: four positions in the channel plane and their weights.
// Samples outside the map are all zero (position 0, weight 0), read like any other.
struct Sample {
  int64_t pos[4];
  double w[4];
};

template <typename T>
struct RoiAccum {
  const T* src;
  bool maxMode;
  double v = 0;
  bool first = true;
  __device__ void take(const Sample& s) {
    if (maxMode) {
      double m = mul(s.w[0], toDouble(src[s.pos[0]]));
#pragma unroll
      for (int j = 1; j < 4; ++j) m = stdMax(m, mul(s.w[j], toDouble(src[s.pos[j]])));
      v = first ? m : stdMax(v, m);
      first = false;
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) v = add(v, mul(s.w[j], toDouble(src[s.pos[j]])));
    }
  }
};

// One thread per output element (roi, c, ph, pw); the ROI geometry is recomputed per thread with
// the reference's double expressions.
template <typename T, typename I>
__global__ void roiAlignKernel(RoiAlignArgs a) {
  const T* __restrict__ x = static_cast<const T*>(a.x);
  const T* __restrict__ rois = static_cast<const T*>(a.rois);
  const I* __restrict__ bidx = static_cast<const I*>(a.batchIndices);
  T* __restrict__ y = static_cast<T*>(a.y);
  const int64_t H = a.height, W = a.width, oh = a.outH, ow = a.outW;
  KILN_GRID_STRIDE_LOOP(i, a.numRois * a.channels * oh * ow) {
    const int64_t pw = i % ow, ph = (i / ow) % oh, rest = i / (ow * oh);
    const int64_t c = rest % a.channels, n = rest / a.channels;
    const int64_t b = static_cast<int64_t>(bidx[n]);
    if (b < 0 || b >= a.batch) {
      y[i] = convertTo<T>(0.0f);
      continue;
    }
    const double off = a.halfPixel ? 0.5 : 0.0;
    const T* r = rois + n * 4;
    const double x0 = sub(mul(toDouble(r[0]), a.spatialScale), off), y0 = sub(mul(toDouble(r[1]), a.spatialScale), off);
    const double x1 = sub(mul(toDouble(r[2]), a.spatialScale), off), y1 = sub(mul(toDouble(r[3]), a.spatialScale), off);
    double rw = sub(x1, x0), rh = sub(y1, y0);
    if (!a.halfPixel) {
      rw = stdMax(rw, 1.0);
      rh = stdMax(rh, 1.0);
    }
    const double bh = dvd(rh, static_cast<double>(oh)), bw = dvd(rw, static_cast<double>(ow));
    const int64_t gh = a.samplingRatio > 0 ? a.samplingRatio : static_cast<int64_t>(ceil(bh));
    const int64_t gw = a.samplingRatio > 0 ? a.samplingRatio : static_cast<int64_t>(ceil(bw));
    const double count = stdMax(static_cast<double>(gh * gw), 1.0);
    RoiAccum<T> acc{x + (b * a.channels + c) * H * W, a.maxMode};
    const Sample zero{{0, 0, 0, 0}, {0, 0, 0, 0}};
    if (gh > 0 && gw > 0) {
      for (int64_t iy = 0; iy < gh; ++iy) {
        const double yy = add(add(y0, mul(static_cast<double>(ph), bh)),
                              dvd(mul(add(static_cast<double>(iy), 0.5), bh), static_cast<double>(gh)));
        for (int64_t ix = 0; ix < gw; ++ix) {
          double xx = add(add(x0, mul(static_cast<double>(pw), bw)),
                          dvd(mul(add(static_cast<double>(ix), 0.5), bw), static_cast<double>(gw)));
          double yv = yy;
          if (yv < -1.0 || yv > static_cast<double>(H) || xx < -1.0 || xx > static_cast<double>(W)) {
            acc.take(zero);
            continue;
          }
          yv = stdMax(yv, 0.0);
          xx = stdMax(xx, 0.0);
          int64_t yl = static_cast<int64_t>(yv), xl = static_cast<int64_t>(xx), yh, xh;
          if (yl >= H - 1) yh = yl = H - 1, yv = static_cast<double>(yl);
          else yh = yl + 1;
          if (xl >= W - 1) xh = xl = W - 1, xx = static_cast<double>(xl);
          else xh = xl + 1;
          const double ly = sub(yv, static_cast<double>(yl)), lx = sub(xx, static_cast<double>(xl));
          const double hy = sub(1.0, ly), hx = sub(1.0, lx);
          acc.take(Sample{{yl * W + xl, yl * W + xh, yh * W + xl, yh * W + xh},
                          {mul(hy, hx), mul(hy, lx), mul(ly, hx), mul(ly, lx)}});
        }
      }
    } else if (gh * gw > 0) {
      // Both counts negative (a reversed half_pixel ROI): the reference sizes its sample list by
      // the positive product but fills none, so it reads gh * gw zero samples.
      for (int64_t q = 0; q < gh * gw; ++q) acc.take(zero);
    }
    y[i] = convertTo<T>(a.maxMode ? acc.v : dvd(acc.v, count));
  }
}

template <typename T>
cudaError_t runRoiAlign(const RoiAlignArgs& a, int smCount, cudaStream_t s) {
  const unsigned blocks = smGrid(a.numRois * a.channels * a.outH * a.outW, smCount);
  if (a.indexSize == 8) roiAlignKernel<T, int64_t><<<blocks, kThreads, 0, s>>>(a);
  else if (a.indexSize == 4) roiAlignKernel<T, int32_t><<<blocks, kThreads, 0, s>>>(a);
  else return cudaErrorInvalidValue;
  return cudaGetLastError();
}

// ---- Col2Im -------------------------------------------------------------------------------------

// A gather: one thread per output element sums, in the reference's order (kernel offset k
// ascending, row-major), the one column entry of each kernel offset that lands on it. Axes are
// walked depth-first so that an axis with no matching offset prunes everything inside it.
template <typename T>
__global__ void col2imKernel(Col2ImArgs a) {
  using C = typename ComputeTypeOf<T>::type;
  const T* __restrict__ x = static_cast<const T*>(a.x);
  T* __restrict__ y = static_cast<T*>(a.y);
  const int r = a.rank;
  KILN_GRID_STRIDE_LOOP(i, a.planes * a.imageSize) {
    const int64_t plane = i / a.imageSize;
    int64_t pos[kMaxCol2ImRank];
    int64_t rem = i - plane * a.imageSize;
    for (int d = r - 1; d >= 0; --d) pos[d] = rem % a.img[d], rem /= a.img[d];
    const T* src = x + plane * a.kernelSize * a.numBlocks;
    C acc = 0;
    int64_t k[kMaxCol2ImRank], kAcc[kMaxCol2ImRank + 1], lAcc[kMaxCol2ImRank + 1];
    kAcc[0] = lAcc[0] = 0;
    int d = 0;
    k[0] = 0;
    while (true) {
      if (k[d] >= a.block[d]) {
        if (d == 0) break;
        ++k[--d];
        continue;
      }
      const int64_t q = pos[d] + a.padBegin[d] - k[d] * a.dil[d];  // block index * stride
      if (q < 0) {  // q only decreases with k: no later offset of this axis matches
        k[d] = a.block[d];
        continue;
      }
      if (q % a.stride[d] != 0 || q / a.stride[d] >= a.blocks[d]) {
        ++k[d];
        continue;
      }
      kAcc[d + 1] = kAcc[d] * a.block[d] + k[d];
      lAcc[d + 1] = lAcc[d] * a.blocks[d] + q / a.stride[d];
      if (d + 1 == r) {
        acc = add(acc, convertTo<C>(src[kAcc[r] * a.numBlocks + lAcc[r]]));
        ++k[d];
      } else {
        k[++d] = 0;
      }
    }
    y[i] = convertTo<T>(acc);
  }
}

template <typename T>
cudaError_t runCol2Im(const Col2ImArgs& a, int smCount, cudaStream_t s) {
  col2imKernel<T><<<smGrid(a.planes * a.imageSize, smCount), kThreads, 0, s>>>(a);
  return cudaGetLastError();
}

template <template <typename> class Run, typename A>
cudaError_t byType(VisionType t, const A& a, int smCount, cudaStream_t s) {
  switch (t) {
    case VisionType::kF32: return Run<float>::run(a, smCount, s);
    case VisionType::kF16: return Run<__half>::run(a, smCount, s);
    case VisionType::kBF16: return Run<__nv_bfloat16>::run(a, smCount, s);
    case VisionType::kF64: return Run<double>::run(a, smCount, s);
  }
  return cudaErrorInvalidValue;
}

template <typename T> struct GridSampleRun { static cudaError_t run(const GridSampleArgs& a, int sm, cudaStream_t s) { return gridSampleRank<T>(a, sm, s); } };
template <typename T> struct RoiAlignRun { static cudaError_t run(const RoiAlignArgs& a, int sm, cudaStream_t s) { return runRoiAlign<T>(a, sm, s); } };
template <typename T> struct Col2ImRun { static cudaError_t run(const Col2ImArgs& a, int sm, cudaStream_t s) { return runCol2Im<T>(a, sm, s); } };

}  // namespace

cudaError_t launchGridSample(const GridSampleArgs& a, int smCount, cudaStream_t s) {
  if (a.batch * a.channels * a.points == 0) return cudaSuccess;
  if (a.rank < 1 || a.rank > kMaxGridSampleRank) return cudaErrorInvalidValue;
  return byType<GridSampleRun>(a.xType, a, smCount, s);
}

cudaError_t launchRoiAlign(const RoiAlignArgs& a, int smCount, cudaStream_t s) {
  if (a.numRois * a.channels * a.outH * a.outW == 0) return cudaSuccess;
  return byType<RoiAlignRun>(a.type, a, smCount, s);
}

cudaError_t launchCol2Im(const Col2ImArgs& a, int smCount, cudaStream_t s) {
  if (a.planes * a.imageSize == 0) return cudaSuccess;
  if (a.rank < 1 || a.rank > kMaxCol2ImRank) return cudaErrorInvalidValue;
  return byType<Col2ImRun>(a.type, a, smCount, s);
}

}  // namespace kiln::cuda::vision
