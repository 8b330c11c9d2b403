// Validation of the LLM building-block ops shared by the CPU and CUDA kernels (llm_geometry.h).
#include "backends/llm_geometry.h"

#include <cmath>
#include <string>

namespace kiln::backends {

Status rotaryGeometry(const AttrMap& a, const Tensor& x, const Tensor& cosCache, const Tensor& sinCache,
                      const Tensor* positionIds, RotaryGeometry* g) {
  if (cosCache.dtype() != x.dtype() || sinCache.dtype() != x.dtype())
    return InvalidArgument("RotaryEmbedding caches {} / {} differ in type from the input {}", cosCache.describe(),
                           sinCache.describe(), x.describe());
  if (positionIds && positionIds->dtype() != DType::kInt64)
    return InvalidArgument("RotaryEmbedding position_ids must be int64, got {}", positionIds->describe());
  const Dims& xd = x.dims();
  if (xd.rank() != 3 && xd.rank() != 4)
    return InvalidArgument("RotaryEmbedding input must be 3-D or 4-D, got {}", xd.toString());
  g->is4d = xd.rank() == 4;
  g->interleaved = a.getInt("interleaved") != 0;
  g->batch = xd[0];
  g->seq = g->is4d ? xd[2] : xd[1];
  g->heads = g->is4d ? xd[1] : a.getInt("num_heads", 0);
  if (g->heads <= 0 || (!g->is4d && xd[2] % g->heads != 0))
    return InvalidArgument("RotaryEmbedding: hidden size {} is not divisible by num_heads {}", xd[2], g->heads);
  g->headDim = g->is4d ? xd[3] : xd[2] / g->heads;
  const int64_t rotAttr = a.getInt("rotary_embedding_dim");
  g->rotDim = rotAttr ? rotAttr : g->headDim;
  if (g->rotDim > g->headDim || g->rotDim % 2 != 0 || g->rotDim < 0)
    return InvalidArgument("RotaryEmbedding rotary dim {} must be even and at most the head size {}", g->rotDim,
                           g->headDim);
  const int64_t half = g->rotDim / 2;
  if (cosCache.dims() != sinCache.dims())
    return InvalidArgument("RotaryEmbedding cos_cache {} and sin_cache {} differ in shape", cosCache.dims().toString(),
                           sinCache.dims().toString());
  const Dims& cd = cosCache.dims();
  g->maxPos = 0;
  if (positionIds) {
    if (cd.rank() != 2 || cd[1] != half)
      return InvalidArgument("RotaryEmbedding caches must have shape (max_position, {}) with position_ids, got {}",
                             half, cd.toString());
    if (positionIds->dims() != Dims{g->batch, g->seq})
      return InvalidArgument("RotaryEmbedding position_ids must have shape ({}, {}), got {}", g->batch, g->seq,
                             positionIds->dims().toString());
    g->maxPos = cd[0];
  } else if (cd != Dims{g->batch, g->seq, half}) {
    return InvalidArgument("RotaryEmbedding caches must have shape ({}, {}, {}) without position_ids, got {}", g->batch,
                           g->seq, half, cd.toString());
  }
  return Status::OK();
}

Status tensorScatterGeometry(const AttrMap& a, const Tensor& cache, const Tensor& update, const Tensor* writeIndices,
                             TensorScatterGeometry* g) {
  const Dims &cd = cache.dims(), &ud = update.dims();
  const int rank = cd.rank();
  if (rank < 2 || ud.rank() != rank || update.dtype() != cache.dtype())
    return InvalidArgument("TensorScatter past_cache {} and update {} are incompatible", cache.describe(),
                           update.describe());
  int64_t axis = a.getInt("axis");
  if (axis < -rank || axis >= rank) return InvalidArgument("TensorScatter axis {} is out of range for rank {}", axis, rank);
  if (axis < 0) axis += rank;
  if (axis == 0) return InvalidArgument("TensorScatter axis cannot be 0 (the batch dimension)");
  for (int i = 0; i < rank; ++i)
    if (i == axis ? ud[i] > cd[i] : ud[i] != cd[i])
      return InvalidArgument("TensorScatter update {} does not fit past_cache {} (axis {})", ud.toString(),
                             cd.toString(), axis);
  const std::string& mode = a.getString("mode");
  if (mode != "linear" && mode != "circular")
    return InvalidArgument("TensorScatter mode must be 'linear' or 'circular', got '{}'", mode);
  g->axis = static_cast<int>(axis);
  g->circular = mode == "circular";
  g->batch = cd[0];
  g->maxLen = cd[axis];
  g->len = ud[axis];
  if (writeIndices && (writeIndices->dims() != Dims{g->batch} || writeIndices->dtype() != DType::kInt64))
    return InvalidArgument("TensorScatter write_indices must have shape ({}) and type int64, got {}", g->batch,
                           writeIndices->describe());
  g->outer = g->inner = 1;
  for (int i = 0; i < axis; ++i) g->outer *= cd[i];
  for (int i = g->axis + 1; i < rank; ++i) g->inner *= cd[i];
  g->perBatch = g->batch > 0 ? g->outer / g->batch : 1;
  return Status::OK();
}

Status causalConvGeometry(const AttrMap& a, const Tensor& x, const Tensor& weight, const Tensor* bias,
                          const Tensor* past, CausalConvGeometry* g) {
  for (const Tensor* t : {&weight, bias, past})
    if (t && t->dtype() != x.dtype())
      return InvalidArgument("CausalConvWithState input {} differs in type from {}", t->describe(), x.describe());
  if (x.rank() != 3 || weight.rank() != 3)
    return InvalidArgument("CausalConvWithState input {} and weight {} must be 3-D", x.dims().toString(),
                           weight.dims().toString());
  g->batch = x.dims()[0];
  g->channels = x.dims()[1];
  g->length = x.dims()[2];
  g->kernel = weight.dims()[2];
  const int64_t C = g->channels, K = g->kernel;
  if (weight.dims()[0] != C || weight.dims()[1] != 1 || K < 1)
    return InvalidArgument("CausalConvWithState weight must have shape ({}, 1, k >= 1), got {}", C,
                           weight.dims().toString());
  if (bias && bias->dims() != Dims{C})
    return InvalidArgument("CausalConvWithState bias must have shape ({}), got {}", C, bias->dims().toString());
  if (past && past->dims() != Dims{g->batch, C, K - 1})
    return InvalidArgument("CausalConvWithState past_state must have shape ({}, {}, {}), got {}", g->batch, C, K - 1,
                           past->dims().toString());
  g->silu = a.getString("activation") != "none";
  return Status::OK();
}

Status linearAttentionGeometry(const AttrMap& a, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* past,
                               const Tensor* decay, const Tensor* beta, LinearAttentionGeometry* g) {
  const std::string& rule = a.getString("update_rule");
  if (rule != "linear" && rule != "gated" && rule != "delta" && rule != "gated_delta")
    return InvalidArgument("LinearAttention update_rule must be linear, gated, delta or gated_delta, got '{}'", rule);
  g->gating = rule == "gated" || rule == "gated_delta";
  g->delta = rule == "delta" || rule == "gated_delta";
  const std::pair<int, const Tensor*> typed[] = {{1, &k}, {2, &v}, {4, decay}, {5, beta}};
  for (const auto& [i, t] : typed)
    if (t && t->dtype() != q.dtype())
      return InvalidArgument("LinearAttention input {} has type {}, expected {}", i, dtypeName(t->dtype()),
                             dtypeName(q.dtype()));
  const Dims &qd = q.dims(), &kd = k.dims(), &vd = v.dims();
  if (qd.rank() != 3 || kd.rank() != 3 || vd.rank() != 3)
    return InvalidArgument("LinearAttention query/key/value must be 3-D");
  const int64_t B = qd[0], nT = qd[1];
  const int64_t hq = a.getInt("q_num_heads"), hkv = a.getInt("kv_num_heads");
  if (hq <= 0 || hkv <= 0 || hq % hkv != 0 || qd[2] % hq != 0 || vd[2] % hkv != 0)
    return InvalidArgument("LinearAttention head counts ({}, {}) do not divide query {} / value {}", hq, hkv,
                           qd.toString(), vd.toString());
  const int64_t dk = qd[2] / hq, dv = vd[2] / hkv;
  if (kd != Dims{B, nT, hkv * dk} || vd[0] != B || vd[1] != nT)
    return InvalidArgument("LinearAttention key {} / value {} do not match query {}", kd.toString(), vd.toString(),
                           qd.toString());
  if (past && past->dims() != Dims{B, hkv, dk, dv})
    return InvalidArgument("LinearAttention past_state has shape {}, expected [{},{},{},{}]", past->dims().toString(), B,
                           hkv, dk, dv);
  if (g->gating != (decay != nullptr) || g->delta != (beta != nullptr))
    return InvalidArgument("LinearAttention update_rule '{}' does not match the given decay/beta inputs", rule);
  g->decayLast = g->betaLast = 0;
  if (decay) {
    g->decayLast = decay->rank() == 3 ? decay->dims()[2] : -1;
    if (decay->rank() != 3 || decay->dims()[0] != B || decay->dims()[1] != nT ||
        (g->decayLast != hkv && g->decayLast != hkv * dk))
      return InvalidArgument("LinearAttention decay has shape {}, expected ({}, {}, {} or {})", decay->dims().toString(),
                             B, nT, hkv, hkv * dk);
  }
  if (beta) {
    g->betaLast = beta->rank() == 3 ? beta->dims()[2] : -1;
    if (beta->rank() != 3 || beta->dims()[0] != B || beta->dims()[1] != nT || (g->betaLast != hkv && g->betaLast != 1))
      return InvalidArgument("LinearAttention beta has shape {}, expected ({}, {}, {} or 1)", beta->dims().toString(), B,
                             nT, hkv);
  }
  g->batch = B;
  g->steps = nT;
  g->qHeads = hq;
  g->kvHeads = hkv;
  g->dk = dk;
  g->dv = dv;
  const float scaleAttr = a.getFloat("scale");
  g->scale = scaleAttr == 0.0f ? static_cast<float>(1.0 / std::sqrt(double(dk))) : scaleAttr;
  return Status::OK();
}

}  // namespace kiln::backends
