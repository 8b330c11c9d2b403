// Reference kernels of the fused layers: the unfused kernel, then the epilogue in one pass.
#include "backends/cpu/kernels/fused.h"

#include "backends/cpu/kernels/conv_pool_ref.h"
#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/kernel_util.h"
#include "backends/cpu/kernels/matmul_ref.h"

namespace kiln::cpu {

EpilogueSpec EpilogueSpec::fromAttrs(const AttrMap& a) {
  EpilogueSpec e;
  parseActivation(a.getString("activation", ""), &e.act);
  e.alpha = a.getFloat("activation_alpha", 0.0f);
  e.beta = a.getFloat("activation_beta", 0.0f);
  return e;
}

void applyEpilogue(Tensor& y, const Tensor* residual, const Tensor* bias, const EpilogueSpec& ep) {
  if (!residual && !bias && ep.act == Activation::kNone) return;
  float* py = y.data<float>();
  const float* pr = residual ? residual->data<float>() : nullptr;
  const float* pb = bias ? bias->data<float>() : nullptr;
  const int64_t n = y.numel();
  const int64_t cols = bias ? bias->numel() : 1;
  parallelFor(n, 16384, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float v = py[i];
      if (pb) v += pb[i % cols];
      if (pr) v += pr[i];
      py[i] = applyActivation<float>(ep.act, v, ep.alpha, ep.beta);
    }
  });
}

namespace {
Status checkF32(std::string_view op, const KernelContext& ctx) {
  for (int i = 0; i < ctx.numInputs(); ++i)
    if (ctx.hasInput(i) && ctx.in(i).dtype() != DType::kFloat32) return unsupportedType(op, ctx.in(i).dtype());
  return Status::OK();
}
}  // namespace

Status refFusedConv(const KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(checkF32("kiln:FusedConv", ctx));
  const Tensor* z = ctx.hasInput(3) ? &ctx.in(3) : nullptr;
  if (z && z->dims() != ctx.out(0).dims())
    return InvalidArgument("FusedConv: residual {} does not match the output {}", z->dims().toString(),
                           ctx.out(0).dims().toString());
  const Tensor* convIns[3] = {ctx.inputs[0], ctx.inputs[1], ctx.hasInput(2) ? ctx.inputs[2] : nullptr};
  KernelContext conv{ctx.attrs, std::span<const Tensor* const>(convIns, ctx.hasInput(2) ? 3 : 2), ctx.outputs};
  KILN_RETURN_IF_ERROR(refConv(conv));
  applyEpilogue(ctx.out(0), z, nullptr, EpilogueSpec::fromAttrs(ctx.attrs));
  return Status::OK();
}

Status refFusedMatMul(const KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(checkF32("kiln:FusedMatMul", ctx));
  const Tensor* bias = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
  Tensor& y = ctx.out(0);
  if (bias && (y.rank() == 0 || bias->numel() != y.dims().back()))
    return InvalidArgument("FusedMatMul: bias of {} values for an output of shape {}", bias->numel(), y.dims().toString());
  KernelContext mm{ctx.attrs, ctx.inputs.subspan(0, 2), ctx.outputs};
  KILN_RETURN_IF_ERROR(refMatMul(mm));
  applyEpilogue(y, nullptr, bias, EpilogueSpec::fromAttrs(ctx.attrs));
  return Status::OK();
}

void RegisterFusedElementwiseKernels(KernelRegistry& r);

void RegisterFusedKernels(KernelRegistry& r) {
  RegisterFusedElementwiseKernels(r);
  r.addFn("FusedConv", "cpu_ref_FusedConv", &refFusedConv, 0, "kiln");
  r.addFn("FusedMatMul", "cpu_ref_FusedMatMul", &refFusedMatMul, 0, "kiln");
}

}  // namespace kiln::cpu
