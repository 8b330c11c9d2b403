// The general QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear kernels (see
// eltwise_quant.h): every layout (per tensor, per axis, blocked), every quantized type of the CPU
// reference (8/16-bit and 4/2-bit integers, fp8, fp4), e8m0 scales and the `precision`
// attribute, with the CPU's arithmetic (backends/cpu/kernels/quantization.cc). Types are read at
// run time: these layers are rare next to the int8 fast path, which stays templated.
#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/eltwise_quant.h"
#include "backends/cuda/kernels/small_types.cuh"

namespace kiln::cuda::eltwise {

namespace {

__device__ float roundTo(float v, DType precision) {
  if (precision == DType::kFloat16) return __half2float(__float2half_rn(v));
  if (precision == DType::kBFloat16) return __bfloat162float(__float2bfloat16_rn(v));
  return v;
}

// Element k of a real, integer or small-float tensor, as float (static_cast<float> on the CPU).
__device__ float loadF(const void* p, DType t, int64_t k) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  switch (t) {
    case DType::kFloat32: return static_cast<const float*>(p)[k];
    case DType::kFloat16: return small::halfToFloatExact(static_cast<const uint16_t*>(p)[k]);
    case DType::kBFloat16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[k]);
    case DType::kInt32: return static_cast<float>(static_cast<const int32_t*>(p)[k]);
    case DType::kInt16: return static_cast<const int16_t*>(p)[k];
    case DType::kUInt16: return static_cast<const uint16_t*>(p)[k];
    case DType::kInt8: return static_cast<const int8_t*>(p)[k];
    case DType::kUInt8: return b[k];
    case DType::kInt4: return static_cast<float>(small::subByteValue(b[k], 4, true));
    case DType::kUInt4: return static_cast<float>(small::subByteValue(b[k], 4, false));
    case DType::kInt2: return static_cast<float>(small::subByteValue(b[k], 2, true));
    case DType::kUInt2: return static_cast<float>(small::subByteValue(b[k], 2, false));
    case DType::kFloat4E2M1: return small::decodeF4(b[k]);
    case DType::kFloat8E8M0: return small::decodeE8M0(b[k]);
    default: return small::decodeF8(b[k], small::f8Format(t));  // the four fp8 types
  }
}

__device__ __forceinline__ int64_t scaleIndex(const QuantGeneralParams& p, int64_t i) {
  if (p.kind == QuantGeneralParams::kTensor) return 0;
  const int64_t row = i / p.inner;
  const int64_t c = row % p.extent;
  if (p.kind == QuantGeneralParams::kAxis) return c;
  const int64_t o = row / p.extent;
  return (o * p.scaleExtent + c / p.block) * p.inner + (i - row * p.inner);
}

__device__ void storeQuant(void* p, DType t, int64_t i, float q, const QuantGeneralParams& a, int64_t si) {
  uint8_t* b = static_cast<uint8_t*>(p);
  switch (t) {
    case DType::kFloat8E4M3FN: case DType::kFloat8E4M3FNUZ: case DType::kFloat8E5M2: case DType::kFloat8E5M2FNUZ:
      b[i] = small::encodeF8(q, a.saturate, small::f8Format(t));
      return;
    case DType::kFloat4E2M1: {
      // The zero point is added in float (usually 0); fp4 always saturates.
      const float z = a.zeroPoint ? loadF(a.zeroPoint, t, si) : 0.0f;
      b[i] = small::encodeF4(q + z);
      return;
    }
    default: break;
  }
  double lo, hi;
  switch (t) {
    case DType::kInt8: lo = -128; hi = 127; break;
    case DType::kUInt8: lo = 0; hi = 255; break;
    case DType::kInt16: lo = -32768; hi = 32767; break;
    case DType::kUInt16: lo = 0; hi = 65535; break;
    case DType::kInt4: lo = -8; hi = 7; break;
    case DType::kUInt4: lo = 0; hi = 15; break;
    case DType::kInt2: lo = -2; hi = 1; break;
    default: lo = 0; hi = 3; break;  // kUInt2
  }
  const double z = a.zeroPoint ? static_cast<double>(loadF(a.zeroPoint, t, si)) : 0.0;
  double v = static_cast<double>(rintf(q)) + z;
  if (isnan(v)) v = 0;
  v = v < lo ? lo : (v > hi ? hi : v);
  const int64_t iv = static_cast<int64_t>(v);
  switch (t) {
    case DType::kInt16: static_cast<int16_t*>(p)[i] = static_cast<int16_t>(iv); return;
    case DType::kUInt16: static_cast<uint16_t*>(p)[i] = static_cast<uint16_t>(iv); return;
    case DType::kInt4: b[i] = small::subByteCanonical(static_cast<uint8_t>(iv), 4, true); return;
    case DType::kInt2: b[i] = small::subByteCanonical(static_cast<uint8_t>(iv), 2, true); return;
    default: b[i] = static_cast<uint8_t>(iv); return;  // int8 (two's complement), uint8, uint4, uint2
  }
}

