// AffineGrid and MaxUnpool kernels (see grid_unpool_launch.h), with the CPU reference's
// arithmetic (backends/cpu/kernels/misc_vision.cc, conv_pool_pooling.cc): AffineGrid in double,
// one thread per grid point; MaxUnpool as a zero fill plus one thread per input element.
#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/grid_unpool_launch.h"

namespace kiln::cuda::gridunpool {

namespace {

template <typename T>
__global__ void affineGridKernel(const AffineGridArgs a, const T* __restrict__ theta, T* __restrict__ grid,
                                 int64_t points) {
  const int r = a.r;
  KILN_GRID_STRIDE_LOOP(i, a.batch * points) {
    const int64_t b = i / points, p = i - b * points;
    double h[4] = {0, 0, 0, 1};  // (x, y, z?, 1): component j reads spatial dim r-1-j
    int64_t rem = p;
    for (int d = r - 1; d >= 0; --d) {
      const int64_t s = a.sizes[d];
      const int64_t k = rem % s;
      rem /= s;
      h[r - 1 - d] = a.alignCorners ? (s > 1 ? -1.0 + 2.0 * k / (s - 1) : -1.0) : -1.0 + (2.0 * k + 1) / s;
    }
    h[r] = 1;
    for (int k = 0; k < r; ++k) {
      double acc = 0;
      for (int j = 0; j <= r; ++j)
        acc += static_cast<double>(convertTo<typename ComputeTypeOf<T>::type>(theta[(b * r + k) * (r + 1) + j])) * h[j];
      grid[i * r + k] = convertTo<T>(acc);
    }
  }
}

template <typename V>
__global__ void maxUnpoolKernel(const MaxUnpoolArgs a) {
  const V* x = static_cast<const V*>(a.x);
  V* y = static_cast<V*>(a.y);
  int64_t isz = 1, osz = 1;
  for (int d = 0; d < a.spatial; ++d) {
    isz *= a.inferred[d];
    osz *= a.outDims[d];
  }
  KILN_GRID_STRIDE_LOOP(e, a.n) {
    const int64_t idx = a.indices[e];
    if (idx < 0 || idx >= a.planes * isz) continue;  // out of range: the CPU refuses; nothing written here
    const int64_t plane = idx / isz;
    int64_t rem = idx - plane * isz, off = 0, mul = 1;
    for (int d = a.spatial - 1; d >= 0; --d) {
      off += (rem % a.inferred[d]) * mul;
      rem /= a.inferred[d];
      mul *= a.outDims[d];
    }
    y[plane * osz + off] = x[e];
  }
}

}  // namespace

cudaError_t launchAffineGrid(const AffineGridArgs& a, int smCount, cudaStream_t s) {
  int64_t points = 1;
  for (int d = 0; d < a.r; ++d) points *= a.sizes[d];
  if (a.batch * points == 0) return cudaSuccess;
  const unsigned grid = blocksFor(a.batch * points, kThreads, static_cast<int64_t>(smCount) * 8);
  switch (a.dtype) {
    case DType::kFloat32:
      affineGridKernel<float><<<grid, kThreads, 0, s>>>(a, static_cast<const float*>(a.theta), static_cast<float*>(a.grid), points);
      break;
    case DType::kFloat16:
      affineGridKernel<__half><<<grid, kThreads, 0, s>>>(a, static_cast<const __half*>(a.theta), static_cast<__half*>(a.grid), points);
      break;
    case DType::kBFloat16:
      affineGridKernel<__nv_bfloat16><<<grid, kThreads, 0, s>>>(a, static_cast<const __nv_bfloat16*>(a.theta),
                                                                 static_cast<__nv_bfloat16*>(a.grid), points);
      break;
    case DType::kFloat64:
      affineGridKernel<double><<<grid, kThreads, 0, s>>>(a, static_cast<const double*>(a.theta), static_cast<double*>(a.grid), points);
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launchMaxUnpool(const MaxUnpoolArgs& a, int smCount, cudaStream_t s) {
  cudaError_t e = cudaMemsetAsync(a.y, 0, static_cast<size_t>(a.yNumel) * a.elemBytes, s);
  if (e != cudaSuccess || a.n == 0) return e;
  const unsigned grid = blocksFor(a.n, kThreads, static_cast<int64_t>(smCount) * 8);
  switch (a.elemBytes) {
    case 1: maxUnpoolKernel<uint8_t><<<grid, kThreads, 0, s>>>(a); break;
    case 2: maxUnpoolKernel<uint16_t><<<grid, kThreads, 0, s>>>(a); break;
    case 4: maxUnpoolKernel<uint32_t><<<grid, kThreads, 0, s>>>(a); break;
    case 8: maxUnpoolKernel<uint64_t><<<grid, kThreads, 0, s>>>(a); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda::gridunpool
