// QuantizeLinear / DequantizeLinear (see eltwise_quant.h). Semantics of the CPU reference
// (backends/cpu/kernels/quantization.cc): the quotient is computed in float (rounded to the
// division's precision), rounded half to even, the zero point added in double, NaN -> 0, then
// clamped to the quantized type's range.
#include <limits>

#include "backends/cuda/kernels/eltwise_chain.cuh"
#include "backends/cuda/kernels/eltwise_quant.h"

namespace kiln::cuda::eltwise {

namespace {

__device__ __forceinline__ float roundToPrecision(float v, DType precision) {
  if (precision == DType::kFloat16) return __half2float(__float2half_rn(v));
  if (precision == DType::kBFloat16) return __bfloat162float(__float2bfloat16_rn(v));
  return v;
}

template <typename X, typename S, typename Q, typename Index>
__global__ void __launch_bounds__(kBlock) quantizeKernel(const __grid_constant__ QuantParams p) {
  const X* x = static_cast<const X*>(p.x);
  const S* scale = static_cast<const S*>(p.scale);
  const Q* zp = static_cast<const Q*>(p.zeroPoint);
  Q* y = static_cast<Q*>(p.y);
  const Index n = static_cast<Index>(p.n), inner = static_cast<Index>(p.inner), extent = static_cast<Index>(p.extent);
  const Index stride = static_cast<Index>(gridDim.x) * static_cast<Index>(blockDim.x);
  constexpr double lo = static_cast<double>(std::numeric_limits<Q>::lowest());
  constexpr double hi = static_cast<double>(std::numeric_limits<Q>::max());
  for (Index i = static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) + static_cast<Index>(threadIdx.x); i < n;
       i += stride) {
    const Index si = extent == 1 ? Index(0) : (i / inner) % extent;
    const float sc = convertTo<float>(scale[si]);
    const double z = zp ? static_cast<double>(zp[si]) : 0.0;
    const float q = roundToPrecision(convertTo<float>(x[i]) / sc, p.precision);
    double v = static_cast<double>(rintf(q)) + z;
    if (isnan(v)) v = 0;
    v = v < lo ? lo : (v > hi ? hi : v);
    y[i] = static_cast<Q>(static_cast<int64_t>(v));
  }
}

template <typename X, typename S, typename Y, typename Index>
__global__ void __launch_bounds__(kBlock) dequantizeKernel(const __grid_constant__ QuantParams p) {
  const X* x = static_cast<const X*>(p.x);
  const S* scale = static_cast<const S*>(p.scale);
  const X* zp = static_cast<const X*>(p.zeroPoint);
  Y* y = static_cast<Y*>(p.y);
  const Index n = static_cast<Index>(p.n), inner = static_cast<Index>(p.inner), extent = static_cast<Index>(p.extent);
  const Index stride = static_cast<Index>(gridDim.x) * static_cast<Index>(blockDim.x);
  for (Index i = static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) + static_cast<Index>(threadIdx.x); i < n;
       i += stride) {
    const Index si = extent == 1 ? Index(0) : (i / inner) % extent;
    const float sc = convertTo<float>(scale[si]);
    const float z = zp ? static_cast<float>(zp[si]) : 0.f;
    y[i] = convertTo<Y>((static_cast<float>(x[i]) - z) * sc);
  }
}

template <typename F>
bool dispatchHalfFloat(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32: f(float{}); return true;
    case DType::kFloat16: f(__half{}); return true;
    case DType::kBFloat16: f(__nv_bfloat16{}); return true;
    default: return false;
  }
}

}  // namespace

cudaError_t launchQuantize(const QuantParams& p, cudaStream_t s) {
  if (p.n <= 0) return cudaSuccess;
  if (p.inner < 1 || p.extent < 1) return cudaErrorInvalidValue;
  cudaError_t e = cudaErrorInvalidValue;
  const bool small = p.n < (int64_t{1} << 30);
  dispatchHalfFloat(p.xType, [&](auto xt) {
    using X = decltype(xt);
    dispatchHalfFloat(p.scaleType, [&](auto st) {
      using S = decltype(st);
      auto go = [&](auto qt) {
        using Q = decltype(qt);
        const unsigned grid = gridFor(p.n, p.maxBlocks);
        if (small) quantizeKernel<X, S, Q, int32_t><<<grid, kBlock, 0, s>>>(p);
        else quantizeKernel<X, S, Q, int64_t><<<grid, kBlock, 0, s>>>(p);
        e = cudaGetLastError();
      };
      if (p.yType == DType::kInt8) go(int8_t{});
      else if (p.yType == DType::kUInt8) go(uint8_t{});
    });
  });
  return e;
}

cudaError_t launchDequantize(const QuantParams& p, cudaStream_t s) {
  if (p.n <= 0) return cudaSuccess;
  if (p.inner < 1 || p.extent < 1) return cudaErrorInvalidValue;
  cudaError_t e = cudaErrorInvalidValue;
  const bool small = p.n < (int64_t{1} << 30);
  auto withX = [&](auto xt) {
    using X = decltype(xt);
    dispatchHalfFloat(p.scaleType, [&](auto st) {
      using S = decltype(st);
      dispatchHalfFloat(p.yType, [&](auto yt) {
        using Y = decltype(yt);
        const unsigned grid = gridFor(p.n, p.maxBlocks);
        if (small) dequantizeKernel<X, S, Y, int32_t><<<grid, kBlock, 0, s>>>(p);
        else dequantizeKernel<X, S, Y, int64_t><<<grid, kBlock, 0, s>>>(p);
        e = cudaGetLastError();
      });
    });
  };
  switch (p.xType) {
    case DType::kInt8: withX(int8_t{}); break;
    case DType::kUInt8: withX(uint8_t{}); break;
    case DType::kInt32: withX(int32_t{}); break;
    default: break;
  }
  return e;
}

}  // namespace kiln::cuda::eltwise
