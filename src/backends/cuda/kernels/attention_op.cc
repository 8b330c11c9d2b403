// ONNX Attention (opset 23+) on the GPU, host side: validation, geometry and mask broadcasting
// (the same rules as the CPU kernel, backends/cpu/kernels/attention.cc), then the fused kernels of
// attention_flash.cu (tensor cores, float16/bfloat16), attention_generic.cu (tiled, any head size)
// or attention_full.cu (everything else: past key/value and the present outputs, nonpad_kv_seqlen,
// softcap, sliding windows, the qk_matmul output, any mask type, softmax_precision). Only the
// generic tactic takes layers that need the full kernel; the flash and cuDNN tactics refuse them
// in `supports`. kiln:PackedAttention (the optimizer's merged Q/K/V projection) runs the flash and
// tiled kernels on column blocks of one tensor.
#include <cmath>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/attention_kernels.h"
#include "backends/cuda/kernels/attention_op.h"
#include "backends/cuda/kernels/pdl.h"
#include "backends/cuda/sm90/attention_wgmma.h"

namespace kiln::cuda {

namespace {

bool present(const LayerDesc& d, size_t i) { return i < d.inputTypes.size() && d.inputTypes[i] != DType::kUndefined; }

// Every mask type ONNX allows; only the full kernel reads the kinds after kBFloat16.
bool maskKindOf(DType t, AttnMaskKind* k) {
  switch (t) {
    case DType::kBool: *k = AttnMaskKind::kBool; return true;
    case DType::kFloat32: *k = AttnMaskKind::kFloat32; return true;
    case DType::kFloat16: *k = AttnMaskKind::kFloat16; return true;
    case DType::kBFloat16: *k = AttnMaskKind::kBFloat16; return true;
    case DType::kFloat64: *k = AttnMaskKind::kFloat64; return true;
    case DType::kInt8: *k = AttnMaskKind::kInt8; return true;
    case DType::kUInt8: *k = AttnMaskKind::kUInt8; return true;
    case DType::kInt16: *k = AttnMaskKind::kInt16; return true;
    case DType::kUInt16: *k = AttnMaskKind::kUInt16; return true;
    case DType::kInt32: *k = AttnMaskKind::kInt32; return true;
    case DType::kUInt32: *k = AttnMaskKind::kUInt32; return true;
    case DType::kInt64: *k = AttnMaskKind::kInt64; return true;
    case DType::kUInt64: *k = AttnMaskKind::kUInt64; return true;
    default: return false;
  }
}

// Head sizes (D, Dv) known at build time; 0 where unknown.
void headSizes(const LayerDesc& d, int64_t* D, int64_t* Dv) {
  *D = *Dv = 0;
  const Shape &q = d.inputShapes[0], &v = d.inputShapes[2];
  if (!q.rankKnown() || !v.rankKnown()) return;
  if (q.rank() == 4 && v.rank() == 4) {
    if (q[3].isStatic()) *D = q[3].value();
    if (v[3].isStatic()) *Dv = v[3].value();
  } else if (q.rank() == 3 && v.rank() == 3 && d.attrs && d.attrs->has("q_num_heads") && d.attrs->has("kv_num_heads")) {
    const int64_t hq = d.attrs->getInt("q_num_heads"), hkv = d.attrs->getInt("kv_num_heads");
    if (q[2].isStatic() && hq > 0) *D = q[2].value() / hq;
    if (v[2].isStatic() && hkv > 0) *Dv = v[2].value() / hkv;
  }
}

// What the tactics share: types and ranks; then, with `full` (the generic tactic), what the full
// kernel adds (past K/V of the I/O type, int64 nonpad_kv_seqlen, present K/V and qk_matmul_output
// of the I/O type), else none of what only the full kernel implements.
bool supportsCommon(const LayerDesc& d, std::initializer_list<DType> types, bool full) {
  if (d.inputTypes.size() < 3 || d.inputTypes.size() > 7 || !d.attrs || d.outputTypes.empty() ||
      d.outputTypes.size() > 4)
    return false;
  const DType t = d.inputTypes[0];
  bool typeOk = false;
  for (DType x : types) typeOk |= x == t;
  if (!typeOk || d.inputTypes[1] != t || d.inputTypes[2] != t || d.outputTypes[0] != t) return false;
  const DType maskType = present(d, 3) ? d.inputTypes[3] : DType::kUndefined;
  AttnMaskKind mk;
  if (present(d, 3) && !maskKindOf(maskType, &mk)) return false;
  for (int i = 0; i < 3; ++i) {
    const Shape& s = d.inputShapes[i];
    if (s.rankKnown() && s.rank() != 3 && s.rank() != 4) return false;
  }
  bool extraInputs = false, extraOutputs = false;
  for (size_t i = 4; i < d.inputTypes.size(); ++i) extraInputs |= present(d, i);
  for (size_t o = 1; o < d.outputTypes.size(); ++o) extraOutputs |= d.outputTypes[o] != DType::kUndefined;
  if (!full) return attentionFullOnlyFeature(*d.attrs, t, maskType, extraInputs, extraOutputs, true) == nullptr;
  if (present(d, 4) != present(d, 5)) return false;
  for (const size_t i : {4u, 5u}) {
    if (!present(d, i)) continue;
    const Shape& s = d.inputShapes[i];
    if (d.inputTypes[i] != t || (s.rankKnown() && s.rank() != 4)) return false;
  }
  if (present(d, 6) && d.inputTypes[6] != DType::kInt64) return false;
  for (size_t o = 1; o < d.outputTypes.size(); ++o)
    if (d.outputTypes[o] != DType::kUndefined && d.outputTypes[o] != t) return false;
  return true;
}

}  // namespace

bool attentionFlashSupports(const LayerDesc& d) {
  if (!supportsCommon(d, {DType::kFloat16, DType::kBFloat16}, /*full=*/false)) return false;
  int64_t D = 0, Dv = 0;
  headSizes(d, &D, &Dv);
  return D == Dv && (D == 32 || D == 64 || D == 128);
}

namespace {
// Whether a key-sequence dim allows the short-sequence kernel: at most kMaxResidentKeys, or not
// known at build time (runs past it fall back to the flash kernel).
constexpr int64_t kMaxResidentKeys = 128;
bool shortKeysAllowed(const Shape& s, int axis) {
  return !s.rankKnown() || axis >= s.rank() || !s[axis].isStatic() || s[axis].value() <= kMaxResidentKeys;
}
}  // namespace

bool attentionResidentSupports(const LayerDesc& d) {
  if (!attentionFlashSupports(d)) return false;
  int64_t D = 0, Dv = 0;
  headSizes(d, &D, &Dv);
  const Shape& k = d.inputShapes[1];
  return (D == 32 || D == 64) && shortKeysAllowed(k, k.rankKnown() && k.rank() == 4 ? 2 : 1);
}

bool attentionWgmmaSupports(const LayerDesc& d) {
  int64_t D = 0, Dv = 0;
  headSizes(d, &D, &Dv);
  return attentionResidentSupports(d) && D == 64 && Dv == 64;
}

bool attentionGenericSupports(const LayerDesc& d) {
  if (!supportsCommon(d, {DType::kFloat32, DType::kFloat16, DType::kBFloat16}, /*full=*/true)) return false;
  int64_t D = 0, Dv = 0;
  headSizes(d, &D, &Dv);
  return D <= kAttnGenericMaxHead && Dv <= kAttnGenericMaxHead;
}

// kiln:PackedAttention: Q, K and V are column blocks of one [B, S, (Hq + 2 Hkv) * D] tensor (the
// merged projection), read in place through the row stride.
namespace {

// PackedAttention: QKV (input 0) and an optional mask (input 1); the attributes are Attention's.
bool packedSupports(const LayerDesc& d, std::initializer_list<DType> types, int64_t* D) {
  if (d.inputTypes.empty() || d.inputTypes.size() > 2 || !d.attrs || d.outputTypes.size() != 1) return false;
  const DType t = d.inputTypes[0];
  bool typeOk = false;
  for (DType x : types) typeOk |= x == t;
  if (!typeOk || d.outputTypes[0] != t) return false;
  const DType maskType = present(d, 1) ? d.inputTypes[1] : DType::kUndefined;
  AttnMaskKind mk;
  if (present(d, 1) && !maskKindOf(maskType, &mk)) return false;
  const AttrMap& a = *d.attrs;
  // softmax_precision is not checked: PackedAttention computes its softmax in float, as it always
  // has (the pack-qkv pass does not look at the attribute, so refusing it would fail such builds).
  if (attentionFullOnlyFeature(a, t, maskType, false, false, false) || a.getInt("qk_matmul_output_mode", 0) != 0)
    return false;
  const int64_t hq = a.getInt("q_num_heads", 0), hkv = a.getInt("kv_num_heads", 0);
  const Shape& s = d.inputShapes[0];
  if (hq <= 0 || hkv <= 0 || hq % hkv != 0 || (s.rankKnown() && s.rank() != 3)) return false;
  *D = s.rankKnown() && s[2].isStatic() && s[2].value() % (hq + 2 * hkv) == 0 ? s[2].value() / (hq + 2 * hkv) : 0;
  return true;
}

}  // namespace

bool packedAttentionFlashSupports(const LayerDesc& d) {
  int64_t D = 0;
  return packedSupports(d, {DType::kFloat16, DType::kBFloat16}, &D) && (D == 32 || D == 64 || D == 128);
}

bool packedAttentionResidentSupports(const LayerDesc& d) {
  int64_t D = 0;
  return packedSupports(d, {DType::kFloat16, DType::kBFloat16}, &D) && (D == 32 || D == 64) &&
         shortKeysAllowed(d.inputShapes[0], 1);
}

bool packedAttentionWgmmaSupports(const LayerDesc& d) {
  int64_t D = 0;
  return packedSupports(d, {DType::kFloat16, DType::kBFloat16}, &D) && D == 64 && shortKeysAllowed(d.inputShapes[0], 1);
}

bool packedAttentionGenericSupports(const LayerDesc& d) {
  int64_t D = 0;
  return packedSupports(d, {DType::kFloat32, DType::kFloat16, DType::kBFloat16}, &D) && D <= kAttnGenericMaxHead;
}

static Status packedGeometry(const GpuKernelContext& ctx, AttnParams* p, DType* type) {
  const Tensor& qkv = ctx.in(0);
  Tensor& y = ctx.out(0);
  const DType t = qkv.dtype();
  if (y.dtype() != t) return InvalidArgument("PackedAttention: QKV is {}, Y is {}", dtypeName(t), dtypeName(y.dtype()));
  if (t != DType::kFloat32 && t != DType::kFloat16 && t != DType::kBFloat16) return unsupportedGpuType("PackedAttention", t);
  *type = t;
  const AttrMap& a = ctx.attrs;
  const int64_t hq = a.getInt("q_num_heads", 0), hkv = a.getInt("kv_num_heads", 0);
  if (qkv.rank() != 3 || hq <= 0 || hkv <= 0 || qkv.dims()[2] % (hq + 2 * hkv) != 0)
    return InvalidArgument("PackedAttention: QKV {} is not [B, S, (q_num_heads + 2 kv_num_heads) * D] ({}, {})",
                           qkv.dims().toString(), hq, hkv);
  const int64_t W = qkv.dims()[2];
  p->B = qkv.dims()[0], p->Hq = hq, p->Hkv = hkv, p->Sq = p->Skv = qkv.dims()[1];
  p->D = p->Dv = W / (hq + 2 * hkv);
  p->qB = p->kB = p->vB = p->Sq * W;
  p->qH = p->kH = p->vH = p->D;
  p->qS = p->kS = p->vS = W;
  p->yB = p->Sq * p->Hq * p->Dv, p->yH = p->Dv, p->yS = p->Hq * p->Dv;
  if (y.dims() != Dims{p->B, p->Sq, p->Hq * p->Dv})
    return InvalidArgument("PackedAttention output {} does not match QKV {}", y.dims().toString(), qkv.dims().toString());
  const char* base = static_cast<const char*>(qkv.raw());
  const size_t es = dtypeSize(t);
  p->q = base;
  p->k = base + static_cast<size_t>(hq * p->D) * es;
  p->v = base + static_cast<size_t>((hq + hkv) * p->D) * es;
  p->y = y.raw();
  return Status::OK();
}

// ONNX Attention: Q, K, V as 3-D ([B, S, H * D] with q/kv_num_heads) or 4-D ([B, H, S, D]).
static Status unpackedGeometry(const GpuKernelContext& ctx, AttnParams* p, DType* type) {
  const AttrMap& a = ctx.attrs;
  const Tensor &q = ctx.in(0), &k = ctx.in(1), &v = ctx.in(2);
  Tensor& y = ctx.out(0);
  const DType t = q.dtype();
  if (k.dtype() != t || v.dtype() != t || y.dtype() != t)
    return InvalidArgument("Attention: Q, K, V and Y must have one type (got {}, {}, {}, {})", dtypeName(t),
                           dtypeName(k.dtype()), dtypeName(v.dtype()), dtypeName(y.dtype()));
  if (t != DType::kFloat32 && t != DType::kFloat16 && t != DType::kBFloat16) return unsupportedGpuType("Attention", t);
  *type = t;
  if (q.rank() != k.rank() || q.rank() != v.rank() || (q.rank() != 3 && q.rank() != 4))
    return InvalidArgument("Attention: Q {}, K {}, V {} must all be 3-D or all 4-D", q.dims().toString(),
                           k.dims().toString(), v.dims().toString());
  if (q.rank() == 3) {
    const int64_t hq = a.getInt("q_num_heads", 0), hkv = a.getInt("kv_num_heads", 0);
    if (hq <= 0 || hkv <= 0 || q.dims()[2] % hq != 0 || v.dims()[2] % hkv != 0)
      return InvalidArgument("Attention with 3-D inputs needs positive q_num_heads/kv_num_heads dividing the hidden sizes");
    p->B = q.dims()[0], p->Hq = hq, p->Hkv = hkv, p->Sq = q.dims()[1], p->Skv = k.dims()[1];
    p->D = q.dims()[2] / hq, p->Dv = v.dims()[2] / hkv;
    if (k.dims()[2] != hkv * p->D || v.dims()[1] != p->Skv)
      return InvalidArgument("Attention inputs {} {} {} are inconsistent", q.dims().toString(), k.dims().toString(),
                             v.dims().toString());
    p->qB = p->Sq * q.dims()[2], p->qH = p->D, p->qS = q.dims()[2];
    p->kB = p->Skv * k.dims()[2], p->kH = p->D, p->kS = k.dims()[2];
    p->vB = p->Skv * v.dims()[2], p->vH = p->Dv, p->vS = v.dims()[2];
    p->yB = p->Sq * p->Hq * p->Dv, p->yH = p->Dv, p->yS = p->Hq * p->Dv;
    if (y.dims() != Dims{p->B, p->Sq, p->Hq * p->Dv})
      return InvalidArgument("Attention output {} does not match the inputs", y.dims().toString());
  } else {
    p->B = q.dims()[0], p->Hq = q.dims()[1], p->Hkv = k.dims()[1], p->Sq = q.dims()[2], p->Skv = k.dims()[2];
    p->D = q.dims()[3], p->Dv = v.dims()[3];
    if (k.dims()[3] != p->D || v.dims()[1] != p->Hkv || v.dims()[2] != p->Skv)
      return InvalidArgument("Attention inputs {} {} {} are inconsistent", q.dims().toString(), k.dims().toString(),
                             v.dims().toString());
    p->qS = p->D, p->qH = p->Sq * p->D, p->qB = p->Hq * p->qH;
    p->kS = p->D, p->kH = p->Skv * p->D, p->kB = p->Hkv * p->kH;
    p->vS = p->Dv, p->vH = p->Skv * p->Dv, p->vB = p->Hkv * p->vH;
    p->yS = p->Dv, p->yH = p->Sq * p->Dv, p->yB = p->Hq * p->yH;
    if (y.dims() != Dims{p->B, p->Hq, p->Sq, p->Dv})
      return InvalidArgument("Attention output {} does not match the inputs", y.dims().toString());
  }
  if (k.dims()[0] != p->B || v.dims()[0] != p->B)
    return InvalidArgument("Attention inputs {} {} {} are inconsistent (batch)", q.dims().toString(),
                           k.dims().toString(), v.dims().toString());
  p->q = q.raw(), p->k = k.raw(), p->v = v.raw(), p->y = y.raw();
  return Status::OK();
}

Status attentionParams(const GpuKernelContext& ctx, AttnParams* p, DType* type, bool packed, bool full) {
  const int maskIndex = packed ? 1 : 3;
  full = full && !packed;
  if (packed) {
    if (ctx.numInputs() < 1 || !ctx.hasInput(0) || !ctx.hasOutput(0))
      return InvalidArgument("PackedAttention needs QKV and the output Y");
    for (int i = 2; i < ctx.numInputs(); ++i)
      if (ctx.hasInput(i)) return InvalidArgument("PackedAttention has inputs QKV and an optional mask only");
  } else {
    if (ctx.numInputs() < 3 || !ctx.hasInput(0) || !ctx.hasInput(1) || !ctx.hasInput(2) || !ctx.hasOutput(0))
      return InvalidArgument("Attention needs Q, K, V and the output Y");
  }
  const AttrMap& a = ctx.attrs;
  if (!full) {
    bool extraInputs = false, extraOutputs = false;
    for (int i = packed ? 2 : 4; i < ctx.numInputs(); ++i) extraInputs |= ctx.hasInput(i);
    for (int o = 1; o < ctx.numOutputs(); ++o) extraOutputs |= ctx.hasOutput(o);
    const DType maskType = ctx.hasInput(maskIndex) ? ctx.in(maskIndex).dtype() : DType::kUndefined;
    if (const char* f = attentionFullOnlyFeature(a, ctx.in(0).dtype(), maskType, extraInputs, extraOutputs, !packed))
      return Unsupported("Attention on the GPU: {} runs on the generic tactic only (cuda_attention_generic)", f);
  }
  DType t = DType::kUndefined;
  if (packed) {
    KILN_RETURN_IF_ERROR(packedGeometry(ctx, p, &t));
  } else {
    KILN_RETURN_IF_ERROR(unpackedGeometry(ctx, p, &t));
  }
  *type = t;
  if (p->Hkv <= 0 || p->Hq % p->Hkv != 0)
    return InvalidArgument("Attention: {} query heads are not a multiple of {} key/value heads", p->Hq, p->Hkv);
  if (p->D > kAttnGenericMaxHead || p->Dv > kAttnGenericMaxHead)
    return Unsupported("Attention on the GPU: head size {} / {} is over {}", p->D, p->Dv, kAttnGenericMaxHead);
  if (full) KILN_RETURN_IF_ERROR(attentionFullParams(ctx, t, p));
  const int64_t T = p->Tp + p->Skv;  // keys in all: past, then new

  // attn_mask: aligned right to (B, Hq, Sq, T); the last dim may be shorter than T (padded -inf).
  p->maskKind = AttnMaskKind::kNone;
  if (ctx.hasInput(maskIndex)) {
    const Tensor& m = ctx.in(maskIndex);
    if (!maskKindOf(m.dtype(), &p->maskKind))
      return Unsupported("Attention on the GPU: attn_mask of type {} is not supported", dtypeName(m.dtype()));
    const Dims& md = m.dims();
    if (md.rank() > 4) return InvalidArgument("Attention attn_mask {} has rank over 4", md.toString());
    const int64_t target[4] = {p->B, p->Hq, p->Sq, T};
    int64_t stride = 1, st[4] = {0, 0, 0, 0};
    for (int i = 3; i >= 0; --i) {
      const int mi = i - (4 - md.rank());
      const int64_t d = mi >= 0 ? md[mi] : 1;
      if (i == 3 ? d > T : (d != 1 && d != target[i]))
        return InvalidArgument("Attention attn_mask {} does not broadcast to ({}, {}, {}, {})", md.toString(), p->B,
                               p->Hq, p->Sq, T);
      st[i] = (d == 1 && i != 3) ? 0 : stride;
      stride *= d;
    }
    p->mask = m.raw();
    p->mB = st[0], p->mH = st[1], p->mS = st[2], p->mJ = st[3];
    p->maskLen = md.rank() ? md[md.rank() - 1] : 1;
  }
  p->causal = a.getInt("is_causal", 0) != 0;
  // The CPU reference scales Q and K by sqrt(scale) rounded to the input type; use the same product.
  const double scale = a.has("scale") ? double(a.getFloat("scale")) : 1.0 / std::sqrt(double(p->D));
  float sq = static_cast<float>(std::sqrt(scale));
  if (t == DType::kFloat16) sq = fp::halfToFloat(fp::floatToHalf(sq));
  if (t == DType::kBFloat16) sq = fp::bfloat16ToFloat(fp::floatToBFloat16(sq));
  p->sqrtScale = sq;
  p->scale = sq * sq;
  return Status::OK();
}

Result<bool> prepareAttention(const GpuKernelContext& ctx, AttnParams* p, DType* type, bool packed, bool full) {
  KILN_RETURN_IF_ERROR(attentionParams(ctx, p, type, packed, full));
  // present_key/present_value are outputs in their own right: written even where Y is empty.
  if (p->presentK || p->presentV) KILN_CUDA_RETURN_IF_ERROR(launchAttentionPresent(*p, *type, ctx.stream));
  const bool qkWork = p->qk && ctx.out(3).numel() > 0;  // with Dv = 0, Y is empty but the scores are not
  if (ctx.out(0).numel() == 0 && !qkWork) return false;
  if (p->Tp + p->Skv == 0) {  // no keys: every row is fully masked, which gives zeros (and no scores)
    KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(p->y, 0, ctx.out(0).nbytes(), ctx.stream));
    return false;
  }
  return true;
}