__global__ void quantizeGeneralKernel(const __grid_constant__ QuantGeneralParams p) {
  KILN_GRID_STRIDE_LOOP(i, p.n) {
    const int64_t si = scaleIndex(p, i);
    const float sc = roundTo(loadF(p.scale, p.scaleType, si), p.precision);
    float xv = loadF(p.x, p.xType, i);
    if (p.explicitPrecision) xv = roundTo(xv, p.precision);
    storeQuant(p.y, p.yType, i, roundTo(xv / sc, p.precision), p, si);
  }
}

__global__ void dequantizeGeneralKernel(const __grid_constant__ QuantGeneralParams p) {
  KILN_GRID_STRIDE_LOOP(i, p.n) {
    const int64_t si = scaleIndex(p, i);
    const float sc = loadF(p.scale, p.scaleType, si);
    const float z = p.zeroPoint ? loadF(p.zeroPoint, p.xType, si) : 0.0f;
    const float v = (loadF(p.x, p.xType, i) - z) * sc;
    switch (p.yType) {
      case DType::kFloat32: static_cast<float*>(p.y)[i] = v; break;
      case DType::kFloat16: static_cast<__half*>(p.y)[i] = __float2half_rn(v); break;
      default: static_cast<__nv_bfloat16*>(p.y)[i] = __float2bfloat16_rn(v); break;
    }
  }
}

// DynamicQuantizeLinear, step 1: one block finds min(x, 0) and max(x, 0) (order-free, so the
// result is deterministic) and writes the scale and the zero point, as the ONNX reference computes
// them in float.
constexpr int kDqlThreads = 1024;
__global__ void __launch_bounds__(kDqlThreads) dynamicQuantStatsKernel(const float* x, int64_t n, float* scaleOut,
                                                                        uint8_t* zpOut) {
  float mx = 0.0f, mn = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = x[i];
    mx = fmaxf(mx, v);  // std::max(mx, NaN) keeps mx too
    mn = fminf(mn, v);
  }
  __shared__ float smax[kDqlThreads / 32], smin[kDqlThreads / 32];
  for (int off = 16; off > 0; off >>= 1) {
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
    mn = fminf(mn, __shfl_xor_sync(0xffffffffu, mn, off));
  }
  if ((threadIdx.x & 31) == 0) {
    smax[threadIdx.x >> 5] = mx;
    smin[threadIdx.x >> 5] = mn;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) {
      mx = fmaxf(mx, smax[w]);
      mn = fminf(mn, smin[w]);
    }
    const float scale = __fdiv_rn(mx == mn ? 1.0f : __fsub_rn(mx, mn), 255.0f);
    float zpf = __fsub_rn(0.0f, __fdiv_rn(mn, scale));
    zpf = zpf < 0.0f ? 0.0f : (zpf > 255.0f ? 255.0f : zpf);
    *scaleOut = scale;
    *zpOut = static_cast<uint8_t>(rintf(zpf));
  }
}

// Step 2: y = saturate(round(x / scale) + zero_point), NaN -> 0.
__global__ void dynamicQuantApplyKernel(const float* x, int64_t n, const float* scale, const uint8_t* zp, uint8_t* y) {
  const float sc = *scale, z = static_cast<float>(*zp);
  KILN_GRID_STRIDE_LOOP(i, n) {
    const float v = __fadd_rn(rintf(__fdiv_rn(x[i], sc)), z);
    y[i] = static_cast<uint8_t>(isnan(v) ? 0.0f : (v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v)));
  }
}

}  // namespace

cudaError_t launchQuantizeGeneral(const QuantGeneralParams& p, bool quantize, cudaStream_t s) {
  if (p.n <= 0) return cudaSuccess;
  if (p.inner < 1 || p.extent < 1 || p.block < 1) return cudaErrorInvalidValue;
  const unsigned grid = blocksFor(p.n, kThreads, p.maxBlocks);
  if (quantize) quantizeGeneralKernel<<<grid, kThreads, 0, s>>>(p);
  else dequantizeGeneralKernel<<<grid, kThreads, 0, s>>>(p);
  return cudaGetLastError();
}

cudaError_t launchDynamicQuantize(const float* x, int64_t n, uint8_t* y, float* scale, uint8_t* zeroPoint,
                                  int maxBlocks, cudaStream_t s) {
  dynamicQuantStatsKernel<<<1, kDqlThreads, 0, s>>>(x, n, scale, zeroPoint);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess || n <= 0) return e;
  dynamicQuantApplyKernel<<<blocksFor(n, kThreads, maxBlocks), kThreads, 0, s>>>(x, n, scale, zeroPoint, y);
  return cudaGetLastError();
}

}  // namespace kiln::cuda::eltwise
