// TopK, always sorted, ties to the lower index, NaN above every number (the CPU reference's order).
// Small K (K <= 32), one warp per slice: each lane keeps its best K of the elements it reads
// (a sorted register list, insertion only when an element beats the lane's K-th), then K rounds
// pick the best head among the lanes (a total order, so the winner is unique) and pop it.
#include "backends/cuda/kernels/reduce_common.cuh"

namespace kiln::cuda::rn {

namespace {

template <typename T>
using TopC = std::conditional_t<kIsFloat<T>, StatT<T>, std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

template <typename C>
struct Cand {
  C v;
  int64_t i;  // -1: empty (ranks after everything)
};

// a > b with NaN greater than every number.
template <typename C>
__device__ __forceinline__ bool greaterNaN(C a, C b) {
  if (isNan(a)) return !isNan(b);
  if (isNan(b)) return false;
  return a > b;
}

// a ranks before b.
template <typename C>
__device__ __forceinline__ bool before(const Cand<C>& a, const Cand<C>& b, bool largest) {
  if (b.i < 0) return a.i >= 0;
  if (a.i < 0) return false;
  if (largest ? greaterNaN(a.v, b.v) : greaterNaN(b.v, a.v)) return true;
  if (largest ? greaterNaN(b.v, a.v) : greaterNaN(a.v, b.v)) return false;
  return a.i < b.i;
}

template <typename T, int K>
__global__ void __launch_bounds__(128) topKWarpKernel(const T* __restrict__ x, T* __restrict__ values,
                                                      int64_t* __restrict__ indices, int64_t outer, int64_t n,
                                                      int64_t inner, int64_t k, bool largest) {
  using C = TopC<T>;
  const int lane = threadIdx.x & 31;
  const int64_t slices = outer * inner;
  const int64_t step = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t sl = blockIdx.x * static_cast<int64_t>(blockDim.x >> 5) + (threadIdx.x >> 5); sl < slices;
       sl += step) {
    const int64_t o = sl / inner, j = sl - o * inner;
    const T* p = x + o * n * inner + j;
    Cand<C> list[K];
#pragma unroll
    for (int q = 0; q < K; ++q) list[q] = Cand<C>{C(0), -1};
    for (int64_t i = lane; i < n; i += 32) {
      const Cand<C> c{convertTo<C>(p[i * inner]), i};
      if (!before(c, list[K - 1], largest)) continue;
      // Shift the worse entries down and insert (fully unrolled: the list stays in registers).
      bool placed = false;
#pragma unroll
      for (int q = K - 1; q >= 0; --q) {
        if (placed) continue;
        if (q > 0 && before(c, list[q - 1], largest)) {
          list[q] = list[q - 1];
        } else {
          list[q] = c;
          placed = true;
        }
      }
    }
    T* qv = values + o * k * inner + j;
    int64_t* qi = indices + o * k * inner + j;
    for (int64_t r = 0; r < k; ++r) {
      Cand<C> best = groupReduce(list[0], 32, [largest](Cand<C>& a, const Cand<C>& b) {
        if (before(b, a, largest)) a = b;
      });
      if (lane == 0) {
        qv[r * inner] = p[best.i * inner];
        qi[r * inner] = best.i;
      }
      if (list[0].i == best.i) {  // the unique winner pops its head
#pragma unroll
        for (int q = 0; q < K - 1; ++q) list[q] = list[q + 1];
        list[K - 1] = Cand<C>{C(0), -1};
      }
    }
  }
}

// Any K: K rounds, each picking (warp-wide) the best element ranking strictly after the previous
// pick. O(n * K / 32) per lane; the fallback when K is large or not known at build time.
template <typename T>
__global__ void __launch_bounds__(128) topKSelectKernel(const T* __restrict__ x, T* __restrict__ values,
                                                        int64_t* __restrict__ indices, int64_t outer, int64_t n,
                                                        int64_t inner, int64_t k, bool largest) {
  using C = TopC<T>;
  const int lane = threadIdx.x & 31;
  const int64_t slices = outer * inner;
  const int64_t step = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t sl = blockIdx.x * static_cast<int64_t>(blockDim.x >> 5) + (threadIdx.x >> 5); sl < slices;
       sl += step) {
    const int64_t o = sl / inner, j = sl - o * inner;
    const T* p = x + o * n * inner + j;
    T* qv = values + o * k * inner + j;
    int64_t* qi = indices + o * k * inner + j;
    Cand<C> prev{C(0), -1};
    for (int64_t r = 0; r < k; ++r) {
      Cand<C> best{C(0), -1};
      for (int64_t i = lane; i < n; i += 32) {
        const Cand<C> c{convertTo<C>(p[i * inner]), i};
        if (prev.i >= 0 && !before(prev, c, largest)) continue;  // taken already
        if (before(c, best, largest)) best = c;
      }
      best = groupReduce(best, 32, [largest](Cand<C>& a, const Cand<C>& b) {
        if (before(b, a, largest)) a = b;
      });
      if (lane == 0 && best.i >= 0) {
        qv[r * inner] = p[best.i * inner];
        qi[r * inner] = best.i;
      }
      prev = best;
    }
  }
}

template <typename T, int K>
cudaError_t topKLaunch(const TopKArgs& a, cudaStream_t s) {
  topKWarpKernel<T, K><<<gridFor(a.outer * a.inner, 4, a.smCount, 16), 128, 0, s>>>(
      static_cast<const T*>(a.x), static_cast<T*>(a.values), a.indices, a.outer, a.n, a.inner, a.k, a.largest);
  return cudaGetLastError();
}

using TopKSet = DSet<DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt32,
                     DType::kInt64, DType::kInt8, DType::kUInt8, DType::kUInt32, DType::kUInt64>;

}  // namespace

bool topKSupportsType(DType t) { return inSet<TopKSet>(t); }

cudaError_t launchTopKSelect(const TopKArgs& a, cudaStream_t s) {
  if (a.k == 0 || a.outer * a.inner == 0) return cudaSuccess;
  if (a.k < 0 || a.k > a.n) return cudaErrorInvalidValue;
  cudaError_t err = cudaErrorInvalidValue;
  dispatch<TopKSet>(a.dtype, [&](auto tag) {
    using T = KILN_RN_TYPE(tag);
    topKSelectKernel<T><<<gridFor(a.outer * a.inner, 4, a.smCount, 16), 128, 0, s>>>(
        static_cast<const T*>(a.x), static_cast<T*>(a.values), a.indices, a.outer, a.n, a.inner, a.k, a.largest);
    err = cudaGetLastError();
  });
  return err;
}

cudaError_t launchTopK(const TopKArgs& a, cudaStream_t s) {
  if (a.k == 0 || a.outer * a.inner == 0) return cudaSuccess;
  if (a.k < 0 || a.k > a.n || a.k > kTopKMaxK) return cudaErrorInvalidValue;
  cudaError_t err = cudaErrorInvalidValue;
  dispatch<TopKSet>(a.dtype, [&](auto tag) {
    using T = KILN_RN_TYPE(tag);
    if (a.k <= 1) err = topKLaunch<T, 1>(a, s);
    else if (a.k <= 4) err = topKLaunch<T, 4>(a, s);
    else if (a.k <= 8) err = topKLaunch<T, 8>(a, s);
    else if (a.k <= 16) err = topKLaunch<T, 16>(a, s);
    else err = topKLaunch<T, 32>(a, s);
  });
  return err;
}

}  // namespace kiln::cuda::rn
