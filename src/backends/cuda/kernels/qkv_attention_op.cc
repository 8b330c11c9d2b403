// kiln:QkvAttention(X, W, bias?, mask?) on the GPU: PackedAttention(X @ W + bias, mask) as one layer
// (passes/fuse_qkv_attention.cc makes it). Two tactics, timed against each other by the builder:
//  - cuda_qkv_attention_unfused (the reference): the projection into the workspace (cuBLASLt; its
//    heuristic candidates are the variants), then Kiln's packed attention kernel (wgmma on compute
//    capability 9.0, else the short-sequence, flash or generic kernel), i.e. the two layers the
//    fusion replaced;
//  - cuda_qkv_attention_wgmma: sm90/qkv_attention_wgmma.cu, which keeps Q, K and V on chip. It
//    reads the weight per head ([H][Q_h | K_h | V_h][K]), which each execution context packs once
//    from the constant W (and bias) in createState.
// Static shapes only (the unfused tactic's intermediate is sized at build time).
#include <cstring>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/attention_op.h"
#include "backends/cuda/kernels/blas_matmul.h"
#include "backends/cuda/kernels/dnn_conv_util.h"  // DeviceMem
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/layer_workspace.h"
#include "backends/cuda/kernels/pdl.h"
#include "backends/cuda/sm90/qkv_attention_wgmma.h"

namespace kiln::cuda {

namespace {


// The layer as its two parts: the projection (FusedMatMul X, W, bias -> QKV [B, S, N]) and the
// attention (PackedAttention QKV, mask -> Y).
LayerDesc projectionPart(const LayerDesc& d, const AttrMap* attrs) {
  LayerDesc m;
  m.op = "FusedMatMul";
  m.domain = "kiln";
  m.attrs = attrs;
  m.allowTf32 = d.allowTf32;
  const size_t n = inputPresent(d, 2) ? 3 : 2;
  for (size_t i = 0; i < n; ++i) {
    m.inputTypes.push_back(d.inputTypes[i]);
    m.inputShapes.push_back(d.inputShapes[i]);
    m.constInputs.push_back(i < d.constInputs.size() ? d.constInputs[i] : nullptr);
  }
  const Shape& x = d.inputShapes[0];
  m.outputTypes = {d.outputTypes[0]};
  m.outputShapes = {Shape({x[0], x[1], d.inputShapes[1][1]})};
  return m;
}

LayerDesc attentionPart(const LayerDesc& d) {
  LayerDesc a;
  a.op = "PackedAttention";
  a.domain = "kiln";
  a.attrs = d.attrs;
  const Shape& x = d.inputShapes[0];
  a.inputTypes = {d.outputTypes[0]};
  a.inputShapes = {Shape({x[0], x[1], d.inputShapes[1][1]})};
  a.constInputs = {nullptr};
  if (inputPresent(d, 3)) {
    a.inputTypes.push_back(d.inputTypes[3]);
    a.inputShapes.push_back(d.inputShapes[3]);
    a.constInputs.push_back(nullptr);
  }
  a.outputTypes = d.outputTypes;
  a.outputShapes = d.outputShapes;
  return a;
}

bool supports(const LayerDesc& d) {
  if (d.inputTypes.size() < 2 || d.inputTypes.size() > 4 || !inputPresent(d, 0) || !inputPresent(d, 1) || !d.attrs) return false;
  if (d.outputTypes.size() != 1 || d.outputShapes.empty() || !d.outputShapes[0].isStatic()) return false;
  const DType t = d.inputTypes[0];
  if (t != DType::kFloat16 && t != DType::kBFloat16 && t != DType::kFloat32) return false;
  if (d.inputTypes[1] != t || (inputPresent(d, 2) && d.inputTypes[2] != t) || d.outputTypes[0] != t) return false;
  const Shape &x = d.inputShapes[0], &w = d.inputShapes[1];
  if (!x.isStatic() || x.rank() != 3 || !w.isStatic() || w.rank() != 2 || x[2].value() != w[0].value()) return false;
  return packedAttentionGenericSupports(attentionPart(d));
}

size_t intermediateBytes(const LayerDesc& d) {
  const Shape& x = d.inputShapes[0];
  return alignWorkspace(static_cast<size_t>(x[0].value() * x[1].value() * d.inputShapes[1][1].value()) *
                 dtypeSize(d.outputTypes[0]));
}

size_t gemmWorkspaceLimit(const LayerDesc& d, size_t workspaceLimit) {
  return scratchAfter(intermediateBytes(d), workspaceLimit);
}

int projectionVariants(const LayerDesc& d, size_t workspaceLimit) {
  AttrMap none;
  return countMatmulVariants(projectionPart(d, &none), MmOp::kFused, gemmWorkspaceLimit(d, workspaceLimit));
}

// The inputs of the attention part: the projection's output and the mask.
Status runAttention(const GpuKernelContext& c, Tensor* qkv) {
  const Tensor* in[2] = {qkv, c.hasInput(3) ? c.inputs[3] : nullptr};
  Tensor* out[1] = {&c.out(0)};
  GpuKernelContext ac{c.attrs, std::span<const Tensor* const>(in, in[1] ? 2 : 1), std::span<Tensor* const>(out, 1),
                      nullptr, c.res, c.stream, nullptr, 0, c.check};
  AttnParams p;
  DType t = DType::kUndefined;
  KILN_ASSIGN_OR_RETURN(const bool work, prepareAttention(ac, &p, &t, /*packed=*/true));
  if (!work) return Status::OK();
  p.pdl = pdlEnabled(c.res.computeCapability);
  const bool wgmma = c.res.computeCapability == 90;  // sm_90a code runs on 9.0 alone
  return launchOwnAttention(p, t, /*flash=*/t != DType::kFloat32, c.stream, /*resident=*/true, wgmma);
}

struct UnfusedState final : GpuKernelState {
  std::unique_ptr<GpuKernelState> gemm;
};

class QkvAttentionUnfused final : public GpuKernel {
 public:
  QkvAttentionUnfused(const LayerDesc& d, std::unique_ptr<GpuKernel> gemm)
      : gemm_(std::move(gemm)), zBytes_(intermediateBytes(d)) {}

