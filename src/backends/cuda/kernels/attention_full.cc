// Host side of the full attention kernel (attention_full.cu): which layers only it can run, and
// the validation of what it adds to AttnParams (past/present K/V, qk_matmul_output,
// nonpad_kv_seqlen, softcap, windows, rounding), by the CPU reference's rules
// (backends/cpu/kernels/attention.cc).
#include <algorithm>

#include "backends/cuda/kernels/attention_op.h"

namespace kiln::cuda {

AttnRound attentionStorageRounding(DType t) {
  return t == DType::kFloat16 ? AttnRound::kHalf : t == DType::kBFloat16 ? AttnRound::kBFloat16 : AttnRound::kNone;
}

// The reference's roundForDType: softmax_precision float/double compute in float (no rounding),
// float16/bfloat16 round to themselves; absent, the I/O type's rounding.
AttnRound attentionSoftmaxRounding(const AttrMap& a, DType t) {
  switch (a.getInt("softmax_precision", 0)) {
    case 1:
    case 11: return AttnRound::kNone;
    case 10: return AttnRound::kHalf;
    case 16: return AttnRound::kBFloat16;
    default: return attentionStorageRounding(t);
  }
}

const char* attentionFullOnlyFeature(const AttrMap& a, DType t, DType maskType, bool extraInputs, bool extraOutputs,
                                     bool softmaxPrecision) {
  if (extraInputs) return "past_key/past_value and nonpad_kv_seqlen";
  if (extraOutputs) return "present_key/present_value/qk_matmul_output";
  if (a.getFloat("softcap", 0.0f) != 0.0f) return "softcap";
  if (a.getInt("left_window_size", -1) != -1 || a.getInt("right_window_size", -1) != -1) return "sliding windows";
  if (maskType != DType::kUndefined && maskType != DType::kBool && maskType != DType::kFloat32 &&
      maskType != DType::kFloat16 && maskType != DType::kBFloat16)
    return "an integer or float64 attn_mask";
  const AttnRound rsm = attentionSoftmaxRounding(a, t);
  if (softmaxPrecision && rsm != AttnRound::kNone && rsm != attentionStorageRounding(t)) return "this softmax_precision";
  return nullptr;
}

namespace {

Status checkOutput(const GpuKernelContext& ctx, int o, DType t, const Dims& want, const char* what) {
  const Tensor& x = ctx.out(o);
  if (x.dtype() != t || x.dims() != want)
    return InvalidArgument("Attention {} is {} {}, expected {} {}", what, dtypeName(x.dtype()), x.dims().toString(),
                           dtypeName(t), want.toString());
  return Status::OK();
}

}  // namespace

Status attentionFullParams(const GpuKernelContext& ctx, DType t, AttnParams* p) {
  const AttrMap& a = ctx.attrs;
  if (ctx.hasInput(4) != ctx.hasInput(5))
    return InvalidArgument("Attention past_key and past_value must be given together");
  if (ctx.hasInput(4)) {
    const Tensor &pk = ctx.in(4), &pv = ctx.in(5);
    const Dims &kd = pk.dims(), &vd = pv.dims();
    if (pk.dtype() != t || pv.dtype() != t || kd.rank() != 4 || kd != Dims{p->B, p->Hkv, kd[2], p->D} ||
        vd != Dims{p->B, p->Hkv, kd[2], p->Dv})
      return InvalidArgument("Attention past_key {} / past_value {} do not match the inputs", pk.describe(),
                             pv.describe());
    p->Tp = kd[2];
    p->pastK = pk.raw();
    p->pastV = pv.raw();
  }
  const int64_t T = p->Tp + p->Skv;
  if (ctx.hasInput(6)) {
    const Tensor& n = ctx.in(6);
    if (n.dtype() != DType::kInt64 || n.rank() != 1 || n.numel() != p->B)
      return InvalidArgument("Attention nonpad_kv_seqlen must be int64 of shape ({}), got {}", p->B, n.describe());
    p->nonpad = n.data<int64_t>();
  }
  if (ctx.hasOutput(1)) {
    KILN_RETURN_IF_ERROR(checkOutput(ctx, 1, t, Dims{p->B, p->Hkv, T, p->D}, "present_key"));
    p->presentK = ctx.out(1).raw();
  }
  if (ctx.hasOutput(2)) {
    KILN_RETURN_IF_ERROR(checkOutput(ctx, 2, t, Dims{p->B, p->Hkv, T, p->Dv}, "present_value"));
    p->presentV = ctx.out(2).raw();
  }
  if (ctx.hasOutput(3)) {
    KILN_RETURN_IF_ERROR(checkOutput(ctx, 3, t, Dims{p->B, p->Hq, p->Sq, T}, "qk_matmul_output"));
    p->qk = ctx.out(3).raw();
  }
  for (int o = 4; o < ctx.numOutputs(); ++o)
    if (ctx.hasOutput(o)) return InvalidArgument("Attention has 4 outputs, got {}", ctx.numOutputs());
  p->qkMode = static_cast<int>(a.getInt("qk_matmul_output_mode", 0));
  if (p->qkMode < 0 || p->qkMode > 3)
    return InvalidArgument("Attention qk_matmul_output_mode must be 0..3, got {}", p->qkMode);
  // The reference caps only with a positive softcap, at its value in the I/O type.
  const float cap = a.getFloat("softcap", 0.0f);
  p->softcap = cap > 0.0f ? cap : 0.0f;
  if (t == DType::kFloat16) p->softcap = fp::halfToFloat(fp::floatToHalf(p->softcap));
  if (t == DType::kBFloat16) p->softcap = fp::bfloat16ToFloat(fp::floatToBFloat16(p->softcap));
  // Windows wider than any offset are unbounded; the clamp keeps the frontier arithmetic exact.
  const int64_t widest = int64_t(1) << 42;
  const int64_t left = a.getInt("left_window_size", -1), right = a.getInt("right_window_size", -1);
  p->left = left < 0 ? -1 : std::min(left, widest);
  p->right = right < 0 ? -1 : std::min(right, widest);
  p->roundStorage = attentionStorageRounding(t);
  p->roundSoftmax = attentionSoftmaxRounding(a, t);
  return Status::OK();
}

}  // namespace kiln::cuda
