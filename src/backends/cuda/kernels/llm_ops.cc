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
#include "backends/llm_geometry.h"

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
  backends::RotaryGeometry g;
  KILN_RETURN_IF_ERROR(backends::rotaryGeometry(ctx.attrs, x, cosT, sinT, pos, &g));
  const Dims& xd = x.dims();
  a.is4d = g.is4d;
  a.maxPos = g.maxPos;
  KILN_RETURN_IF_ERROR(expectOutput("RotaryEmbedding", ctx.out(0), x.dtype(), xd));
  a.x = x.raw();
  a.cosCache = cosT.raw();
  a.sinCache = sinT.raw();
  a.pos = pos ? static_cast<const int64_t*>(pos->raw()) : nullptr;
  a.y = ctx.out(0).raw();
  a.batch = g.batch;
  a.seq = g.seq;
  a.heads = g.heads;
  a.headDim = g.headDim;
  a.rotDim = g.rotDim;
  a.interleaved = g.interleaved;
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
  if (!movable(cache.dtype())) return unsupportedGpuType("TensorScatter", cache.dtype());
  const Tensor* w = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
  backends::TensorScatterGeometry g;
  KILN_RETURN_IF_ERROR(backends::tensorScatterGeometry(ctx.attrs, cache, upd, w, &g));
  TensorScatterArgs a;
  a.circular = g.circular;
  a.batch = g.batch;
  a.maxLen = g.maxLen;
  a.len = g.len;
  a.inner = g.inner;
  a.perBatch = g.perBatch;
  a.writeIndices = w ? static_cast<const int64_t*>(w->raw()) : nullptr;
  KILN_RETURN_IF_ERROR(expectOutput("TensorScatter", out, cache.dtype(), cache.dims()));
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
  backends::CausalConvGeometry g;
  KILN_RETURN_IF_ERROR(backends::causalConvGeometry(ctx.attrs, x, w, bias, past, &g));
  const int64_t B = g.batch, C = g.channels, K = g.kernel;
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
  a.length = g.length;
  a.kernel = K;
  a.silu = g.silu;
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
  const Tensor &qT = ctx.in(0), &kT = ctx.in(1), &vT = ctx.in(2);
  LinearAttentionArgs a;
  const DType t = qT.dtype();
  if (!isRopeType(t) || !llmTypeOf(t, &a.type)) return unsupportedGpuType("LinearAttention", t);
  const DType st = ctx.hasInput(3) ? ctx.in(3).dtype() : t;
  if (!isRopeType(st) || !llmTypeOf(st, &a.stateType)) return unsupportedGpuType("LinearAttention past_state", st);
  const Tensor* past = ctx.hasInput(3) ? &ctx.in(3) : nullptr;
  const Tensor* decay = ctx.hasInput(4) ? &ctx.in(4) : nullptr;
  const Tensor* beta = ctx.hasInput(5) ? &ctx.in(5) : nullptr;
  backends::LinearAttentionGeometry g;
  KILN_RETURN_IF_ERROR(backends::linearAttentionGeometry(ctx.attrs, qT, kT, vT, past, decay, beta, &g));
  const int64_t B = g.batch, nT = g.steps, hq = g.qHeads, hkv = g.kvHeads, dk = g.dk, dv = g.dv;
  a.decayLast = g.decayLast;
  a.betaLast = g.betaLast;
  if (linearAttentionColumns(dk, dv, hq / hkv) == 0)
    return Unsupported("LinearAttention on the GPU does not support head size {} with {} query heads per kv head", dk,
                       hq / hkv);
  KILN_RETURN_IF_ERROR(expectOutput("LinearAttention", ctx.out(0), t, Dims{B, nT, hq * dv}));
  if (ctx.hasOutput(1)) {
    KILN_RETURN_IF_ERROR(expectOutput("LinearAttention", ctx.out(1), st, Dims{B, hkv, dk, dv}));
    a.present = ctx.out(1).raw();
  }
  a.scale = g.scale;
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
  a.gating = g.gating;
  a.delta = g.delta;
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