  size_t workspaceBytes() const override { return zBytes_ + gemm_->workspaceBytes(); }

  Result<std::unique_ptr<GpuKernelState>> createState(const GpuResources& res) const override {
    auto s = std::make_unique<UnfusedState>();
    KILN_ASSIGN_OR_RETURN(s->gemm, gemm_->createState(res));
    return std::unique_ptr<GpuKernelState>(std::move(s));
  }

  Status enqueue(const GpuKernelContext& c) const override {
    if (!c.hasInput(0) || !c.hasInput(1) || !c.hasOutput(0)) return InvalidArgument("QkvAttention needs X, W and Y");
    const Tensor& x = c.in(0);
    const Tensor& w = c.in(1);
    if (x.rank() != 3 || w.rank() != 2)
      return InvalidArgument("QkvAttention: X {} / W {} are not [B, S, K] / [K, N]", x.dims().toString(),
                             w.dims().toString());
    const Dims zd{x.dims()[0], x.dims()[1], w.dims()[1]};
    const size_t need = static_cast<size_t>(zd.numel()) * dtypeSize(x.dtype());
    if (need > zBytes_ || c.workspaceSize < zBytes_)
      return InternalError("QkvAttention: projection {} does not fit the planned intermediate of {} bytes",
                           zd.toString(), zBytes_);
    Tensor z = Tensor::borrow(x.dtype(), zd, c.workspace);
    const Tensor* mmIn[3] = {c.inputs[0], c.inputs[1], c.hasInput(2) ? c.inputs[2] : nullptr};
    Tensor* mmOut[1] = {&z};
    GpuKernelContext mc{gemmAttrs_, std::span<const Tensor* const>(mmIn, mmIn[2] ? 3 : 2),
                        std::span<Tensor* const>(mmOut, 1), static_cast<UnfusedState*>(c.state)->gemm.get(), c.res,
                        c.stream, static_cast<char*>(c.workspace) + zBytes_, c.workspaceSize - zBytes_, c.check};
    KILN_RETURN_IF_ERROR(gemm_->enqueue(mc));
    return runAttention(c, &z);
  }

