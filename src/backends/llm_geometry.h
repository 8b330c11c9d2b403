// Shape and attribute validation of the LLM building-block ops (RotaryEmbedding, TensorScatter,
// CausalConvWithState, LinearAttention), shared by the CPU kernels and the CUDA kernels so both
// backends accept exactly the same runs and say the same thing about the others. Each function
// checks the run's tensors (dims and types, not data) and fills the geometry the kernels index by.
#pragma once

#include <cstdint>

#include "core/attributes.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::backends {

struct RotaryGeometry {
  bool is4d = false;         // X is (B, H, S, D), else (B, S, H * D)
  bool interleaved = false;  // rotate pairs (2i, 2i + 1), else (i, i + rot / 2)
  int64_t batch = 0, seq = 0, heads = 0, headDim = 0, rotDim = 0;
  int64_t maxPos = 0;  // cached positions when position_ids index the caches, else 0
};
// Inputs X, cos_cache, sin_cache and the optional position_ids (values are not checked here).
Status rotaryGeometry(const AttrMap& a, const Tensor& x, const Tensor& cosCache, const Tensor& sinCache,
                      const Tensor* positionIds, RotaryGeometry* g);

struct TensorScatterGeometry {
  int axis = 0;  // the sequence axis (>= 1)
  bool circular = false;
  int64_t batch = 0, maxLen = 0, len = 0;
  int64_t outer = 1, inner = 1;  // elements before the axis (batch first) and after it
  int64_t perBatch = 1;          // outer / batch
};
// Inputs past_cache, update and the optional write_indices (int64, one per batch).
Status tensorScatterGeometry(const AttrMap& a, const Tensor& cache, const Tensor& update, const Tensor* writeIndices,
                             TensorScatterGeometry* g);

struct CausalConvGeometry {
  int64_t batch = 0, channels = 0, length = 0, kernel = 0;
  bool silu = false;
};
// Inputs X (B, C, L), weight (C, 1, K), the optional bias (C) and past_state (B, C, K - 1).
Status causalConvGeometry(const AttrMap& a, const Tensor& x, const Tensor& weight, const Tensor* bias,
                          const Tensor* past, CausalConvGeometry* g);

struct LinearAttentionGeometry {
  int64_t batch = 0, steps = 0, qHeads = 0, kvHeads = 0, dk = 0, dv = 0;
  bool gating = false, delta = false;  // from update_rule
  int64_t decayLast = 0;               // decay's last dim: kvHeads (per head) or kvHeads * dk
  int64_t betaLast = 0;                // beta's last dim: kvHeads or 1
  float scale = 1.0f;                  // the attribute, or 1 / sqrt(dk) where it is 0
};
// Inputs query, key, value and the optional past_state, decay and beta.
Status linearAttentionGeometry(const AttrMap& a, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* past,
                               const Tensor* decay, const Tensor* beta, LinearAttentionGeometry* g);

}  // namespace kiln::backends
