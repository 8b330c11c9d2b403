// Fused scaled-dot-product attention kernels (launch side, POD arguments; see attention_*.cu).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

// attn_mask element type as the kernels read it.
enum class AttnMaskKind : int { kNone = 0, kBool = 1, kFloat32 = 2, kFloat16 = 3, kBFloat16 = 4 };

// Y[b, h, i, :] = softmax_j(scale * Q[b,h,i,:] . K[b,kh,j,:] + mask[b,h,i,j]) V[b,kh,j,:], with
// kh = h / (Hq / Hkv). Strides are in elements for (batch, head, seq); the head dim is contiguous.
// mask: strides over (b, h, i, j), 0 on broadcast axes; keys j >= maskLen are masked (-inf).
// causal: keys j > i are masked. A query row whose keys are all masked gives zeros.
struct AttnParams {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* y = nullptr;
  const void* mask = nullptr;
  AttnMaskKind maskKind = AttnMaskKind::kNone;
  int64_t B = 0, Hq = 0, Hkv = 0, Sq = 0, Skv = 0, D = 0, Dv = 0;
  int64_t qB = 0, qH = 0, qS = 0, kB = 0, kH = 0, kS = 0, vB = 0, vH = 0, vS = 0, yB = 0, yH = 0, yS = 0;
  int64_t mB = 0, mH = 0, mS = 0, mJ = 0, maskLen = 0;
  float scale = 1.0f;
  int causal = 0;
};

// Largest head size the generic kernel handles.
constexpr int64_t kAttnGenericMaxHead = 256;

// Tensor-core flash attention (float16/bfloat16; D == Dv in {32, 64, 128}; 16-byte aligned
// pointers and strides that are multiples of 8 elements). attentionFlashHandles says whether p fits.
bool attentionFlashHandles(const AttnParams& p, DType t);
cudaError_t launchAttentionFlash(const AttnParams& p, DType t, cudaStream_t stream);

// SIMT kernels (float32/float16/bfloat16, D and Dv <= kAttnGenericMaxHead), float accumulation:
// tiled through shared memory (the generic tactic), and a simpler one warp per query row kept to
// cross-check it.
cudaError_t launchAttentionGeneric(const AttnParams& p, DType t, cudaStream_t stream);
cudaError_t launchAttentionRowwise(const AttnParams& p, DType t, cudaStream_t stream);

}  // namespace kiln::cuda