 private:
  AttrMap gemmAttrs_;  // the projection: no activation
  std::unique_ptr<GpuKernel> gemm_;
  size_t zBytes_ = 0;
};

// The fused kernel's layers: float16 (its bfloat16 instance has not run on a device yet), heads of
// 64 with as many key/value heads as query heads, at most 128 tokens, K a multiple of 64, and none
// of what only the full attention kernel does.
bool fusedSupports(const LayerDesc& d) {
  if (!supports(d) || d.inputTypes[0] != DType::kFloat16) return false;
  const AttrMap& a = *d.attrs;
  const int64_t hq = a.getInt("q_num_heads", 0), hkv = a.getInt("kv_num_heads", 0);
  const Shape &x = d.inputShapes[0], &w = d.inputShapes[1];
  if (hq <= 0 || hq != hkv || w[1].value() != hq * kQkvHeadCols) return false;
  if (x[1].value() > 128 || w[0].value() % 64 != 0 || a.getInt("is_causal", 0) != 0) return false;
  return packedAttentionWgmmaSupports(attentionPart(d));
}

struct FusedState final : GpuKernelState {
  dnn::DeviceMem w, bias;  // the packed weight and bias
};

class QkvAttentionFused final : public GpuKernel {
 public:
  explicit QkvAttentionFused(const LayerDesc& d)
      : w_(*d.constInputs[1]), bias_(inputPresent(d, 2) && d.constInputs.size() > 2 && d.constInputs[2]
                                          ? *d.constInputs[2]
                                          : Tensor()),
        heads_(d.attrs->getInt("q_num_heads", 0)) {}

  Result<std::unique_ptr<GpuKernelState>> createState(const GpuResources& res) const override {
    if (res.computeCapability != 90)
      return Unsupported("the fused QKV attention needs compute capability 9.0, this device has {}.{}",
                         res.computeCapability / 10, res.computeCapability % 10);
    auto st = std::make_unique<FusedState>();
    const int64_t hidden = w_.dims()[0];
    const size_t es = dtypeSize(w_.dtype());
    std::vector<char> packed(static_cast<size_t>(w_.numel()) * es);
    packQkvWeights(w_.raw(), packed.data(), hidden, heads_, es);
    KILN_RETURN_IF_ERROR(st->w.allocate(packed.size()));
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(st->w.ptr, packed.data(), packed.size(), cudaMemcpyHostToDevice));
    if (bias_.defined()) {
      std::vector<char> pb(static_cast<size_t>(bias_.numel()) * es);
      packQkvBias(bias_.raw(), pb.data(), heads_, es);
      KILN_RETURN_IF_ERROR(st->bias.allocate(pb.size()));
      KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(st->bias.ptr, pb.data(), pb.size(), cudaMemcpyHostToDevice));
    }
    return std::unique_ptr<GpuKernelState>(std::move(st));
  }

