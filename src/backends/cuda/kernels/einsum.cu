// Einsum and Det, the rare linear-algebra ops, in the CPU reference's arithmetic.
//  - Einsum (backends/cpu/kernels/matmul_einsum.cc): one thread per output element walks the
//    summed axes in the CPU's order (last fastest) and adds the left-to-right product of the
//    operands, in double for the float types and in wrapping uint64 for the integers. No
//    contraction reordering; these are rare ops.
//  - Det (backends/cpu/kernels/misc.cc): one block per matrix, LU with partial pivoting in double
//    (the first row with the largest |pivot| wins; a zero pivot gives 0), the elimination of each
//    step spread over the block's threads, each element updated by exactly one thread.
// Products and sums use the _rn intrinsics so nvcc does not contract them into FMAs the CPU build
// does not use: results match the CPU bit for bit. No atomics.
#include <algorithm>
#include <type_traits>

#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/signal_launch.h"

namespace kiln::cuda::signal {

namespace {

constexpr int kBlock = 256;

template <typename T> struct TypeTag { using type = T; };

template <typename F>
bool dispatchNumeric(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32: f(TypeTag<float>{}); return true;
    case DType::kFloat16: f(TypeTag<__half>{}); return true;
    case DType::kBFloat16: f(TypeTag<__nv_bfloat16>{}); return true;
    case DType::kFloat64: f(TypeTag<double>{}); return true;
    case DType::kInt8: f(TypeTag<int8_t>{}); return true;
    case DType::kUInt8: f(TypeTag<uint8_t>{}); return true;
    case DType::kInt16: f(TypeTag<int16_t>{}); return true;
    case DType::kUInt16: f(TypeTag<uint16_t>{}); return true;
    case DType::kInt32: f(TypeTag<int32_t>{}); return true;
    case DType::kUInt32: f(TypeTag<uint32_t>{}); return true;
    case DType::kInt64: f(TypeTag<int64_t>{}); return true;
    case DType::kUInt64: f(TypeTag<uint64_t>{}); return true;
    default: return false;
  }
}

template <typename T>
constexpr bool kFloatT = std::is_floating_point_v<T> || IsHalfLike<T>::value;

// ---- Einsum -------------------------------------------------------------------------------------

template <typename Acc>
__device__ __forceinline__ Acc accMul(Acc a, Acc b) {
  if constexpr (std::is_same_v<Acc, double>) return __dmul_rn(a, b);
  else return a * b;
}
template <typename Acc>
__device__ __forceinline__ Acc accAdd(Acc a, Acc b) {
  if constexpr (std::is_same_v<Acc, double>) return __dadd_rn(a, b);
  else return a + b;
}

template <typename T, typename Acc>
__device__ __forceinline__ Acc product(const EinsumArgs& a, const int64_t (&off)[kEinsumMaxOperands]) {
  Acc p = convertTo<Acc>(static_cast<const T*>(a.in[0])[off[0]]);
#pragma unroll
  for (int i = 1; i < kEinsumMaxOperands; ++i)
    if (i < a.numOperands) p = accMul(p, convertTo<Acc>(static_cast<const T*>(a.in[i])[off[i]]));
  return p;
}

template <typename T, typename Acc>
__global__ void __launch_bounds__(kBlock) einsumKernel(const __grid_constant__ EinsumArgs a) {
  KILN_GRID_STRIDE_LOOP(o, a.outCount) {
    int64_t off[kEinsumMaxOperands];
#pragma unroll
    for (int i = 0; i < kEinsumMaxOperands; ++i) off[i] = 0;
    int64_t rem = o;
    for (int j = a.numOut - 1; j >= 0; --j) {
      const int64_t c = rem % a.outSize[j];
      rem /= a.outSize[j];
#pragma unroll
      for (int i = 0; i < kEinsumMaxOperands; ++i) off[i] += c * a.outStride[j][i];
    }
    Acc acc = Acc(0);
    if (a.sumCount > 0) {
      if (a.numSum == 0) {
        acc = accAdd(acc, product<T, Acc>(a, off));
      } else {
        // The last summed axis is the inner loop; the others advance like an odometer.
        const int last = a.numSum - 1;
        const int64_t innerSize = a.sumSize[last];
        int64_t idx[kEinsumMaxAxes];
        for (int k = 0; k < last; ++k) idx[k] = 0;
        while (true) {
          int64_t cur[kEinsumMaxOperands];
#pragma unroll
          for (int i = 0; i < kEinsumMaxOperands; ++i) cur[i] = off[i];
          for (int64_t t = 0; t < innerSize; ++t) {
            acc = accAdd(acc, product<T, Acc>(a, cur));
#pragma unroll
            for (int i = 0; i < kEinsumMaxOperands; ++i) cur[i] += a.sumStride[last][i];
          }
          int k = last - 1;
          for (; k >= 0; --k) {
#pragma unroll
            for (int i = 0; i < kEinsumMaxOperands; ++i) off[i] += a.sumStride[k][i];
            if (++idx[k] < a.sumSize[k]) break;
#pragma unroll
            for (int i = 0; i < kEinsumMaxOperands; ++i) off[i] -= a.sumSize[k] * a.sumStride[k][i];
            idx[k] = 0;
          }
          if (k < 0) break;
        }
      }
    }
    static_cast<T*>(a.y)[o] = convertTo<T>(acc);
  }
}

// ---- Det ----------------------------------------------------------------------------------------

// Matrix `first + blockIdx.x`; `scratch` = null: the matrix lives in dynamic shared memory,
// otherwise at scratch + blockIdx.x * m * m.
template <typename T>
__global__ void __launch_bounds__(kBlock) detKernel(const T* x, T* y, int64_t first, int64_t m, double* scratch) {
  extern __shared__ double smem[];
  __shared__ double det;
  __shared__ int64_t pivRow;
  __shared__ bool singular;
  const int64_t b = first + blockIdx.x;
  const int64_t mm = m * m;
  double* a = scratch ? scratch + static_cast<int64_t>(blockIdx.x) * mm : smem;
  const T* src = x + b * mm;
  for (int64_t e = threadIdx.x; e < mm; e += blockDim.x) a[e] = convertTo<double>(src[e]);
  if (threadIdx.x == 0) {
    det = 1.0;
    singular = false;
  }
  __syncthreads();
  for (int64_t k = 0; k < m; ++k) {
    if (threadIdx.x == 0) {
      int64_t p = k;
      for (int64_t i = k + 1; i < m; ++i)
        if (fabs(a[i * m + k]) > fabs(a[p * m + k])) p = i;
      pivRow = p;
      if (a[p * m + k] == 0) singular = true;
      else if (p != k) det = -det;
    }
    __syncthreads();
    if (singular) break;  // uniform: every thread read it after the barrier
    const int64_t p = pivRow;
    if (p != k)
      for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
        const double t = a[k * m + j];
        a[k * m + j] = a[p * m + j];
        a[p * m + j] = t;
      }
    __syncthreads();
    const double piv = a[k * m + k];
    if (threadIdx.x == 0) det = __dmul_rn(det, piv);
    const int64_t rest = m - k - 1;
    for (int64_t e = threadIdx.x; e < rest * rest; e += blockDim.x) {
      const int64_t i = k + 1 + e / rest, j = k + 1 + e % rest;
      const double f = __ddiv_rn(a[i * m + k], piv);  // column k is not written in this step
      if (f == 0) continue;
      a[i * m + j] = __dsub_rn(a[i * m + j], __dmul_rn(f, a[k * m + j]));
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) y[b] = convertTo<T>(singular ? 0.0 : det);
}

template <typename T>
cudaError_t launchDetTyped(const DetArgs& a, cudaStream_t s) {
  const int64_t mm = a.m * a.m;
  const int threads = static_cast<int>(std::min<int64_t>(kBlock, std::max<int64_t>(32, (mm + 31) / 32 * 32)));
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  constexpr int64_t kMaxGrid = 0x7FFFFFFF;
  if (a.m <= kDetSharedMaxM) {
    const size_t shared = static_cast<size_t>(mm) * sizeof(double);
    for (int64_t first = 0; first < a.batch; first += kMaxGrid) {
      const unsigned grid = static_cast<unsigned>(std::min(kMaxGrid, a.batch - first));
      detKernel<T><<<grid, threads, shared, s>>>(x, y, first, a.m, nullptr);
      if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    }
    return cudaSuccess;
  }
  const size_t per = detWorkspacePerMatrix(a.m);
  const int64_t chunk = a.workspace ? static_cast<int64_t>(std::min<size_t>(a.workspaceSize / per, kMaxGrid)) : 0;
  if (chunk < 1) return cudaErrorInvalidValue;
  for (int64_t first = 0; first < a.batch; first += chunk) {
    const unsigned grid = static_cast<unsigned>(std::min(chunk, a.batch - first));
    detKernel<T><<<grid, threads, 0, s>>>(x, y, first, a.m, static_cast<double*>(a.workspace));
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

}  // namespace

bool einsumSupportsType(DType t) {
  return dispatchNumeric(t, [](auto) {});
}

cudaError_t launchEinsum(const EinsumArgs& a, cudaStream_t s) {
  if (a.numOperands < 1 || a.numOperands > kEinsumMaxOperands || a.numOut < 0 || a.numOut > kEinsumMaxAxes ||
      a.numSum < 0 || a.numSum > kEinsumMaxAxes)
    return cudaErrorInvalidValue;
  if (a.outCount == 0) return cudaSuccess;
  const int64_t cap = static_cast<int64_t>(a.smCount > 0 ? a.smCount : 132) * 16;
  const unsigned grid = static_cast<unsigned>(std::max<int64_t>(1, std::min((a.outCount + kBlock - 1) / kBlock, cap)));
  cudaError_t err = cudaErrorInvalidValue;
  dispatchNumeric(a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using Acc = std::conditional_t<kFloatT<T>, double, uint64_t>;  // wraps like the CPU's fixed-width ints
    einsumKernel<T, Acc><<<grid, kBlock, 0, s>>>(a);
    err = cudaGetLastError();
  });
  return err;
}

cudaError_t launchDet(const DetArgs& a, cudaStream_t s) {
  if (a.batch < 0 || a.m < 0) return cudaErrorInvalidValue;
  if (a.batch == 0) return cudaSuccess;
  cudaError_t err = cudaErrorInvalidValue;
  switch (a.dtype) {
    case DType::kFloat32: err = launchDetTyped<float>(a, s); break;
    case DType::kFloat16: err = launchDetTyped<__half>(a, s); break;
    case DType::kBFloat16: err = launchDetTyped<__nv_bfloat16>(a, s); break;
    case DType::kFloat64: err = launchDetTyped<double>(a, s); break;
    default: break;
  }
  return err;
}

}  // namespace kiln::cuda::signal
