// Device helpers shared by the attention kernels: mask reads and per-(batch, head) addressing.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

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

// Which (query block, batch, head, key/value head) a block of the tiled kernels owns, its index
// decomposed as blockGrid lays the grid out (query block fastest), walked from the end: the
// projection GEMM before attention writes the last batches last, so they are the likeliest still
// in L2 when the first blocks start (H100, BERT-base b64 fp16, alternating with and without:
// 3.000/3.012/2.976 against 3.004/3.012/3.036 ms), and a causal grid starts with its longest
// query blocks. In 32 bits: the grid is below 2^31 blocks (blockGrid checks), and 64-bit divisions
// are calls of ~70 instructions, four per warp, about a tenth of the short-sequence kernel's
// instructions.
struct BlockCoords {
  int mb;             // query block
  int64_t b, h, kh;   // batch, query head, key/value head
};
__device__ __forceinline__ BlockCoords blockCoords(const AttnParams& p, int mBlocks) {
  const unsigned blk = gridDim.x - 1 - blockIdx.x, bh = blk / static_cast<unsigned>(mBlocks);
  const unsigned hq = static_cast<unsigned>(p.Hq), b = bh / hq, h = bh - b * hq;
  const unsigned kh = h / (hq / static_cast<unsigned>(p.Hkv));
  return {static_cast<int>(blk - bh * static_cast<unsigned>(mBlocks)), b, h, kh};
}

// Launch side of the tiled kernels: a block per (query block of rowsPerBlock rows, head, batch),
// the query block fastest. *blocks = 0: nothing to launch.
inline cudaError_t blockGrid(const AttnParams& p, int rowsPerBlock, dim3* grid, int* mBlocks) {
  const int64_t mb = (p.Sq + rowsPerBlock - 1) / rowsPerBlock;
  const int64_t blocks = mb * p.Hq * p.B;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  *grid = dim3(static_cast<unsigned>(blocks));
  *mBlocks = static_cast<int>(mb);
  return cudaSuccess;
}

// Calls launch(std::integral_constant<int, kMask>{}) with the kernels' mask template argument:
// 0 no mask; 1 constant along the query axis (BERT's [B, 1, 1, S]); 2 any other mask.
template <class Launch>
cudaError_t dispatchMaskKind(const AttnParams& p, Launch&& launch) {
  if (p.maskKind == AttnMaskKind::kNone) return launch(std::integral_constant<int, 0>{});
  if (p.mS == 0) return launch(std::integral_constant<int, 1>{});
  return launch(std::integral_constant<int, 2>{});
}

}  // namespace kiln::cuda::attn
