// Pow with a base and an exponent of different numeric types (float32 ^ int64, int32 ^ float32...):
// the CPU reference computes pow(double(x), double(e)) and converts back to the base's type, so
// this kernel does the same with runtime-typed loads (a rare op: one kernel for every type pair
// instead of a template per pair). Same-type Pow stays in the element-wise chain kernels.
#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/eltwise_launch.h"

namespace kiln::cuda::eltwise {

namespace {

__device__ double loadAsDouble(const void* p, DType t, int64_t k) {
  switch (t) {
    case DType::kFloat32: return static_cast<const float*>(p)[k];
    case DType::kFloat64: return static_cast<const double*>(p)[k];
    case DType::kFloat16: return __half2float(static_cast<const __half*>(p)[k]);
    case DType::kBFloat16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[k]);
    case DType::kInt8: return static_cast<const int8_t*>(p)[k];
    case DType::kInt16: return static_cast<const int16_t*>(p)[k];
    case DType::kInt32: return static_cast<const int32_t*>(p)[k];
    case DType::kInt64: return static_cast<double>(static_cast<const int64_t*>(p)[k]);
    case DType::kUInt8: return static_cast<const uint8_t*>(p)[k];
    case DType::kUInt16: return static_cast<const uint16_t*>(p)[k];
    case DType::kUInt32: return static_cast<const uint32_t*>(p)[k];
    default: return static_cast<double>(static_cast<const uint64_t*>(p)[k]);  // kUInt64
  }
}

// convertValue<T>(double): 16-bit floats through float, integers by static_cast.
__device__ void storeDouble(void* p, DType t, int64_t k, double v) {
  switch (t) {
    case DType::kFloat32: static_cast<float*>(p)[k] = static_cast<float>(v); return;
    case DType::kFloat64: static_cast<double*>(p)[k] = v; return;
    case DType::kFloat16: static_cast<__half*>(p)[k] = __float2half_rn(static_cast<float>(v)); return;
    case DType::kBFloat16: static_cast<__nv_bfloat16*>(p)[k] = __float2bfloat16_rn(static_cast<float>(v)); return;
    case DType::kInt8: static_cast<int8_t*>(p)[k] = static_cast<int8_t>(v); return;
    case DType::kInt16: static_cast<int16_t*>(p)[k] = static_cast<int16_t>(v); return;
    case DType::kInt32: static_cast<int32_t*>(p)[k] = static_cast<int32_t>(v); return;
    case DType::kInt64: static_cast<int64_t*>(p)[k] = static_cast<int64_t>(v); return;
    case DType::kUInt8: static_cast<uint8_t*>(p)[k] = static_cast<uint8_t>(v); return;
    case DType::kUInt16: static_cast<uint16_t*>(p)[k] = static_cast<uint16_t>(v); return;
    case DType::kUInt32: static_cast<uint32_t*>(p)[k] = static_cast<uint32_t>(v); return;
    default: static_cast<uint64_t*>(p)[k] = static_cast<uint64_t>(v); return;
  }
}

// pow(x, e) as the host's (correctly rounded) std::pow gives it: for a small integral exponent
// by repeated squaring, which is exact whenever the result fits in 53 bits (CUDA's pow may be
// 1-2 ulp off there, and an integer result of 215.99999999999997 would truncate to 215).
__device__ double powLikeHost(double x, double e) {
  if (e == trunc(e) && fabs(e) <= 64.0) {
    int k = static_cast<int>(fabs(e));
    double r = 1.0, b = x;
    while (k) {
      if (k & 1) r *= b;
      b *= b;
      k >>= 1;
    }
    return e < 0 ? 1.0 / r : r;
  }
  return pow(x, e);
}

__global__ void powMixedKernel(PowMixedArgs a) {
  KILN_GRID_STRIDE_LOOP(i, a.n) {
    int64_t rest = i, xo = 0, eo = 0;
    for (int d = a.rank - 1; d >= 0; --d) {
      const int64_t c = rest % a.dims[d];
      rest /= a.dims[d];
      xo += c * a.xStrides[d];
      eo += c * a.eStrides[d];
    }
    const double x = loadAsDouble(a.x, a.xType, xo);
    const double e = loadAsDouble(a.e, a.eType, eo);
    storeDouble(a.y, a.xType, i, powLikeHost(x, e));
  }
}

}  // namespace

cudaError_t launchPowMixed(const PowMixedArgs& a, int maxBlocks, cudaStream_t s) {
  if (a.n <= 0) return cudaSuccess;
  powMixedKernel<<<blocksFor(a.n, kThreads, maxBlocks), kThreads, 0, s>>>(a);
  return cudaGetLastError();
}

}  // namespace kiln::cuda::eltwise
