// Reference kernels of the fused layers: the unfused kernel, then the epilogue in one pass.
#include "backends/cpu/kernels/fused.h"

#include "backends/cpu/kernels/conv_pool_ref.h"
#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/kernel_util.h"
#include "backends/cpu/kernels/matmul_ref.h"
#include "backends/cpu/kernels/normalization_common.h"
#include "core/layout.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "core/function_ref.h"

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

Tensor ScratchState::get(size_t i, DType dtype, const Dims& dims) {
  if (buffers.size() <= i) buffers.resize(i + 1);
  const size_t need = static_cast<size_t>(dims.numel()) * dtypeSize(dtype);
  if (!buffers[i].defined() || buffers[i].nbytes() < need)
    buffers[i] = Tensor::allocate(DType::kUInt8, Dims{static_cast<int64_t>(std::max<size_t>(need, 64))});
  return Tensor::borrow(dtype, dims, buffers[i].raw());
}

Tensor permutedTensor(const Tensor& x, const Dims& perm) {
  Dims od;
  for (int i = 0; i < x.rank(); ++i) od.push_back(x.dims()[static_cast<int>(perm[i])]);
  Tensor y = Tensor::allocate(x.dtype(), od);
  permuteInto(x, perm, y);
  return y;
}

void permuteInto(const Tensor& x, const Dims& perm, Tensor& y) {
  const int r = x.rank();
  const Dims& od = y.dims();
  Dims xs = contiguousStrides(x.dims());
  const size_t sz = dtypeSize(x.dtype());
  const auto* px = static_cast<const char*>(x.raw());
  auto* py = static_cast<char*>(y.raw());
  Dims idx = Dims::filled(r, 0);
  for (int64_t o = 0; o < y.numel(); ++o) {
    int64_t off = 0;
    for (int i = 0; i < r; ++i) off += idx[i] * xs[static_cast<int>(perm[i])];
    std::memcpy(py + o * sz, px + off * sz, sz);
    for (int i = r - 1; i >= 0; --i) {
      if (++idx[i] < od[i]) break;
      idx[i] = 0;
    }
  }
}

namespace {
// Runs `fn` on channels-first copies of the listed inputs (at most 4 inputs) and output 0, then
// permutes back. The copies live in the context's scratch state when there is one.
Status viaChannelsFirst(const KernelContext& ctx, std::initializer_list<int> clInputs,
                        FunctionRef<Status(const KernelContext&)> fn) {
  const int r = ctx.in(0).rank();
  if (ctx.numInputs() > 4) return InternalError("viaChannelsFirst: too many inputs");
  ScratchState local;
  // Another kernel's state (a oneDNN kernel falling back to this one) is not ours to use.
  auto* own = dynamic_cast<ScratchState*>(ctx.state);
  ScratchState* scratch = own ? own : &local;
  // Permutations as inline Dims (no heap): [N, S..., C] <-> [N, C, S...].
  Dims toFirst, toLast;
  toFirst.push_back(0);
  toFirst.push_back(r - 1);
  toLast.push_back(0);
  for (int i = 1; i < r - 1; ++i) toFirst.push_back(i);
  for (int i = 2; i < r; ++i) toLast.push_back(i);
  toLast.push_back(1);
  std::array<Tensor, 4> ins;
  std::array<const Tensor*, 4> ptrs{};
  for (int i = 0; i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i)) continue;
    bool cl = std::find(clInputs.begin(), clInputs.end(), i) != clInputs.end();
    if (cl) {
      ins[i] = scratch->get(i, ctx.in(i).dtype(), channelsFirstDims(ctx.in(i).dims()));
      permuteInto(ctx.in(i), toFirst, ins[i]);
    } else {
      ins[i] = ctx.in(i);
    }
    ptrs[i] = &ins[i];
  }
  Tensor y = scratch->get(4, ctx.out(0).dtype(), channelsFirstDims(ctx.out(0).dims()));
  Tensor* outs[1] = {&y};
  KernelContext inner{ctx.attrs, std::span<const Tensor* const>(ptrs.data(), ctx.numInputs()),
                      std::span<Tensor* const>(outs, 1), nullptr};
  KILN_RETURN_IF_ERROR(fn(inner));
  permuteInto(y, toLast, ctx.out(0));
  return Status::OK();
}
}  // namespace

Status refNhwcPool(const KernelContext& ctx, Status (*pool)(const KernelContext&)) {
  if (ctx.in(0).rank() < 3) return InvalidArgument("channels-last pooling needs rank >= 3");
  return viaChannelsFirst(ctx, {0}, pool);
}

namespace {
Status refFusedConvFirst(const KernelContext& ctx);
}

