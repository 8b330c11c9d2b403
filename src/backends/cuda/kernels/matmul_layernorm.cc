// kiln:MatMulLayerNorm as the two layers it replaces, inside one: the FusedMatMul into the
// workspace, then the LayerNorm kernel into the output. Tactic "cuda_matmul_then_layernorm", whose
// variants are the GEMM's: the CUTLASS configurations, then cuBLASLt's heuristic candidates (so
// folding the LayerNorm into the layer keeps the GEMM as tuned as it was unfolded);
// the layer's reference (first) candidate: the builder checks the fused CUTLASS kernel
// (blas_cutlass.cc) against it and keeps whichever times faster, so a shape where the cluster
// GEMM loses (few rows: a handful of clusters for the whole GPU) runs unfused. Static shapes only
// (the intermediate's size is the workspace's).
#include <optional>

#include "backends/cuda/kernels/blas_cutlass.h"
#include "backends/cuda/kernels/blas_matmul.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/layer_workspace.h"
#include "backends/cuda/kernels/norm_enqueue.h"

namespace kiln::cuda {

namespace {


// The FusedMatMul part of the layer (inputs A, B, bias, R; no activation).
LayerDesc matmulPart(const LayerDesc& d, const AttrMap* attrs) {
  LayerDesc m = d;
  m.op = "FusedMatMul";
  m.attrs = attrs;
  const size_t n = std::min<size_t>(4, d.inputTypes.size());
  m.inputTypes.resize(n);
  m.inputShapes.resize(n);
  m.constInputs.resize(std::min(n, d.constInputs.size()));
  while (!m.inputTypes.empty() && m.inputTypes.back() == DType::kUndefined) {
    m.inputTypes.pop_back();
    m.inputShapes.pop_back();
    if (m.constInputs.size() > m.inputTypes.size()) m.constInputs.pop_back();
  }
  return m;
}

bool supports(const LayerDesc& d) {
  if (d.inputTypes.size() < 5 || !inputPresent(d, 0) || !inputPresent(d, 1) || !inputPresent(d, 4)) return false;
  if (d.outputTypes.size() != 1 || d.outputShapes.empty() || !d.outputShapes[0].numel()) return false;
  const DType t = d.outputTypes[0];
  if (t != DType::kFloat16 && t != DType::kBFloat16 && t != DType::kFloat32) return false;
  for (size_t i = 0; i < d.inputTypes.size(); ++i)
    if (inputPresent(d, i) && d.inputTypes[i] != t) return false;
  const Shape &a = d.inputShapes[0], &b = d.inputShapes[1];
  if (!a.rankKnown() || a.rank() < 2 || !b.rankKnown() || b.rank() != 2 || !b[1].isStatic()) return false;
  // Scale and beta: one value per row element, as the CPU and cluster kernels take them.
  for (size_t i : {size_t{4}, size_t{5}})
    if (inputPresent(d, i) && d.inputShapes[i].numel() != b[1].value()) return false;
  return true;
}

size_t intermediateBytes(const LayerDesc& d) {
  return alignWorkspace(static_cast<size_t>(*d.outputShapes[0].numel()) * dtypeSize(d.outputTypes[0]));
}

// The scratch the GEMM part may use: the layer's limit less the intermediate.
size_t gemmWorkspaceLimit(const LayerDesc& d, size_t workspaceLimit) {
  return scratchAfter(intermediateBytes(d), workspaceLimit);
}

struct State final : GpuKernelState {
  std::unique_ptr<GpuKernelState> matmul;
};

class MatMulThenLayerNorm final : public GpuKernel {
 public:
  MatMulThenLayerNorm(const LayerDesc& d, std::unique_ptr<GpuKernel> gemm, AttrMap gemmAttrs)
      : gemmAttrs_(std::move(gemmAttrs)), gemm_(std::move(gemm)) {
    lnAttrs_.set("axis", AttrValue(int64_t{-1}));
    lnAttrs_.set("epsilon", AttrValue(d.attrs ? d.attrs->getFloat("epsilon", 1e-5f) : 1e-5f));
    zBytes_ = intermediateBytes(d);
  }

  size_t workspaceBytes() const override { return zBytes_ + gemm_->workspaceBytes(); }

  Result<std::unique_ptr<GpuKernelState>> createState(const GpuResources& res) const override {
    auto s = std::make_unique<State>();
    KILN_ASSIGN_OR_RETURN(s->matmul, gemm_->createState(res));
    return std::unique_ptr<GpuKernelState>(std::move(s));
  }

