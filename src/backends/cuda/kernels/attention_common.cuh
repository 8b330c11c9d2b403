// Device helpers shared by the attention kernels: mask reads and per-(batch, head) addressing.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "backends/cuda/kernels/attention_kernels.h"

namespace kiln::cuda::attn {

constexpr float kLog2e = 1.4426950408889634f;

// Additive mask value at (b, h, i, j) (bool: 0 where true, -inf where false); j >= maskLen is -inf.
__device__ __forceinline__ float maskAt(const AttnParams& p, int64_t mBase, int64_t i, int64_t j) {
  if (j >= p.maskLen) return -INFINITY;
  const int64_t off = mBase + i * p.mS + j * p.mJ;
  switch (p.maskKind) {
    case AttnMaskKind::kBool: return static_cast<const bool*>(p.mask)[off] ? 0.0f : -INFINITY;
    case AttnMaskKind::kFloat32: return static_cast<const float*>(p.mask)[off];
    case AttnMaskKind::kFloat16: return __half2float(static_cast<const __half*>(p.mask)[off]);
    case AttnMaskKind::kBFloat16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p.mask)[off]);
    default: return 0.0f;
  }
}

template <typename T>
__device__ __forceinline__ float toF(T v) {
  if constexpr (std::is_same_v<T, __half>) return __half2float(v);
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return __bfloat162float(v);
  else return static_cast<float>(v);
}

template <typename T>
__device__ __forceinline__ T fromF(float v) {
  if constexpr (std::is_same_v<T, __half>) return __float2half_rn(v);
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return __float2bfloat16_rn(v);
  else return v;
}

}  // namespace kiln::cuda::attn