Status launchOwnAttention(const AttnParams& p, DType t, bool flash, cudaStream_t stream, bool resident, bool wgmma) {
  if (attentionNeedsFull(p)) {
    KILN_CUDA_RETURN_IF_ERROR(launchAttentionFull(p, t, stream));
  } else if (wgmma && attentionWgmmaHandles(p, t)) {
    KILN_CUDA_RETURN_IF_ERROR(launchAttentionWgmma(p, t, stream));
  } else if (resident && attentionResidentHandles(p, t)) {
    KILN_CUDA_RETURN_IF_ERROR(launchAttentionResident(p, t, stream));
  } else if (flash && attentionFlashHandles(p, t)) {
    KILN_CUDA_RETURN_IF_ERROR(launchAttentionFlash(p, t, stream));
  } else {
    KILN_CUDA_RETURN_IF_ERROR(launchAttentionGeneric(p, t, stream));
  }
  return Status::OK();
}

Status AttentionKernel::enqueue(const GpuKernelContext& ctx) const {
  AttnParams p;
  DType t = DType::kUndefined;
  // sm_90a code (wgmma) runs on compute capability 9.0 alone.
  if (wgmma_ && ctx.res.computeCapability != 90)
    return Unsupported("attention on wgmma needs compute capability 9.0, this device has {}.{}",
                       ctx.res.computeCapability / 10, ctx.res.computeCapability % 10);
  KILN_ASSIGN_OR_RETURN(const bool work, prepareAttention(ctx, &p, &t, packed_, /*full=*/!flash_));
  if (!work) return Status::OK();
  p.pdl = pdlEnabled(ctx.res.computeCapability);
  return launchOwnAttention(p, t, flash_, ctx.stream, resident_, wgmma_);
}

}  // namespace kiln::cuda
