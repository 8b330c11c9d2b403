// POD launch interface of the CUDA QuantizeLinear / DequantizeLinear kernels (per-tensor and
// per-axis scales; int8/uint8 quantized values; int32 for dequantization).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda::eltwise {

struct QuantParams {
  const void* x = nullptr;
  const void* scale = nullptr;  // device; one value, or `extent` values (per axis)
  const void* zeroPoint = nullptr;  // device, same layout as scale; null = 0
  void* y = nullptr;
  int64_t n = 0;
  int64_t inner = 1;   // per axis: scale index = (i / inner) % extent
  int64_t extent = 1;  // 1 = per tensor
  DType xType = DType::kUndefined, scaleType = DType::kUndefined, yType = DType::kUndefined;
  // QuantizeLinear: the precision of the division (float32, or float16/bfloat16 when x and the
  // scale are both of that type: the quotient is rounded to it, as the CPU reference does).
  DType precision = DType::kFloat32;
  int32_t maxBlocks = 1024;
};

// y = saturate(round_half_even(x / scale) + zero_point) for x float32/float16/bfloat16, scale
// float32/float16/bfloat16, y int8/uint8 (a NaN quotient gives 0, as the CPU reference).
cudaError_t launchQuantize(const QuantParams& p, cudaStream_t s);
// y = (x - zero_point) * scale for x int8/uint8/int32, y float32/float16/bfloat16.
cudaError_t launchDequantize(const QuantParams& p, cudaStream_t s);

// The general kernels (eltwise_quant_general.cu): any layout, any quantized type of the CPU
// reference, e8m0 scales, `precision`; types read at run time.
struct QuantGeneralParams {
  enum Kind : int32_t { kTensor, kAxis, kBlocked } kind = kTensor;
  const void* x = nullptr;
  const void* scale = nullptr;
  const void* zeroPoint = nullptr;  // null = 0
  void* y = nullptr;
  int64_t n = 0;
  // x viewed as [outer, extent, inner] around the axis; blocked scales as
  // [outer, scaleExtent = ceil(extent / block), inner].
  int64_t extent = 1, inner = 1, block = 1, scaleExtent = 1;
  DType xType = DType::kUndefined, scaleType = DType::kUndefined, yType = DType::kUndefined;
  DType precision = DType::kFloat32;  // QuantizeLinear: the division's precision
  bool explicitPrecision = false;     // x is rounded to `precision` too
  bool saturate = true;               // fp8 results
  int32_t maxBlocks = 1024;
};
cudaError_t launchQuantizeGeneral(const QuantGeneralParams& p, bool quantize, cudaStream_t s);

// DynamicQuantizeLinear of float32 x into uint8 y, writing the scale and zero point (device).
cudaError_t launchDynamicQuantize(const float* x, int64_t n, uint8_t* y, float* scale, uint8_t* zeroPoint,
                                  int maxBlocks, cudaStream_t s);

}  // namespace kiln::cuda::eltwise
