// The exact softmax of the short-sequence attention kernels (attention_resident.cu on mma.sync,
// sm90/attention_wgmma.cu on wgmma): a warp's 16 query rows over all 128 keys, held in registers as
// 16 accumulator tiles of 8 keys (s[j][e]: row g + 8 (e / 2), key 8 j + 2 t + e % 2, g = lane / 4,
// t = lane % 4 — the layout of both mma.sync's C fragment and wgmma's accumulator). The result is
// P as packed 16-bit A fragments of P V (pf[kk]: keys 16 kk..16 kk + 15; the C fragments of two
// 8-key tiles are the A fragment of one 16-key step) and each row's sum, to divide O by at the end.
//
// Per score: one FFMA for scale + mask (the per-key mask staged in shared memory in the log2
// domain, -inf past Skv), ex2.approx.ftz (one MUFU op). kMask 2 adds a general mask read per
// score; kCausal masks keys past the row. A row whose keys are all masked gives P = 0 (and a zero
// sum), never NaN.
#pragma once

#include "backends/cuda/kernels/attention_common.cuh"
#include "backends/cuda/kernels/attention_mma.cuh"

namespace kiln::cuda::attn {

__device__ __forceinline__ float ex2Approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// rowA: the query row of the thread's g (rowA + 8 is its other row); mBase: the (b, h) offset of a
// kMask 2 mask; skv: keys that exist.
template <typename T, int kMask, bool kCausal>
__device__ __forceinline__ void softmaxRows(float (&s)[16][4], const float* sMask, const AttnParams& p, int64_t mBase,
                                            int rowA, int skv, int t, uint32_t (&pf)[8][4], float (&lRow)[2]) {
  // Scores in the log2 domain and the row maxima of the thread's two rows.
  const float scaleLog2 = p.scale * kLog2e;
  float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const int col = j * 8 + 2 * t;
    const float2 mk = *reinterpret_cast<const float2*>(sMask + col);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int r = e >> 1;
      float v = fmaf(s[j][e], scaleLog2, (e & 1) ? mk.y : mk.x);
      if constexpr (kMask == 2) {
        if (col + (e & 1) < skv && rowA + 8 * r < p.Sq) v += maskAt(p, mBase, rowA + 8 * r, col + (e & 1)) * kLog2e;
      }
      if constexpr (kCausal) {
        if (col + (e & 1) > rowA + 8 * r) v = -INFINITY;
      }
      s[j][e] = v;
      mx[r] = fmaxf(mx[r], v);
    }
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    if (mx[r] == -INFINITY) mx[r] = 0.0f;  // all keys masked: exp2(-inf) = 0, no NaN
    lRow[r] = 0.0f;
  }
  // P = exp2(S - max) as packed halves, and the row sums.
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    float e4[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      e4[e] = ex2Approx(s[j][e] - mx[e >> 1]);
      lRow[e >> 1] += e4[e];
    }
    pf[j >> 1][(j & 1) * 2] = packF<T>(e4[0], e4[1]);
    pf[j >> 1][(j & 1) * 2 + 1] = packF<T>(e4[2], e4[3]);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    lRow[r] += __shfl_xor_sync(0xffffffffu, lRow[r], 1);
    lRow[r] += __shfl_xor_sync(0xffffffffu, lRow[r], 2);
  }
}

}  // namespace kiln::cuda::attn