  Status enqueue(const GpuKernelContext& c) const override {
    if (!c.hasInput(4)) return InvalidArgument("MatMulLayerNorm needs its scale (input 4)");
    Tensor& y = c.out(0);
    const int64_t n = y.rank() == 0 ? 1 : y.dims().back();
    for (int i : {4, 5})
      if (c.hasInput(i) && c.in(i).numel() != n)
        return InvalidArgument("MatMulLayerNorm: {} {} for rows of {}", i == 4 ? "scale" : "bias", c.in(i).dims().toString(),
                               n);
    const size_t need = static_cast<size_t>(y.numel()) * dtypeSize(y.dtype());
    if (need > zBytes_ || c.workspaceSize < zBytes_)
      return InternalError("MatMulLayerNorm: output {} does not fit the planned intermediate of {} bytes",
                           y.dims().toString(), zBytes_);
    Tensor z = Tensor::borrow(y.dtype(), y.dims(), c.workspace);
    const Tensor* mmIn[4] = {c.inputs[0], c.inputs[1], c.hasInput(2) ? c.inputs[2] : nullptr,
                             c.hasInput(3) ? c.inputs[3] : nullptr};
    size_t nIn = 4;
    while (nIn > 2 && mmIn[nIn - 1] == nullptr) --nIn;
    Tensor* mmOut[1] = {&z};
    GpuKernelContext mc{gemmAttrs_, std::span<const Tensor* const>(mmIn, nIn), std::span<Tensor* const>(mmOut, 1),
                        static_cast<State*>(c.state)->matmul.get(), c.res, c.stream,
                        static_cast<char*>(c.workspace) + zBytes_, c.workspaceSize - zBytes_, c.check};
    KILN_RETURN_IF_ERROR(gemm_->enqueue(mc));
    const Tensor* lnIn[3] = {&z, c.inputs[4], c.hasInput(5) ? c.inputs[5] : nullptr};
    Tensor* lnOut[1] = {&y};
    GpuKernelContext lc{lnAttrs_, std::span<const Tensor* const>(lnIn, c.hasInput(5) ? 3 : 2),
                        std::span<Tensor* const>(lnOut, 1), nullptr, c.res, c.stream, nullptr, 0, c.check};
    return enqueueLayerNorm(lc, /*discardInput=*/true);  // z lives in this layer's workspace only
  }

 private:
  AttrMap gemmAttrs_, lnAttrs_;  // gemmAttrs_: empty (no activation), outlives the GEMM kernel
  std::unique_ptr<GpuKernel> gemm_;
  size_t zBytes_ = 0;
};

// Variants: the CUTLASS configurations (a fixed count) first, then cuBLASLt's candidates for the
// GEMM part (with the scratch left to it): an engine's recorded variant keeps its meaning even if
// cuBLASLt offered a different number of candidates where it is loaded.
int cublasVariants(const LayerDesc& d, size_t workspaceLimit) {
  AttrMap none;
  return countMatmulVariants(matmulPart(d, &none), MmOp::kFused, gemmWorkspaceLimit(d, workspaceLimit));
}

}  // namespace

void registerMatMulLayerNormKernels(GpuKernelRegistry& r) {
  GpuKernelDef def;
  def.domain = "kiln";
  def.op = "MatMulLayerNorm";
  def.tactic = "cuda_matmul_then_layernorm";
  def.priority = 100;  // the reference the fused kernel is checked against
  def.supports = &supports;
  def.variants = [](const LayerDesc& d, size_t workspaceLimit) {
    AttrMap none;
    return cublasVariants(d, workspaceLimit) + cutlassFusedMatMulConfigs(matmulPart(d, &none));
  };
  def.create = [](const LayerDesc& d, int variant, size_t workspaceLimit) -> Result<std::unique_ptr<GpuKernel>> {
    if (!supports(d)) return Unsupported("MatMulLayerNorm: the unfused tactic needs fixed shapes and one float type");
    const size_t gemmLimit = gemmWorkspaceLimit(d, workspaceLimit);
    AttrMap attrs;  // the GEMM part: no activation
    const LayerDesc part = matmulPart(d, &attrs);
    const int nCutlass = cutlassFusedMatMulConfigs(part);
    std::unique_ptr<GpuKernel> gemm;
    if (variant >= 0 && variant < nCutlass) {
      KILN_ASSIGN_OR_RETURN(gemm, makeCutlassFusedMatMul(part, variant));
    } else {
      const int lt = variant < 0 ? 0 : variant - nCutlass;
      if (lt >= cublasVariants(d, workspaceLimit))
        return InvalidArgument("MatMulLayerNorm: variant {} of the unfused tactic does not exist", variant);
      auto k = std::make_unique<MatmulKernel>(part, MmOp::kFused, lt);
      k->setWorkspaceLimit(gemmLimit);
      gemm = std::move(k);
    }
    return std::unique_ptr<GpuKernel>(std::make_unique<MatMulThenLayerNorm>(d, std::move(gemm), attrs));
  };
  r.add(std::move(def));
}

}  // namespace kiln::cuda
