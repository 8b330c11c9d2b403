// Self-attention with its Q/K/V projection in one Hopper kernel (qkv_attention_wgmma.cu, compiled
// for sm_90a only): Y = Attention(X Wq + bq, X Wk + bk, X Wv + bv, mask) for head size 64 and at
// most 128 tokens a sequence, without the projected Q/K/V ever reaching global memory. Callers
// check the device is compute capability 9.0 first.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backends/cuda/kernels/attention_kernels.h"

namespace kiln::cuda {

// Columns of one head in the packed weight: [Q_h | K_h | V_h], 64 each.
constexpr int64_t kQkvHeadCols = 192;

struct QkvAttnArgs {
  const void* x = nullptr;     // [B * S, hidden] row-major, row stride ldx elements
  int64_t ldx = 0;
  const void* w = nullptr;     // packQkvWeights' layout: [H][192][hidden] (K-major per head)
  const void* bias = nullptr;  // [H][192] in the same column order, or null
  int64_t hidden = 0;          // the projection's K; a multiple of 64
  void* y = nullptr;           // [B * S, H * 64], row stride ldy elements
  int64_t ldy = 0;
  // B, Hq (== Hkv: no grouped heads), Sq == Skv == S, D == Dv == 64, the mask (kinds and strides
  // as the attention kernels take them), scale, pdl; q/k/v and their strides are not used.
  AttnParams attn;
};

// Whether the fused kernel handles this problem (float16; shapes, alignment).
bool qkvAttentionWgmmaHandles(const QkvAttnArgs& a, DType t);
cudaError_t launchQkvAttentionWgmma(const QkvAttnArgs& a, DType t, cudaStream_t stream);

// Reorders a projection weight W [hidden, H * 192] whose columns are [Q (H x 64) | K | V] (the
// packed-QKV GEMM's B) into [H][192][hidden]: head h's Q, K and V columns, transposed so each is a
// K-major row. `elemBytes` is 2 (float16/bfloat16). dst holds hidden * H * 192 elements.
void packQkvWeights(const void* src, void* dst, int64_t hidden, int64_t heads, size_t elemBytes);
// The bias [H * 192] in the same head-major order.
void packQkvBias(const void* src, void* dst, int64_t heads, size_t elemBytes);

}  // namespace kiln::cuda
