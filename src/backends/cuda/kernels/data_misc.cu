// Small generator and masking kernels: Trilu, EyeLike, OneHot, Range, ReverseSequence.
// Values that depend on the dtype (EyeLike's one, OneHot's on/off values) arrive as bit
// patterns computed on the host, so these kernels only move words.
#include <cstdint>
#include <cstring>

#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/data_launch.h"

namespace kiln::cuda::data {

namespace {


template <typename F>
cudaError_t byWord(int bytes, F&& f) {
  switch (bytes) {
    case 1: return f(uint8_t{});
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    case 8: return f(uint64_t{});
    default: return cudaErrorInvalidValue;
  }
}

template <typename W>
W bitsAs(uint64_t b) {
  W w;
  memcpy(&w, &b, sizeof(W));
  return w;
}

template <typename W>
__global__ void triluKernel(const W* __restrict__ x, W* __restrict__ y, int64_t total, int64_t rows, int64_t cols,
                           int64_t k, bool upper) {
  KILN_GRID_STRIDE_LOOP(e, total) {
    const int64_t t = e / cols;
    const int64_t j = e - t * cols;
    const int64_t i = t % rows;
    const bool keep = upper ? (j - i >= k) : (j - i <= k);
    y[e] = keep ? x[e] : W{};
  }
}

template <typename W>
__global__ void eyeKernel(W* __restrict__ y, int64_t rows, int64_t cols, int64_t k, W one, W zero) {
  KILN_GRID_STRIDE_LOOP(e, rows * cols) {
    const int64_t i = e / cols;
    const int64_t j = e - i * cols;
    y[e] = j == i + k ? one : zero;
  }
}

// OneHot index conversion (indexing_misc.cc): floats truncate when finite and below 9e18 in
// magnitude, anything else is out of range; negatives count from depth.
template <typename T>
__device__ __forceinline__ int64_t oneHotIndex(T v, int64_t depth) {
  int64_t w;
  if constexpr (IsHalfLike<T>::value || std::is_floating_point_v<T>) {
    using C = typename ComputeTypeOf<T>::type;
    const C f = convertTo<C>(v);
    w = (isfinite(f) && fabs(static_cast<double>(f)) < 9e18) ? static_cast<int64_t>(f) : depth;
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    w = v > static_cast<uint64_t>(INT64_MAX) ? depth : static_cast<int64_t>(v);
  } else {
    w = static_cast<int64_t>(v);
  }
  if (w < 0 && w >= -depth) w += depth;
  return (w >= 0 && w < depth) ? w : -1;
}

template <typename W, typename T>
__global__ void oneHotKernel(const T* __restrict__ idx, W* __restrict__ y, int64_t outer, int64_t depth, int64_t inner,
                             W off, W on) {
  KILN_GRID_STRIDE_LOOP(e, outer * depth * inner) {
    const int64_t t = e / inner;
    const int64_t ii = e - t * inner;
    const int64_t o = t / depth;
    const int64_t d = t - o * depth;
    y[e] = oneHotIndex(idx[o * inner + ii], depth) == d ? on : off;
  }
}

// y[i] = start + i * delta computed in C (float for the 16-bit floats), with explicitly rounded
// float operations so the result matches the host's unfused arithmetic.
template <typename T>
__global__ void rangeKernel(T* __restrict__ y, int64_t n, double startF, double deltaF, int64_t startI, int64_t deltaI) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    if constexpr (IsHalfLike<T>::value || std::is_same_v<T, float>) {
      const float v = __fadd_rn(static_cast<float>(startF), __fmul_rn(static_cast<float>(i), static_cast<float>(deltaF)));
      y[i] = convertTo<T>(v);
    } else if constexpr (std::is_same_v<T, double>) {
      y[i] = __dadd_rn(startF, __dmul_rn(static_cast<double>(i), deltaF));
    } else {
      y[i] = static_cast<T>(static_cast<T>(startI) + static_cast<T>(i) * static_cast<T>(deltaI));
    }
  }
}

template <typename W>
__global__ void reverseSequenceKernel(const W* __restrict__ x, const int64_t* __restrict__ lens, W* __restrict__ y,
                                      int64_t batch, int64_t time, int64_t inner, bool batchFirst) {
  KILN_GRID_STRIDE_LOOP(i, batch * time * inner) {
    const int64_t lead = i / inner;
    const int64_t e = i - lead * inner;
    int64_t b, t;
    if (batchFirst) {
      b = lead / time;
      t = lead - b * time;
    } else {
      t = lead / batch;
      b = lead - t * batch;
    }
    const int64_t len = lens[b];
    const int64_t src = (len >= 0 && len <= time && t < len) ? len - 1 - t : t;
    const int64_t srcLead = batchFirst ? b * time + src : src * batch + b;
    y[i] = x[srcLead * inner + e];
  }
}

}  // namespace