Status refFusedConv(const KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(checkF32("kiln:FusedConv", ctx));
  if (ctx.attrs.getInt("channels_last", 0) != 0) {
    if (ctx.in(0).rank() < 3) return InvalidArgument("FusedConv: channels-last input needs rank >= 3");
    // The conv reads only its own attributes; channels_last is not among them.
    return viaChannelsFirst(ctx, {0, 3}, [](const KernelContext& inner) { return refFusedConvFirst(inner); });
  }
  return refFusedConvFirst(ctx);
}

namespace {
Status refFusedConvFirst(const KernelContext& ctx) {
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
}  // namespace

Status refFusedMatMul(const KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(checkF32("kiln:FusedMatMul", ctx));
  const Tensor* bias = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
  Tensor& y = ctx.out(0);
  if (bias && (y.rank() == 0 || bias->numel() != y.dims().back()))
    return InvalidArgument("FusedMatMul: bias of {} values for an output of shape {}", bias->numel(), y.dims().toString());
  const Tensor* residual = ctx.hasInput(3) ? &ctx.in(3) : nullptr;
  if (residual && residual->dims() != y.dims())
    return InvalidArgument("FusedMatMul: residual of shape {} for an output of shape {}", residual->dims().toString(),
                           y.dims().toString());
  KernelContext mm{ctx.attrs, ctx.inputs.subspan(0, 2), ctx.outputs};
  KILN_RETURN_IF_ERROR(refMatMul(mm));
  applyEpilogue(y, residual, bias, EpilogueSpec::fromAttrs(ctx.attrs));
  return Status::OK();
}

// kiln:MatMulLayerNorm: the FusedMatMul (no activation), then LayerNorm over each output row in
// place, with the LayerNormalization kernel's float statistics (mean, then the centered variance).
Status refMatMulLayerNorm(const KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(checkF32("kiln:MatMulLayerNorm", ctx));
  if (!ctx.hasInput(4)) return InvalidArgument("MatMulLayerNorm needs its scale (input 4)");
  KILN_RETURN_IF_ERROR(refFusedMatMul(ctx));
  Tensor& y = ctx.out(0);
  const int64_t n = y.rank() == 0 ? 1 : y.dims().back();
  const Tensor& gamma = ctx.in(4);
  const Tensor* beta = ctx.hasInput(5) ? &ctx.in(5) : nullptr;
  if (gamma.numel() != n || (beta && beta->numel() != n))
    return InvalidArgument("MatMulLayerNorm: scale of {} and bias of {} values for rows of {}", gamma.numel(),
                           beta ? beta->numel() : n, n);
  const float eps = ctx.attrs.getFloat("epsilon", 1e-5f);
  float* py = y.data<float>();
  const float* g = gamma.data<float>();
  const float* b = beta ? beta->data<float>() : nullptr;
  const int64_t rows = n == 0 ? 0 : y.numel() / n;
  // The same statistics and normalization as the LayerNormalization kernel (float compute).
  parallelFor(rows, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* row = py + r * n;
      float mean, var;
      meanVar(row, n, &mean, &var);
      normalizeRow<float, float>(row, mean, 1.0f / std::sqrt(var + eps), g, b, row, n);
    }
  });
  return Status::OK();
}

void RegisterFusedElementwiseKernels(KernelRegistry& r);
void RegisterFusedEmbedKernels(KernelRegistry& r);

void RegisterFusedKernels(KernelRegistry& r) {
  RegisterFusedElementwiseKernels(r);
  RegisterFusedEmbedKernels(r);
  // Channels-last reference kernels keep their channels-first copies in per-context scratch.
  auto scratch = [] { return std::unique_ptr<KernelState>(std::make_unique<ScratchState>()); };
  r.addFn("NhwcMaxPool", "cpu_ref_NhwcMaxPool", [](const KernelContext& c) { return refNhwcPool(c, refMaxPool); }, 0,
          "kiln", scratch);
  r.addFn("NhwcAveragePool", "cpu_ref_NhwcAveragePool",
          [](const KernelContext& c) { return refNhwcPool(c, refAveragePool); }, 0, "kiln", scratch);
  r.addFn("NhwcGlobalAveragePool", "cpu_ref_NhwcGlobalAveragePool",
          [](const KernelContext& c) { return refNhwcPool(c, refGlobalAveragePool); }, 0, "kiln", scratch);
  r.addFn("FusedConv", "cpu_ref_FusedConv", &refFusedConv, 0, "kiln", scratch);
  r.addFn("FusedMatMul", "cpu_ref_FusedMatMul", &refFusedMatMul, 0, "kiln");
  r.addFn("MatMulLayerNorm", "cpu_ref_MatMulLayerNorm", &refMatMulLayerNorm, 0, "kiln");
}

}  // namespace kiln::cpu
