// Host side of the LLM building blocks: RotaryEmbedding, SwiGLU, TensorScatter,
// CausalConvWithState and LinearAttention (kernels in llm_ops.cu). Reads attributes, validates
// shapes with the CPU reference's rules and messages (cpu/kernels/attention_llm.cc) and fills the
// launch arguments. The checks the GPU cannot make are those on values in device memory
// (RotaryEmbedding's position_ids range, TensorScatter's linear write indices): llm_launch.h says
// what the kernels do instead.
#include <cmath>
#include <string>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/llm_launch.h"

namespace kiln::cuda {

namespace llm {

namespace {

bool llmTypeOf(DType t, LlmType* v) {
  switch (t) {
    case DType::kFloat32: *v = LlmType::kF32; return true;
    case DType::kFloat16: *v = LlmType::kF16; return true;
    case DType::kBFloat16: *v = LlmType::kBF16; return true;
    case DType::kFloat64: *v = LlmType::kF64; return true;
    default: return false;
  }
}

// float32, float16 and bfloat16: the types of RotaryEmbedding, CausalConvWithState and
// LinearAttention (the reference's RopeTypes).
bool isRopeType(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16; }

DType inType(const LayerDesc& d, size_t i) { return i < d.inputTypes.size() ? d.inputTypes[i] : DType::kUndefined; }
DType outType(const LayerDesc& d, size_t i) {
  return i < d.outputTypes.size() ? d.outputTypes[i] : DType::kUndefined;
}
// Optional input/output i is absent or of type t.
bool inAbsentOr(const LayerDesc& d, size_t i, DType t) {
  const DType u = inType(d, i);
  return u == DType::kUndefined || u == t;
}
bool outAbsentOr(const LayerDesc& d, size_t i, DType t) {
  const DType u = outType(d, i);
  return u == DType::kUndefined || u == t;
}

// A dtype TensorScatter can move: 1/2/4/8-byte storage (sub-byte types take one byte each).
bool movable(DType t) {
  if (t == DType::kString || t == DType::kUndefined) return false;
  const size_t s = dtypeSize(t);
  return s == 1 || s == 2 || s == 4 || s == 8;
}

Status expectOutput(std::string_view op, const Tensor& y, DType t, const Dims& d) {
  if (y.dtype() != t || y.dims() != d)
    return InternalError("{} output {} does not match the expected {}{}", op, y.describe(), dtypeName(t), d.toString());
  return Status::OK();
}

// ---- RotaryEmbedding ----------------------------------------------------------------------------

Status rotaryK(const GpuKernelContext& ctx) {
  const Tensor &x = ctx.in(0), &cosT = ctx.in(1), &sinT = ctx.in(2);
  const Tensor* pos = ctx.hasInput(3) ? &ctx.in(3) : nullptr;
  RotaryArgs a;
  if (!isRopeType(x.dtype()) || !llmTypeOf(x.dtype(), &a.type)) return unsupportedGpuType("RotaryEmbedding", x.dtype());
  if (cosT.dtype() != x.dtype() || sinT.dtype() != x.dtype())
    return InvalidArgument("RotaryEmbedding caches {} / {} differ in type from the input {}", cosT.describe(),
                           sinT.describe(), x.describe());
  if (pos && pos->dtype() != DType::kInt64)
    return InvalidArgument("RotaryEmbedding position_ids must be int64, got {}", pos->describe());
  const Dims& xd = x.dims();
  if (xd.rank() != 3 && xd.rank() != 4)
    return InvalidArgument("RotaryEmbedding input must be 3-D or 4-D, got {}", xd.toString());
  a.is4d = xd.rank() == 4;
  const int64_t B = xd[0], S = a.is4d ? xd[2] : xd[1];
  const int64_t H = a.is4d ? xd[1] : ctx.attrs.getInt("num_heads", 0);
  if (H <= 0 || (!a.is4d && xd[2] % H != 0))
    return InvalidArgument("RotaryEmbedding: hidden size {} is not divisible by num_heads {}", xd[2], H);
  const int64_t hd = a.is4d ? xd[3] : xd[2] / H;
  const int64_t rotAttr = ctx.attrs.getInt("rotary_embedding_dim");
  const int64_t rot = rotAttr ? rotAttr : hd;
  if (rot > hd || rot % 2 != 0 || rot < 0)
    return InvalidArgument("RotaryEmbedding rotary dim {} must be even and at most the head size {}", rot, hd);
  const int64_t half = rot / 2;
  if (cosT.dims() != sinT.dims())
    return InvalidArgument("RotaryEmbedding cos_cache {} and sin_cache {} differ in shape", cosT.dims().toString(),
                           sinT.dims().toString());
  const Dims& cd = cosT.dims();
  if (pos) {
    if (cd.rank() != 2 || cd[1] != half)
      return InvalidArgument("RotaryEmbedding caches must have shape (max_position, {}) with position_ids, got {}",
                             half, cd.toString());
    if (pos->dims() != Dims{B, S})
      return InvalidArgument("RotaryEmbedding position_ids must have shape ({}, {}), got {}", B, S,
                             pos->dims().toString());
    a.maxPos = cd[0];
  } else if (cd != Dims{B, S, half}) {
    return InvalidArgument("RotaryEmbedding caches must have shape ({}, {}, {}) without position_ids, got {}", B, S,
                           half, cd.toString());
  }
  KILN_RETURN_IF_ERROR(expectOutput("RotaryEmbedding", ctx.out(0), x.dtype(), xd));
  a.x = x.raw();
  a.cosCache = cosT.raw();
  a.sinCache = sinT.raw();
  a.pos = pos ? static_cast<const int64_t*>(pos->raw()) : nullptr;
  a.y = ctx.out(0).raw();
  a.batch = B;
  a.seq = S;
  a.heads = H;
  a.headDim = hd;
  a.rotDim = rot;
  a.interleaved = ctx.attrs.getInt("interleaved") != 0;
  if (x.numel() == 0) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(launchRotary(a, ctx.stream));
  return Status::OK();
}

bool rotarySupported(const LayerDesc& d) {
  const DType t = inType(d, 0);
  return isRopeType(t) && inType(d, 1) == t && inType(d, 2) == t && inAbsentOr(d, 3, DType::kInt64) &&
         outType(d, 0) == t;
}

// ---- SwiGLU -------------------------------------------------------------------------------------

Status swiGluK(const GpuKernelContext& ctx) {
  const Tensor &x = ctx.in(0), &b = ctx.in(1);
  SwiGluArgs a;
  if (!llmTypeOf(x.dtype(), &a.type)) return unsupportedGpuType("SwiGLU", x.dtype());
  if (b.dtype() != x.dtype())
    return InvalidArgument("SwiGLU inputs must have the same type, got {} and {}", x.describe(), b.describe());
  if (x.dims() != b.dims())
    return InvalidArgument("SwiGLU inputs must have identical shapes, got {} and {}", x.dims().toString(),
                           b.dims().toString());
  KILN_RETURN_IF_ERROR(expectOutput("SwiGLU", ctx.out(0), x.dtype(), x.dims()));
  a.a = x.raw();
  a.b = b.raw();
  a.y = ctx.out(0).raw();
  a.n = x.numel();
  a.alpha = ctx.attrs.getFloat("alpha");
  KILN_CUDA_RETURN_IF_ERROR(launchSwiGlu(a, ctx.stream));
  return Status::OK();
}

bool swiGluSupported(const LayerDesc& d) {
  const DType t = inType(d, 0);
  LlmType v;
  return llmTypeOf(t, &v) && inType(d, 1) == t && outType(d, 0) == t;
}

// ---- TensorScatter ------------------------------------------------------------------------------

Status tensorScatterK(const GpuKernelContext& ctx) {
  const Tensor &cache = ctx.in(0), &upd = ctx.in(1);
  Tensor& out = ctx.out(0);
  const Dims &cd = cache.dims(), &ud = upd.dims();
  const int rank = cd.rank();
  if (rank < 2 || ud.rank() != rank || upd.dtype() != cache.dtype())
    return InvalidArgument("TensorScatter past_cache {} and update {} are incompatible", cd.toString(), ud.toString());
  if (!movable(cache.dtype())) return unsupportedGpuType("TensorScatter", cache.dtype());
  int64_t axis = ctx.attrs.getInt("axis");
  if (axis < -rank || axis >= rank) return InvalidArgument("TensorScatter axis {} is out of range for rank {}", axis, rank);
  if (axis < 0) axis += rank;
  if (axis == 0) return InvalidArgument("TensorScatter axis cannot be 0 (the batch dimension)");
  for (int i = 0; i < rank; ++i)
    if (i == axis ? ud[i] > cd[i] : ud[i] != cd[i])
      return InvalidArgument("TensorScatter update {} does not fit past_cache {} (axis {})", ud.toString(),
                             cd.toString(), axis);
  const std::string& mode = ctx.attrs.getString("mode");
  if (mode != "linear" && mode != "circular")
    return InvalidArgument("TensorScatter mode must be 'linear' or 'circular', got '{}'", mode);
  TensorScatterArgs a;
  a.circular = mode == "circular";
  a.batch = cd[0];
  a.maxLen = cd[axis];
  a.len = ud[axis];
  if (ctx.hasInput(2)) {
    const Tensor& w = ctx.in(2);
    if (w.dims() != Dims{a.batch} || w.dtype() != DType::kInt64)
      return InvalidArgument("TensorScatter write_indices must have shape ({}) and type int64, got {}", a.batch,
                             w.describe());
    a.writeIndices = static_cast<const int64_t*>(w.raw());
  }
  KILN_RETURN_IF_ERROR(expectOutput("TensorScatter", out, cache.dtype(), cd));
  int64_t outer = 1;  // dims before the axis (batch first); inner: elements after it
  for (int i = 0; i < axis; ++i) outer *= cd[i];
  for (int i = axis + 1; i < rank; ++i) a.inner *= cd[i];
  a.perBatch = a.batch > 0 ? outer / a.batch : 1;
  a.cache = cache.raw();
  a.update = upd.raw();
  a.out = out.raw();
  a.elemSize = static_cast<int>(dtypeSize(cache.dtype()));
  KILN_CUDA_RETURN_IF_ERROR(launchTensorScatter(a, ctx.stream));
  return Status::OK();
}

bool tensorScatterSupported(const LayerDesc& d) {
  const DType t = inType(d, 0);
  return movable(t) && inType(d, 1) == t && inAbsentOr(d, 2, DType::kInt64) && outType(d, 0) == t;
}

// ---- CausalConvWithState ------------------------------------------------------------------------

Status causalConvK(const GpuKernelContext& ctx) {
  const Tensor &x = ctx.in(0), &w = ctx.in(1);
  const Tensor* bias = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
  const Tensor* past = ctx.hasInput(3) ? &ctx.in(3) : nullptr;
  CausalConvArgs a;
  if (!isRopeType(x.dtype()) || !llmTypeOf(x.dtype(), &a.type))
    return unsupportedGpuType("CausalConvWithState", x.dtype());
  for (const Tensor* t : {&w, bias, past})
    if (t && t->dtype() != x.dtype())
      return InvalidArgument("CausalConvWithState input {} differs in type from {}", t->describe(), x.describe());
  if (x.rank() != 3 || w.rank() != 3)
    return InvalidArgument("CausalConvWithState input {} and weight {} must be 3-D", x.dims().toString(),
                           w.dims().toString());
  const int64_t B = x.dims()[0], C = x.dims()[1], L = x.dims()[2], K = w.dims()[2];
  if (w.dims()[0] != C || w.dims()[1] != 1 || K < 1)
    return InvalidArgument("CausalConvWithState weight must have shape ({}, 1, k >= 1), got {}", C, w.dims().toString());
  if (bias && bias->dims() != Dims{C})
    return InvalidArgument("CausalConvWithState bias must have shape ({}), got {}", C, bias->dims().toString());
  if (past && past->dims() != Dims{B, C, K - 1})
    return InvalidArgument("CausalConvWithState past_state must have shape ({}, {}, {}), got {}", B, C, K - 1,
                           past->dims().toString());
  KILN_RETURN_IF_ERROR(expectOutput("CausalConvWithState", ctx.out(0), x.dtype(), x.dims()));
  if (ctx.hasOutput(1)) {
    KILN_RETURN_IF_ERROR(expectOutput("CausalConvWithState", ctx.out(1), x.dtype(), Dims{B, C, K - 1}));
    a.present = ctx.out(1).raw();
  }
  a.x = x.raw();
  a.weight = w.raw();
  a.bias = bias ? bias->raw() : nullptr;
  a.past = past ? past->raw() : nullptr;
  a.y = ctx.out(0).raw();
  a.batch = B;
  a.channels = C;
  a.length = L;
  a.kernel = K;
  a.silu = ctx.attrs.getString("activation") != "none";
  KILN_CUDA_RETURN_IF_ERROR(launchCausalConv(a, ctx.stream));
  return Status::OK();
}

bool causalConvSupported(const LayerDesc& d) {
  const DType t = inType(d, 0);
  return isRopeType(t) && inType(d, 1) == t && inAbsentOr(d, 2, t) && inAbsentOr(d, 3, t) && outType(d, 0) == t &&
         outAbsentOr(d, 1, t);
}

// ---- LinearAttention ----------------------------------------------------------------------------

Status linearAttentionK(const GpuKernelContext& ctx) {
  const AttrMap& at = ctx.attrs;
  const int64_t hq = at.getInt("q_num_heads"), hkv = at.getInt("kv_num_heads");
  const std::string& rule = at.getString("update_rule");
  if (rule != "linear" && rule != "gated" && rule != "delta" && rule != "gated_delta")
    return InvalidArgument("LinearAttention update_rule must be linear, gated, delta or gated_delta, got '{}'", rule);
  const bool gating = rule == "gated" || rule == "gated_delta", delta = rule == "delta" || rule == "gated_delta";
  const Tensor &qT = ctx.in(0), &kT = ctx.in(1), &vT = ctx.in(2);
  LinearAttentionArgs a;
  const DType t = qT.dtype();
  if (!isRopeType(t) || !llmTypeOf(t, &a.type)) return unsupportedGpuType("LinearAttention", t);
  for (int i : {1, 2, 4, 5})
    if (ctx.hasInput(i) && ctx.in(i).dtype() != t)
      return InvalidArgument("LinearAttention input {} has type {}, expected {}", i, dtypeName(ctx.in(i).dtype()),
                             dtypeName(t));
  const DType st = ctx.hasInput(3) ? ctx.in(3).dtype() : t;
  if (!isRopeType(st) || !llmTypeOf(st, &a.stateType)) return unsupportedGpuType("LinearAttention past_state", st);
  const Dims &qd = qT.dims(), &kd = kT.dims(), &vd = vT.dims();
  if (qd.rank() != 3 || kd.rank() != 3 || vd.rank() != 3)
    return InvalidArgument("LinearAttention query/key/value must be 3-D");
  const int64_t B = qd[0], nT = qd[1];
  if (hq <= 0 || hkv <= 0 || hq % hkv != 0 || qd[2] % hq != 0 || vd[2] % hkv != 0)
    return InvalidArgument("LinearAttention head counts ({}, {}) do not divide query {} / value {}", hq, hkv,
                           qd.toString(), vd.toString());
  const int64_t dk = qd[2] / hq, dv = vd[2] / hkv;
  if (kd != Dims{B, nT, hkv * dk} || vd[0] != B || vd[1] != nT)
    return InvalidArgument("LinearAttention key {} / value {} do not match query {}", kd.toString(), vd.toString(),
                           qd.toString());
  const Tensor* past = ctx.hasInput(3) ? &ctx.in(3) : nullptr;
  if (past && past->dims() != Dims{B, hkv, dk, dv})
    return InvalidArgument("LinearAttention past_state has shape {}, expected [{},{},{},{}]", past->dims().toString(), B,
                           hkv, dk, dv);
  const Tensor* decay = ctx.hasInput(4) ? &ctx.in(4) : nullptr;
  const Tensor* beta = ctx.hasInput(5) ? &ctx.in(5) : nullptr;
  if (gating != (decay != nullptr) || delta != (beta != nullptr))
    return InvalidArgument("LinearAttention update_rule '{}' does not match the given decay/beta inputs", rule);
  if (decay) {
    a.decayLast = decay->rank() == 3 ? decay->dims()[2] : -1;
    if (decay->rank() != 3 || decay->dims()[0] != B || decay->dims()[1] != nT ||
        (a.decayLast != hkv && a.decayLast != hkv * dk))
      return InvalidArgument("LinearAttention decay has shape {}, expected ({}, {}, {} or {})", decay->dims().toString(),
                             B, nT, hkv, hkv * dk);
  }
  if (beta) {
    a.betaLast = beta->rank() == 3 ? beta->dims()[2] : -1;
    if (beta->rank() != 3 || beta->dims()[0] != B || beta->dims()[1] != nT || (a.betaLast != hkv && a.betaLast != 1))
      return InvalidArgument("LinearAttention beta has shape {}, expected ({}, {}, {} or 1)", beta->dims().toString(), B,
                             nT, hkv);
  }
  if (linearAttentionColumns(dk, dv, hq / hkv) == 0)
    return Unsupported("LinearAttention on the GPU does not support head size {} with {} query heads per kv head", dk,
                       hq / hkv);
  KILN_RETURN_IF_ERROR(expectOutput("LinearAttention", ctx.out(0), t, Dims{B, nT, hq * dv}));
  if (ctx.hasOutput(1)) {
    KILN_RETURN_IF_ERROR(expectOutput("LinearAttention", ctx.out(1), st, Dims{B, hkv, dk, dv}));
    a.present = ctx.out(1).raw();
  }
  const float scaleAttr = at.getFloat("scale");
  a.scale = scaleAttr == 0.0f ? static_cast<float>(1.0 / std::sqrt(double(dk))) : scaleAttr;
  a.q = qT.raw();
  a.k = kT.raw();
  a.v = vT.raw();
  a.past = past ? past->raw() : nullptr;
  a.decay = decay ? decay->raw() : nullptr;
  a.beta = beta ? beta->raw() : nullptr;
  a.out = ctx.out(0).raw();
  a.batch = B;
  a.seq = nT;
  a.qHeads = hq;
  a.kvHeads = hkv;
  a.dk = dk;
  a.dv = dv;
  a.gating = gating;
  a.delta = delta;
  KILN_CUDA_RETURN_IF_ERROR(launchLinearAttention(a, ctx.stream));
  return Status::OK();
}

bool linearAttentionSupported(const LayerDesc& d) {
  const DType t = inType(d, 0);
  const DType st = inType(d, 3) == DType::kUndefined ? t : inType(d, 3);
  if (!isRopeType(t) || !isRopeType(st) || inType(d, 1) != t || inType(d, 2) != t || !inAbsentOr(d, 4, t) ||
      !inAbsentOr(d, 5, t) || outType(d, 0) != t || !outAbsentOr(d, 1, st))
    return false;
  // Refuse head sizes whose state does not fit shared memory when the shapes say so already.
  if (d.attrs && !d.inputShapes.empty() && d.inputShapes[0].rankKnown() && d.inputShapes[0].rank() == 3 &&
      d.inputShapes[0][2].isStatic()) {
    const int64_t hq = d.attrs->getInt("q_num_heads", 0), hkv = d.attrs->getInt("kv_num_heads", 0);
    if (hq > 0 && hkv > 0 && hq % hkv == 0 && linearAttentionColumns(d.inputShapes[0][2].value() / hq, 1, hq / hkv) == 0)
      return false;
  }
  return true;
}

}  // namespace

}  // namespace llm

void registerLlmKernels(GpuKernelRegistry& r) {
  r.addFn("RotaryEmbedding", "cuda_llm_rotary", &llm::rotaryK, llm::rotarySupported, 10);
  r.addFn("SwiGLU", "cuda_llm_swiglu", &llm::swiGluK, llm::swiGluSupported, 10);
  r.addFn("TensorScatter", "cuda_llm_tensorscatter", &llm::tensorScatterK, llm::tensorScatterSupported, 10);
  r.addFn("CausalConvWithState", "cuda_llm_causalconv", &llm::causalConvK, llm::causalConvSupported, 10);
  r.addFn("LinearAttention", "cuda_llm_linearattention", &llm::linearAttentionK, llm::linearAttentionSupported, 10);
}

}  // namespace kiln::cuda
