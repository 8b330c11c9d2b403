// Registration of the blas CUDA kernels: cuBLASLt MatMul, Gemm and kiln:FusedMatMul, one tactic
// each, with cuBLASLt's heuristic algorithms as variants (timed by the builder).
#include "backends/cuda/kernels/blas_matmul.h"
#include "backends/cuda/kernels/families.h"
#include "core/activation.h"

namespace kiln::cuda {

namespace {

bool isLtType(DType t, bool allowF64) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16 || (allowF64 && t == DType::kFloat64);
}

bool present(const LayerDesc& d, size_t i) { return i < d.inputTypes.size() && d.inputTypes[i] != DType::kUndefined; }

// Every present input and output has the type of A, which cuBLASLt handles.
bool sameLtTypes(const LayerDesc& d, bool allowF64) {
  if (!present(d, 0) || !present(d, 1) || d.outputTypes.empty()) return false;
  const DType t = d.inputTypes[0];
  if (!isLtType(t, allowF64)) return false;
  for (size_t i = 0; i < d.inputTypes.size(); ++i)
    if (present(d, i) && d.inputTypes[i] != t) return false;
  return d.outputTypes[0] == t && d.outputTypes.size() == 1;
}

bool rankIn(const Shape& s, int lo, int hi) { return !s.rankKnown() || (s.rank() >= lo && s.rank() <= hi); }

bool supportsMatMul(const LayerDesc& d) {
  return d.inputTypes.size() == 2 && sameLtTypes(d, true) && rankIn(d.inputShapes[0], 1, 12) &&
         rankIn(d.inputShapes[1], 1, 12);
}

bool supportsGemm(const LayerDesc& d) {
  if (d.inputTypes.size() < 2 || d.inputTypes.size() > 3 || !sameLtTypes(d, true)) return false;
  if (!rankIn(d.inputShapes[0], 2, 2) || !rankIn(d.inputShapes[1], 2, 2)) return false;
  return !present(d, 2) || rankIn(d.inputShapes[2], 0, 2);
}

bool supportsFused(const LayerDesc& d) {
  if (d.inputTypes.size() < 2 || d.inputTypes.size() > 4 || !sameLtTypes(d, false)) return false;
  Activation act;
  if (!d.attrs || !parseActivation(d.attrs->getString("activation", ""), &act)) return false;
  return rankIn(d.inputShapes[0], 1, 12) && rankIn(d.inputShapes[1], 1, 12);
}

void addMatmul(GpuKernelRegistry& r, const char* domain, const char* op, const char* tactic, MmOp kind,
               bool (*supports)(const LayerDesc&)) {
  GpuKernelDef def;
  def.domain = domain;
  def.op = op;
  def.tactic = tactic;
  def.priority = 100;
  def.supports = supports;
  def.variants = [kind](const LayerDesc& d, size_t wsLimit) { return countMatmulVariants(d, kind, wsLimit); };
  def.create = [kind](const LayerDesc& d, int variant, size_t wsLimit) -> Result<std::unique_ptr<GpuKernel>> {
    if (!d.attrs) return InternalError("cuBLASLt matmul created without attributes");
    auto k = std::make_unique<MatmulKernel>(d, kind, variant < 0 ? 0 : variant);
    k->setWorkspaceLimit(wsLimit);
    return std::unique_ptr<GpuKernel>(std::move(k));
  };
  r.add(std::move(def));
}

}  // namespace

void registerBlasKernels(GpuKernelRegistry& r) {
  addMatmul(r, "", "MatMul", "cuda_blas_matmul", MmOp::kMatMul, &supportsMatMul);
  addMatmul(r, "", "Gemm", "cuda_blas_gemm", MmOp::kGemm, &supportsGemm);
  addMatmul(r, "kiln", "FusedMatMul", "cuda_blas_fused_matmul", MmOp::kFused, &supportsFused);
}

}  // namespace kiln::cuda
