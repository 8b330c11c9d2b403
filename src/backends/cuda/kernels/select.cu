// NonZero and Compress on the GPU: flags, then CUB's DeviceSelect of the flagged positions (stable,
// ascending) with the count on the device; the host reads the count (select_ops.cc) and the
// output is written in its actual shape by the unravel / gather kernels below.
#include <cub/device/device_select.cuh>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <thrust/iterator/counting_iterator.h>

#include <type_traits>

#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/select_launch.h"
#include "backends/cuda/kernels/select_scratch.cuh"

namespace kiln::cuda::sel {

namespace {


template <typename T>
__device__ __forceinline__ bool isNonZero(T v) {
  if constexpr (std::is_same_v<T, __half>) return __half2float(v) != 0.0f;
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return __bfloat162float(v) != 0.0f;
  else return v != T(0);
}

template <typename T>
__global__ void flagNonZeroKernel(const T* __restrict__ x, int64_t n, uint8_t* __restrict__ flags) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    flags[i] = isNonZero(x[i]) ? 1 : 0;
}

// CUB's temporary storage for a selection among n items (a query: no work is launched).
size_t cubTempBytes(int64_t n) {
  size_t bytes = 0;
  cub::DeviceSelect::Flagged(nullptr, bytes, thrust::counting_iterator<int64_t>(0), static_cast<const uint8_t*>(nullptr),
                             static_cast<int64_t*>(nullptr), static_cast<int64_t*>(nullptr), n);
  return bytes;
}

struct Layout {
  uint8_t* flags;
  int64_t* indices;
  int64_t* count;
  void* temp;
  size_t tempBytes;
  size_t bytes;
};

// Places the regions in `scratch` (null: sizes only).
Layout layoutOf(void* scratch, int64_t n) {
  Layout l{};
  ScratchCarver c(scratch);
  l.flags = c.take<uint8_t>(n);
  l.indices = c.take<int64_t>(n * sizeof(int64_t));
  l.count = c.take<int64_t>(sizeof(int64_t));
  l.tempBytes = cubTempBytes(n);
  l.temp = c.take(l.tempBytes);
  l.bytes = c.used();
  return l;
}

bool layout(void* scratch, size_t scratchBytes, int64_t n, Layout* l) {
  *l = layoutOf(scratch, n);
  return l->bytes <= scratchBytes;
}

cudaError_t selectFlagged(const Layout& l, int64_t n, Selection* out, cudaStream_t s) {
  size_t bytes = l.tempBytes;
  cudaError_t e = cub::DeviceSelect::Flagged(l.temp, bytes, thrust::counting_iterator<int64_t>(0), l.flags,
                                             l.indices, l.count, n, s);
  out->indices = l.indices;
  out->count = l.count;
  return e;
}

__global__ void boolToFlagKernel(const bool* __restrict__ c, int64_t n, uint8_t* __restrict__ flags) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    flags[i] = c[i] ? 1 : 0;
}

struct Dims8 {
  int64_t d[kMaxRank];
};

__global__ void unravelKernel(const int64_t* __restrict__ idx, int64_t found, Dims8 dims, int rank,
                              int64_t* __restrict__ y) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < found; j += int64_t(gridDim.x) * blockDim.x) {
    int64_t rem = idx[j];
    for (int a = rank - 1; a >= 0; --a) {
      y[a * found + j] = rem % dims.d[a];
      rem /= dims.d[a];
    }
  }
}

template <typename E>
__global__ void gatherSelectedKernel(const E* __restrict__ x, E* __restrict__ y, int64_t outer, int64_t extent,
                                     int64_t inner, const int64_t* __restrict__ idx, int64_t found) {
  const int64_t total = outer * found * inner;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = t % inner, oj = t / inner, j = oj % found, o = oj / found;
    y[t] = x[(o * extent + idx[j]) * inner + i];
  }
}

unsigned gridOf(int64_t n, int block) {
  const int64_t g = (n + block - 1) / block;
  return static_cast<unsigned>(g < 65535 * 32 ? (g < 1 ? 1 : g) : 65535 * 32);
}

}  // namespace

bool selectReadsType(DType t) {
  switch (t) {
    case DType::kFloat32: case DType::kFloat64: case DType::kFloat16: case DType::kBFloat16: case DType::kInt8:
    case DType::kUInt8: case DType::kInt16: case DType::kUInt16: case DType::kInt32: case DType::kUInt32:
    case DType::kInt64: case DType::kUInt64: case DType::kBool:
      return true;
    default:
      return false;
  }
}

size_t selectScratchBytes(int64_t n) {
  return layoutOf(nullptr, n).bytes;
}

