// Host-callable launchers of the LLM building blocks (kernels in llm_ops.cu, validation and
// registration in llm_ops.cc): RotaryEmbedding, SwiGLU, TensorScatter, CausalConvWithState and
// LinearAttention. Plain data only: this header is the boundary between nvcc (no Tensor/Status)
// and the host compiler. Launchers return cudaSuccess, the launch error, or cudaErrorInvalidValue
// for an argument llm_ops.cc should have refused.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace kiln::cuda::llm {

// Element types these kernels compute on (float64: SwiGLU only, like the CPU reference).
enum class LlmType : int { kF32, kF16, kBF16, kF64 };

// ---- RotaryEmbedding ----------------------------------------------------------------------------
// x and y: (B, H, S, hd) when is4d, else (B, S, H * hd). Caches (B, S, rot/2) without position
// ids, else (maxPos, rot/2) indexed by pos (B, S) int64 on the device; a negative id counts from
// the end. An id outside [-maxPos, maxPos) (an error on the CPU, which an enqueue cannot report)
// leaves that row's values unrotated.
struct RotaryArgs {
  const void* x = nullptr;
  const void* cosCache = nullptr;
  const void* sinCache = nullptr;
  const int64_t* pos = nullptr;  // nullptr: no position_ids
  void* y = nullptr;
  LlmType type = LlmType::kF32;  // kF32, kF16 or kBF16
  int64_t batch = 0, seq = 0, heads = 0, headDim = 0, rotDim = 0, maxPos = 0;
  bool is4d = true;
  bool interleaved = false;
};
cudaError_t launchRotary(const RotaryArgs& a, cudaStream_t s);

// ---- SwiGLU -------------------------------------------------------------------------------------
// y = a * sigmoid(alpha * a) * b, element-wise over n elements.
struct SwiGluArgs {
  const void* a = nullptr;
  const void* b = nullptr;
  void* y = nullptr;
  LlmType type = LlmType::kF32;
  int64_t n = 0;
  float alpha = 1.0f;
};
cudaError_t launchSwiGlu(const SwiGluArgs& a, cudaStream_t s);

// ---- TensorScatter ------------------------------------------------------------------------------
// out = cache (copied unless they are the same buffer), then update rows written along the axis:
// cache viewed as (outer, maxLen, inner), update as (outer, len, inner), outer = batch * perBatch.
// writeIndices (batch) int64 on the device, nullptr = all zeros. In linear mode a batch whose
// index does not fit (an error on the CPU) keeps its cache rows.
struct TensorScatterArgs {
  const void* cache = nullptr;
  const void* update = nullptr;
  const int64_t* writeIndices = nullptr;
  void* out = nullptr;
  int elemSize = 4;  // 1, 2, 4 or 8 bytes
  int64_t batch = 0, perBatch = 1, maxLen = 0, len = 0, inner = 1;
  bool circular = false;
};
cudaError_t launchTensorScatter(const TensorScatterArgs& a, cudaStream_t s);

// ---- CausalConvWithState ------------------------------------------------------------------------
// Depthwise causal conv over x (B, C, L) with weight (C, 1, K), optional bias (C) and past state
// (B, C, K-1); y (B, C, L); present (B, C, K-1) or nullptr.
struct CausalConvArgs {
  const void* x = nullptr;
  const void* weight = nullptr;
  const void* bias = nullptr;
  const void* past = nullptr;
  void* y = nullptr;
  void* present = nullptr;
  LlmType type = LlmType::kF32;  // kF32, kF16 or kBF16
  int64_t batch = 0, channels = 0, length = 0, kernel = 1;
  bool silu = false;
};
cudaError_t launchCausalConv(const CausalConvArgs& a, cudaStream_t s);

// ---- LinearAttention ----------------------------------------------------------------------------
// q (B, T, hq*dk), k (B, T, hkv*dk), v (B, T, hkv*dv), past/present state (B, hkv, dk, dv),
// decay (B, T, hkv or hkv*dk), beta (B, T, hkv or 1), out (B, T, hq*dv). One block per
// (batch, kv head, slice of value columns) walks the sequence; each thread owns one column of the
// float state in shared memory.
struct LinearAttentionArgs {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const void* past = nullptr;   // nullptr: zero initial state
  const void* decay = nullptr;  // gated rules only
  const void* beta = nullptr;   // delta rules only
  void* out = nullptr;
  void* present = nullptr;  // nullptr: not requested
  LlmType type = LlmType::kF32;       // q, k, v, decay, beta, out: kF32, kF16 or kBF16
  LlmType stateType = LlmType::kF32;  // past and present
  int64_t batch = 0, seq = 0, qHeads = 1, kvHeads = 1, dk = 0, dv = 0;
  int64_t decayLast = 0;  // kvHeads (one decay per head) or kvHeads * dk
  int64_t betaLast = 0;   // kvHeads or 1
  bool gating = false, delta = false;
  float scale = 1.0f;
};
// The value columns one block handles (0 if dk and the head group do not fit shared memory).
int linearAttentionColumns(int64_t dk, int64_t dv, int64_t group);
cudaError_t launchLinearAttention(const LinearAttentionArgs& a, cudaStream_t s);

}  // namespace kiln::cuda::llm
