// Fused scaled-dot-product attention kernels (launch side, POD arguments; see attention_*.cu).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

// attn_mask element type as the kernels read it. The flash and tiled kernels read the first four
// kinds; the others (ONNX allows any numeric mask) only the full kernel (attention_full.cu).
enum class AttnMaskKind : int {
  kNone = 0, kBool = 1, kFloat32 = 2, kFloat16 = 3, kBFloat16 = 4,
  kFloat64 = 5, kInt8 = 6, kUInt8 = 7, kInt16 = 8, kUInt16 = 9, kInt32 = 10, kUInt32 = 11, kInt64 = 12, kUInt64 = 13
};

// Rounding of intermediate values to a narrower float type, as the CPU reference rounds them.
enum class AttnRound : int { kNone = 0, kHalf = 1, kBFloat16 = 2 };

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

  // What only the full kernel implements (launchAttentionFull; attentionNeedsFull says when a
  // run needs it). Keys j < Tp come from the past tensors ((B, Hkv, Tp, D or Dv), contiguous),
  // keys Tp + j from K/V above: T = Tp + Skv keys in all, and the mask strides count over T.
  const void* pastK = nullptr;
  const void* pastV = nullptr;
  int64_t Tp = 0;
  void* presentK = nullptr;  // (B, Hkv, T, D) = concat(past, K); written by launchAttentionPresent
  void* presentV = nullptr;
  void* qk = nullptr;        // qk_matmul_output (B, Hq, Sq, T), or null
  int qkMode = 0;            // 0: scaled QK^T, 1: after softcap, 2: after the mask/bias, 3: softmax
  float softcap = 0.0f;      // > 0: s = softcap * tanh(s / softcap), before the mask
  float sqrtScale = 1.0f;    // Q and K are each scaled by it (rounded to the I/O type); scale = its square
  int64_t left = -1, right = -1;      // sliding window sizes, -1 = unbounded
  const int64_t* nonpad = nullptr;    // nonpad_kv_seqlen (B), device
  AttnRound roundStorage = AttnRound::kNone;  // the I/O type's rounding
  AttnRound roundSoftmax = AttnRound::kNone;  // softmax_precision's rounding
  bool pdl = false;  // the resident and flash kernels launch with PDL (pdl.cuh)
};

// Largest head size the generic kernel handles.
constexpr int64_t kAttnGenericMaxHead = 256;

// Tensor-core flash attention (float16/bfloat16; D == Dv in {32, 64, 128}; 16-byte aligned
// pointers and strides that are multiples of 8 elements). attentionFlashHandles says whether p fits.
bool attentionFlashHandles(const AttnParams& p, DType t);
cudaError_t launchAttentionFlash(const AttnParams& p, DType t, cudaStream_t stream);
// The short-sequence tensor-core kernel (attention_resident.cu): what the flash kernel handles with
// D in {32, 64} and Skv <= 128, the whole K/V of a head resident in shared memory.
bool attentionResidentHandles(const AttnParams& p, DType t);
cudaError_t launchAttentionResident(const AttnParams& p, DType t, cudaStream_t stream);

// SIMT kernels (float32/float16/bfloat16, D and Dv <= kAttnGenericMaxHead), float accumulation:
// tiled through shared memory (the generic tactic), and a simpler one warp per query row kept to
// cross-check it.
cudaError_t launchAttentionGeneric(const AttnParams& p, DType t, cudaStream_t stream);
cudaError_t launchAttentionRowwise(const AttnParams& p, DType t, cudaStream_t stream);

// Whether p uses a feature only the full kernel implements: past keys, qk_matmul_output, softcap,
// sliding windows, nonpad_kv_seqlen, a mask of another numeric type, or a softmax_precision that
// rounds differently from the I/O type.
bool attentionNeedsFull(const AttnParams& p);
// The full kernel: every feature of ONNX Attention, with the CPU reference's order of operations
// and its rounding of intermediate values to the I/O type (attention_full.cu). One warp per query
// row; float32/float16/bfloat16, D and Dv <= kAttnGenericMaxHead.
cudaError_t launchAttentionFull(const AttnParams& p, DType t, cudaStream_t stream);
// present_key/present_value = concat(past, K or V) along the sequence axis, where requested.
cudaError_t launchAttentionPresent(const AttnParams& p, DType t, cudaStream_t stream);

}  // namespace kiln::cuda