cudaError_t launchSelectNonZero(const void* x, DType t, int64_t n, void* scratch, size_t scratchBytes, Selection* out,
                                cudaStream_t s) {
  Layout l;
  if (n <= 0 || !layout(scratch, scratchBytes, n, &l)) return cudaErrorInvalidValue;
  const unsigned g = gridOf(n, 256);
  switch (t) {
    case DType::kFloat32: flagNonZeroKernel<<<g, 256, 0, s>>>(static_cast<const float*>(x), n, l.flags); break;
    case DType::kFloat64: flagNonZeroKernel<<<g, 256, 0, s>>>(static_cast<const double*>(x), n, l.flags); break;
    case DType::kFloat16: flagNonZeroKernel<<<g, 256, 0, s>>>(static_cast<const __half*>(x), n, l.flags); break;
    case DType::kBFloat16: flagNonZeroKernel<<<g, 256, 0, s>>>(static_cast<const __nv_bfloat16*>(x), n, l.flags); break;
    case DType::kInt8: flagNonZeroKernel<<<g, 256, 0, s>>>(static_cast<const int8_t*>(x), n, l.flags); break;
    case DType::kUInt8: flagNonZeroKernel<<<g, 256, 0, s>>>(static_cast<const uint8_t*>(x), n, l.flags); break;
    case DType::kInt16: flagNonZeroKernel<<<g, 256, 0, s>>>(static_cast<const int16_t*>(x), n, l.flags); break;
    case DType::kUInt16: flagNonZeroKernel<<<g, 256, 0, s>>>(static_cast<const uint16_t*>(x), n, l.flags); break;
    case DType::kInt32: flagNonZeroKernel<<<g, 256, 0, s>>>(static_cast<const int32_t*>(x), n, l.flags); break;
    case DType::kUInt32: flagNonZeroKernel<<<g, 256, 0, s>>>(static_cast<const uint32_t*>(x), n, l.flags); break;
    case DType::kInt64: flagNonZeroKernel<<<g, 256, 0, s>>>(static_cast<const int64_t*>(x), n, l.flags); break;
    case DType::kUInt64: flagNonZeroKernel<<<g, 256, 0, s>>>(static_cast<const uint64_t*>(x), n, l.flags); break;
    case DType::kBool: flagNonZeroKernel<<<g, 256, 0, s>>>(static_cast<const uint8_t*>(x), n, l.flags); break;
    default: return cudaErrorInvalidValue;
  }
  cudaError_t e = cudaGetLastError();
  return e != cudaSuccess ? e : selectFlagged(l, n, out, s);
}

cudaError_t launchSelectTrue(const bool* cond, int64_t n, void* scratch, size_t scratchBytes, Selection* out,
                             cudaStream_t s) {
  Layout l;
  if (n <= 0 || !layout(scratch, scratchBytes, n, &l)) return cudaErrorInvalidValue;
  boolToFlagKernel<<<gridOf(n, 256), 256, 0, s>>>(cond, n, l.flags);
  cudaError_t e = cudaGetLastError();
  return e != cudaSuccess ? e : selectFlagged(l, n, out, s);
}

cudaError_t launchUnravel(const int64_t* indices, int64_t found, const int64_t* dims, int rank, int64_t* y,
                          cudaStream_t s) {
  if (rank < 1 || rank > kMaxRank) return cudaErrorInvalidValue;
  if (found == 0) return cudaSuccess;
  Dims8 d{};
  for (int a = 0; a < rank; ++a) d.d[a] = dims[a];
  unravelKernel<<<gridOf(found, 256), 256, 0, s>>>(indices, found, d, rank, y);
  return cudaGetLastError();
}

cudaError_t launchGatherSelected(const void* x, void* y, size_t elemBytes, int64_t outer, int64_t extent,
                                 int64_t inner, const int64_t* indices, int64_t found, cudaStream_t s) {
  const int64_t total = outer * found * inner;
  if (total == 0) return cudaSuccess;
  const unsigned g = gridOf(total, 256);
  switch (elemBytes) {
    case 1: gatherSelectedKernel<<<g, 256, 0, s>>>(static_cast<const uint8_t*>(x), static_cast<uint8_t*>(y), outer, extent, inner, indices, found); break;
    case 2: gatherSelectedKernel<<<g, 256, 0, s>>>(static_cast<const uint16_t*>(x), static_cast<uint16_t*>(y), outer, extent, inner, indices, found); break;
    case 4: gatherSelectedKernel<<<g, 256, 0, s>>>(static_cast<const uint32_t*>(x), static_cast<uint32_t*>(y), outer, extent, inner, indices, found); break;
    case 8: gatherSelectedKernel<<<g, 256, 0, s>>>(static_cast<const uint64_t*>(x), static_cast<uint64_t*>(y), outer, extent, inner, indices, found); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda::sel
