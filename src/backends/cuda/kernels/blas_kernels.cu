// Element-wise helpers of the matmul layers: the fused activation cuBLASLt's epilogues do not
// cover (anything but Relu and tanh-GELU), and the broadcast of Gemm's C into the output before a
// beta-scaled in-place matmul.
#include "backends/cuda/kernels/blas_kernels.h"
#include "backends/cuda/kernels/cuda_common.cuh"

namespace kiln::cuda {

namespace {

template <typename C>
__device__ __forceinline__ C actOf(BlasAct a, C x, C alpha, C beta) {
  switch (a) {
    case BlasAct::kNone: return x;
    case BlasAct::kRelu: return x > C(0) ? x : C(0);
    case BlasAct::kLeakyRelu: return x >= C(0) ? x : alpha * x;
    case BlasAct::kClip: return x < alpha ? alpha : (x > beta ? beta : x);
    case BlasAct::kSigmoid: return C(1) / (C(1) + exp(-x));
    case BlasAct::kTanh: return tanh(x);
    case BlasAct::kHardSwish: {
      C t = x / C(6) + C(0.5);
      return x * (t < C(0) ? C(0) : (t > C(1) ? C(1) : t));
    }
    case BlasAct::kSilu: return x / (C(1) + exp(-x));
    case BlasAct::kGeluErf: return C(0.5) * x * (C(1) + erf(x * C(0.7071067811865476)));
    case BlasAct::kGeluTanh:
      return C(0.5) * x * (C(1) + tanh(C(0.7978845608028654) * (x + C(0.044715) * x * x * x)));
  }
  return x;
}

// 16-byte vectors where the pointer is aligned; the scalar loop covers the rest.
template <typename T>
__global__ void activationKernel(T* __restrict__ y, int64_t n, BlasAct act, float alpha, float beta) {
  using C = typename ComputeTypeOf<T>::type;
  constexpr int kVec = 16 / sizeof(T);
  const bool aligned = (reinterpret_cast<uintptr_t>(y) & 15) == 0;
  const int64_t nv = aligned ? n / kVec : 0;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < nv; v += stride) {
    union {
      uint4 u;
      T e[kVec];
    } pack;
    pack.u = reinterpret_cast<const uint4*>(y)[v];
#pragma unroll
    for (int k = 0; k < kVec; ++k)
      pack.e[k] = convertTo<T>(actOf<C>(act, convertTo<C>(pack.e[k]), C(alpha), C(beta)));
    reinterpret_cast<uint4*>(y)[v] = pack.u;
  }
  for (int64_t i = nv * kVec + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = convertTo<T>(actOf<C>(act, convertTo<C>(y[i]), C(alpha), C(beta)));
}

template <typename T>
__global__ void broadcastFillKernel(T* __restrict__ y, const T* __restrict__ c, int64_t rows, int64_t cols,
                                    int64_t rs, int64_t cs, double scale) {
  using C = typename ComputeTypeOf<T>::type;
  const int64_t n = rows * cols;
  KILN_GRID_STRIDE_LOOP(i, n) {
    const int64_t r = i / cols, col = i - r * cols;
    y[i] = convertTo<T>(C(scale) * convertTo<C>(c[r * rs + col * cs]));
  }
}

unsigned gridFor(int64_t work, int smCount) {
  const int64_t cap = static_cast<int64_t>(smCount > 0 ? smCount : 80) * 8;
  int64_t b = (work + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > cap ? cap : b));
}

}  // namespace

cudaError_t launchBlasActivation(void* y, DType t, int64_t n, BlasAct act, float alpha, float beta, int smCount,
                                 cudaStream_t stream) {
  if (n <= 0 || act == BlasAct::kNone) return cudaSuccess;
  switch (t) {
    case DType::kFloat32:
      activationKernel<float><<<gridFor(n / 4 + 1, smCount), kThreads, 0, stream>>>(static_cast<float*>(y), n, act, alpha, beta);
      break;
    case DType::kFloat16:
      activationKernel<__half><<<gridFor(n / 8 + 1, smCount), kThreads, 0, stream>>>(static_cast<__half*>(y), n, act, alpha, beta);
      break;
    case DType::kBFloat16:
      activationKernel<__nv_bfloat16>
          <<<gridFor(n / 8 + 1, smCount), kThreads, 0, stream>>>(static_cast<__nv_bfloat16*>(y), n, act, alpha, beta);
      break;
    case DType::kFloat64:
      activationKernel<double><<<gridFor(n / 2 + 1, smCount), kThreads, 0, stream>>>(static_cast<double*>(y), n, act, alpha, beta);
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launchBlasBroadcastFill(void* y, const void* c, DType t, int64_t rows, int64_t cols, int64_t cRowStride,
                                    int64_t cColStride, double scale, int smCount, cudaStream_t stream) {
  const int64_t n = rows * cols;
  if (n <= 0) return cudaSuccess;
  const unsigned grid = gridFor(n, smCount);
  switch (t) {
    case DType::kFloat32:
      broadcastFillKernel<float><<<grid, kThreads, 0, stream>>>(static_cast<float*>(y), static_cast<const float*>(c),
                                                                rows, cols, cRowStride, cColStride, scale);
      break;
    case DType::kFloat16:
      broadcastFillKernel<__half><<<grid, kThreads, 0, stream>>>(static_cast<__half*>(y), static_cast<const __half*>(c),
                                                                 rows, cols, cRowStride, cColStride, scale);
      break;
    case DType::kBFloat16:
      broadcastFillKernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(
          static_cast<__nv_bfloat16*>(y), static_cast<const __nv_bfloat16*>(c), rows, cols, cRowStride, cColStride, scale);
      break;
    case DType::kFloat64:
      broadcastFillKernel<double><<<grid, kThreads, 0, stream>>>(static_cast<double*>(y), static_cast<const double*>(c),
                                                                 rows, cols, cRowStride, cColStride, scale);
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda
