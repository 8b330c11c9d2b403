// The CUTLASS FusedMatMul kernel (blas_cutlass.cc) for layers that run a GEMM of their own
// (kiln:MatMulLayerNorm's unfused tactic times it as variants next to cuBLASLt's).
#pragma once

#include "backends/cuda/gpu_kernel.h"

namespace kiln::cuda {

// Configurations that run a FusedMatMul like `d` (0 in builds without CUTLASS or when it does not).
int cutlassFusedMatMulConfigs(const LayerDesc& d);
Result<std::unique_ptr<GpuKernel>> makeCutlassFusedMatMul(const LayerDesc& d, int config);

}  // namespace kiln::cuda
