// cuBLASLt-backed MatMul / Gemm / kiln:FusedMatMul kernel (host side; see blas_matmul.cc).
#pragma once

#include "backends/cuda/gpu_kernel.h"

namespace kiln::cuda {

enum class MmOp { kMatMul, kGemm, kFused };

class MatmulKernel final : public GpuKernel {
 public:
  // tanhGelu: an erf-GELU activation runs as cuBLASLt's tanh-GELU epilogue (see blas_register.cc).
  MatmulKernel(const LayerDesc& d, MmOp op, int variant, bool tanhGelu = false);
  void setWorkspaceLimit(size_t limit) { wsLimit_ = limit; }
  Status enqueue(const GpuKernelContext& ctx) const override;
  Result<std::unique_ptr<GpuKernelState>> createState(const GpuResources& res) const override;
  size_t workspaceBytes() const override;

 private:
  const char* opName() const;
  MmOp op_;
  int variant_;
  DType dtype_ = DType::kUndefined;
  bool tf32_ = false;
  bool transA_ = false, transB_ = false;
  float alpha_ = 1.0f, beta_ = 1.0f;
  int act_ = 0;  // kiln::Activation
  float actAlpha_ = 0.0f, actBeta_ = 0.0f;
  size_t wsLimit_ = 0;
};

// How many heuristic algorithms cuBLASLt offers for the layer (>= 1): the variant count.
int countMatmulVariants(const LayerDesc& d, MmOp op, size_t workspaceLimit, bool tanhGelu = false);

}  // namespace kiln::cuda