  Status enqueue(const GpuKernelContext& c) const override {
    auto* st = static_cast<FusedState*>(c.state);
    if (!st) return InternalError("QkvAttention: the fused kernel runs without its state");
    if (!c.hasInput(0) || !c.hasOutput(0)) return InvalidArgument("QkvAttention needs X and Y");
    if (c.hasInput(2) != bias_.defined())
      return InvalidArgument("QkvAttention: the bias input differs from the layer the kernel was built for");
    const Tensor& x = c.in(0);
    if (x.rank() != 3 || x.dims()[2] != w_.dims()[0] || x.dtype() != w_.dtype())
      return InvalidArgument("QkvAttention: X {} ({}) does not fit W {} ({})", x.dims().toString(),
                             dtypeName(x.dtype()), w_.dims().toString(), dtypeName(w_.dtype()));
    // The attention's geometry and mask, as PackedAttention would see the projection (a view of
    // X's memory that is never read: only its dims matter).
    Tensor qkv = Tensor::borrow(x.dtype(), Dims{x.dims()[0], x.dims()[1], w_.dims()[1]}, const_cast<void*>(x.raw()));
    const Tensor* in[2] = {&qkv, c.hasInput(3) ? c.inputs[3] : nullptr};
    Tensor* out[1] = {&c.out(0)};
    GpuKernelContext ac{c.attrs, std::span<const Tensor* const>(in, in[1] ? 2 : 1), std::span<Tensor* const>(out, 1),
                        nullptr, c.res, c.stream, nullptr, 0, c.check};
    QkvAttnArgs a;
    DType t = DType::kUndefined;
    KILN_ASSIGN_OR_RETURN(const bool work, prepareAttention(ac, &a.attn, &t, /*packed=*/true));
    if (!work) return Status::OK();
    a.attn.pdl = pdlEnabled(c.res.computeCapability);
    a.x = x.raw();
    a.ldx = x.dims()[2];
    a.hidden = x.dims()[2];
    a.w = st->w.ptr;
    a.bias = bias_.defined() ? st->bias.ptr : nullptr;
    a.y = c.out(0).raw();
    a.ldy = c.out(0).dims()[2];
    if (!qkvAttentionWgmmaHandles(a, t))
      return Unsupported("QkvAttention: the fused kernel does not take this run (X {}, {} heads)", x.dims().toString(),
                         a.attn.Hq);
    KILN_CUDA_RETURN_IF_ERROR(launchQkvAttentionWgmma(a, t, c.stream));
    return Status::OK();
  }

 private:
  Tensor w_, bias_;  // host copies of the constants (the engine's)
  int64_t heads_;
};

}  // namespace

void registerQkvAttentionKernels(GpuKernelRegistry& r) {
  GpuKernelDef unfused;
  unfused.domain = "kiln";
  unfused.op = "QkvAttention";
  unfused.tactic = "cuda_qkv_attention_unfused";
  unfused.priority = 100;  // the reference the fused kernel is checked against
  unfused.supports = &supports;
  unfused.variants = &projectionVariants;
  unfused.create = [](const LayerDesc& d, int variant, size_t workspaceLimit) -> Result<std::unique_ptr<GpuKernel>> {
    if (!supports(d)) return Unsupported("QkvAttention: the unfused tactic needs fixed shapes and one float type");
    AttrMap none;
    const LayerDesc part = projectionPart(d, &none);
    const int lt = variant < 0 ? 0 : variant;
    if (lt >= projectionVariants(d, workspaceLimit))
      return InvalidArgument("QkvAttention: variant {} of the unfused tactic does not exist", variant);
    auto k = std::make_unique<MatmulKernel>(part, MmOp::kFused, lt);
    k->setWorkspaceLimit(gemmWorkspaceLimit(d, workspaceLimit));
    return std::unique_ptr<GpuKernel>(std::make_unique<QkvAttentionUnfused>(d, std::move(k)));
  };
  r.add(std::move(unfused));

  GpuKernelDef fused;
  fused.domain = "kiln";
  fused.op = "QkvAttention";
  fused.tactic = "cuda_qkv_attention_wgmma";
  fused.priority = 90;  // timed against the unfused tactic; below it where nothing is timed
  fused.supports = &fusedSupports;
  fused.create = [](const LayerDesc& d, int, size_t) -> Result<std::unique_ptr<GpuKernel>> {
    if (!fusedSupports(d)) return Unsupported("QkvAttention: the fused kernel does not take this layer");
    if (d.constInputs.size() < 2 || !d.constInputs[1] || !d.constInputs[1]->defined() ||
        (inputPresent(d, 2) && (d.constInputs.size() < 3 || !d.constInputs[2] || !d.constInputs[2]->defined())))
      return Unsupported("QkvAttention: the fused kernel needs a constant weight and bias");
    return std::unique_ptr<GpuKernel>(std::make_unique<QkvAttentionFused>(d));
  };
  r.add(std::move(fused));
}

}  // namespace kiln::cuda
