// CumSum/CumProd over [outer, n, inner] views (exclusive, reverse). Floats accumulate in float
// (double for float64), integers in uint64 (wrapping like the element type, as the CPU reference).
//  - CumSum, inner == 1: one warp per row, 32 elements at a time: a shuffle scan plus the carry;
//  - otherwise one thread per column, a sequential scan coalesced across the inner dimension
//    (CumProd always: a product in the CPU's order keeps the rounding of the reference).
#include "backends/cuda/kernels/reduce_common.cuh"

namespace kiln::cuda::rn {

namespace {

template <typename T>
using ScanA = std::conditional_t<kIsFloat<T>, StatT<T>, uint64_t>;

template <typename T>
__device__ __forceinline__ ScanA<T> scanLoad(T v) {
  using A = ScanA<T>;
  if constexpr (kIsFloat<T>) return toC<A>(v);
  else return static_cast<A>(static_cast<std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>(v));
}

template <typename T>
__global__ void __launch_bounds__(256) scanRowsKernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows,
                                                      int64_t n, bool exclusive, bool reverse) {
  using A = ScanA<T>;
  const int lane = threadIdx.x & 31;
  const int64_t step = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.x >> 5) + (threadIdx.x >> 5); row < rows;
       row += step) {
    const T* xr = x + row * n;
    T* yr = y + row * n;
    A carry = A(0);
    for (int64_t base = 0; base < n; base += 32) {
      const int64_t k = base + lane;
      const int64_t i = reverse ? n - 1 - k : k;
      const A v = k < n ? scanLoad(xr[i]) : A(0);
      A inc = v;
#pragma unroll
      for (int off = 1; off < 32; off <<= 1) {
        const A o = shfl(inc, lane >= off ? lane - off : lane);
        if (lane >= off) inc += o;
      }
      A exc = shfl(inc, lane > 0 ? lane - 1 : 0);
      if (lane == 0) exc = A(0);
      if (k < n) yr[i] = convertTo<T>(carry + (exclusive ? exc : inc));
      carry += shfl(inc, 31);
    }
  }
}

template <typename T, bool kProd>
__global__ void scanColsKernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t n, int64_t inner,
                               bool exclusive, bool reverse) {
  using A = ScanA<T>;
  KILN_GRID_STRIDE_LOOP(col, outer * inner) {
    const int64_t o = col / inner, j = col - o * inner;
    const int64_t base = o * n * inner + j;
    A acc = A(kProd ? 1 : 0);
    for (int64_t k = 0; k < n; ++k) {
      const int64_t off = base + (reverse ? n - 1 - k : k) * inner;
      const A v = scanLoad(x[off]);
      if (exclusive) y[off] = convertTo<T>(acc);
      if constexpr (kProd) acc *= v;
      else acc += v;
      if (!exclusive) y[off] = convertTo<T>(acc);
    }
  }
}

using ScanSet = DSet<DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt32,
                     DType::kInt64, DType::kUInt32, DType::kUInt64>;

}  // namespace

bool scanSupportsType(DType t) { return inSet<ScanSet>(t); }

cudaError_t launchScan(const ScanArgs& a, cudaStream_t s) {
  if (a.outer * a.n * a.inner == 0) return cudaSuccess;
  cudaError_t err = cudaErrorInvalidValue;
  dispatch<ScanSet>(a.dtype, [&](auto tag) {
    using T = KILN_RN_TYPE(tag);
    const T* x = static_cast<const T*>(a.x);
    T* y = static_cast<T*>(a.y);
    if (a.prod)
      scanColsKernel<T, true><<<gridFor(a.outer * a.inner, kThreads, a.smCount, 8), kThreads, 0, s>>>(
          x, y, a.outer, a.n, a.inner, a.exclusive, a.reverse);
    else if (a.inner == 1)
      scanRowsKernel<T><<<gridFor(a.outer, 8, a.smCount, 8), 256, 0, s>>>(x, y, a.outer, a.n, a.exclusive, a.reverse);
    else
      scanColsKernel<T, false><<<gridFor(a.outer * a.inner, kThreads, a.smCount, 8), kThreads, 0, s>>>(
          x, y, a.outer, a.n, a.inner, a.exclusive, a.reverse);
    err = cudaGetLastError();
  });
  return err;
}

}  // namespace kiln::cuda::rn