cudaError_t launchTrilu(const void* x, void* y, int elemSize, int64_t mats, int64_t rows, int64_t cols, int64_t k,
                        bool upper, int smCount, cudaStream_t s) {
  const int64_t total = mats * rows * cols;
  if (total == 0) return cudaSuccess;
  return byWord(elemSize, [&](auto w) -> cudaError_t {
    using W = decltype(w);
    triluKernel<W><<<smGrid(total, smCount), kThreads, 0, s>>>(static_cast<const W*>(x), static_cast<W*>(y), total, rows,
                                                                cols, k, upper);
    return cudaGetLastError();
  });
}

cudaError_t launchEyeLike(void* y, int elemSize, int64_t rows, int64_t cols, int64_t k, uint64_t one, uint64_t zero,
                          int smCount, cudaStream_t s) {
  if (rows * cols == 0) return cudaSuccess;
  return byWord(elemSize, [&](auto w) -> cudaError_t {
    using W = decltype(w);
    eyeKernel<W><<<smGrid(rows * cols, smCount), kThreads, 0, s>>>(static_cast<W*>(y), rows, cols, k, bitsAs<W>(one),
                                                                    bitsAs<W>(zero));
    return cudaGetLastError();
  });
}

cudaError_t launchOneHot(const void* idx, ElemKind idxKind, void* y, int elemSize, int64_t outer, int64_t depth,
                         int64_t inner, uint64_t off, uint64_t on, int smCount, cudaStream_t s) {
  const int64_t total = outer * depth * inner;
  if (total == 0) return cudaSuccess;
  return byWord(elemSize, [&](auto w) -> cudaError_t {
    using W = decltype(w);
    auto go = [&](auto t) -> cudaError_t {
      using T = decltype(t);
      oneHotKernel<W, T><<<smGrid(total, smCount), kThreads, 0, s>>>(static_cast<const T*>(idx), static_cast<W*>(y), outer,
                                                                      depth, inner, bitsAs<W>(off), bitsAs<W>(on));
      return cudaGetLastError();
    };
    switch (idxKind) {
      case ElemKind::kF32: return go(float{});
      case ElemKind::kF16: return go(__half{});
      case ElemKind::kBF16: return go(__nv_bfloat16{});
      case ElemKind::kF64: return go(double{});
      case ElemKind::kI8: return go(int8_t{});
      case ElemKind::kU8: return go(uint8_t{});
      case ElemKind::kI16: return go(int16_t{});
      case ElemKind::kU16: return go(uint16_t{});
      case ElemKind::kI32: return go(int32_t{});
      case ElemKind::kU32: return go(uint32_t{});
      case ElemKind::kI64: return go(int64_t{});
      case ElemKind::kU64: return go(uint64_t{});
      default: return cudaErrorInvalidValue;
    }
  });
}

cudaError_t launchRange(void* y, ElemKind kind, int64_t n, double startF, double deltaF, int64_t startI, int64_t deltaI,
                        int smCount, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  const unsigned g = smGrid(n, smCount);
  switch (kind) {
    case ElemKind::kF32: rangeKernel<float><<<g, kThreads, 0, s>>>(static_cast<float*>(y), n, startF, deltaF, 0, 0); break;
    case ElemKind::kF16: rangeKernel<__half><<<g, kThreads, 0, s>>>(static_cast<__half*>(y), n, startF, deltaF, 0, 0); break;
    case ElemKind::kBF16:
      rangeKernel<__nv_bfloat16><<<g, kThreads, 0, s>>>(static_cast<__nv_bfloat16*>(y), n, startF, deltaF, 0, 0);
      break;
    case ElemKind::kF64: rangeKernel<double><<<g, kThreads, 0, s>>>(static_cast<double*>(y), n, startF, deltaF, 0, 0); break;
    case ElemKind::kI16: rangeKernel<int16_t><<<g, kThreads, 0, s>>>(static_cast<int16_t*>(y), n, 0, 0, startI, deltaI); break;
    case ElemKind::kI32: rangeKernel<int32_t><<<g, kThreads, 0, s>>>(static_cast<int32_t*>(y), n, 0, 0, startI, deltaI); break;
    case ElemKind::kI64: rangeKernel<int64_t><<<g, kThreads, 0, s>>>(static_cast<int64_t*>(y), n, 0, 0, startI, deltaI); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launchReverseSequence(const void* x, const int64_t* lens, void* y, int elemSize, int64_t batch,
                                  int64_t time, int64_t inner, bool batchFirst, int smCount, cudaStream_t s) {
  const int64_t total = batch * time * inner;
  if (total == 0) return cudaSuccess;
  return byWord(elemSize, [&](auto w) -> cudaError_t {
    using W = decltype(w);
    reverseSequenceKernel<W><<<smGrid(total, smCount), kThreads, 0, s>>>(static_cast<const W*>(x), lens,
                                                                          static_cast<W*>(y), batch, time, inner,
                                                                          batchFirst);
    return cudaGetLastError();
  });
}

}  // namespace kiln::cuda::data
