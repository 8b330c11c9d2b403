// The GEMM convolution tactic of kiln:FusedConv (cuda_gemm_fused_conv): a channels-last 2-D
// convolution as one cuBLASLt matmul, Y[pixels, K] = col(X)[pixels, R*S*C] x W[K, R*S*C]^T, with
// the bias (+ ReLU) in cuBLASLt's epilogue and the residual as its C operand (beta = 1). 1x1
// stride-1 unpadded convolutions multiply X itself; others gather X into an im2col matrix in the
// workspace first. Why: at small batches cuDNN's legacy heuristics run the deep ResNet layers
// (7x7 and 14x14 planes, 256-2048 channels) on a handful of CTAs for 150-250 us each, while
// cuBLASLt's heuristics split K across the GPU; the builder times both and keeps the faster.
// Static shapes, constant weights, group 1, float16/bfloat16/float32 only.
#pragma once

#include "backends/cuda/gpu_kernel.h"

namespace kiln::cuda::dnn {

bool supportsConvGemm(const LayerDesc& d);
// cuBLASLt's heuristic algorithms for the layer's matmul (>= 1).
int convGemmVariants(const LayerDesc& d, size_t workspaceLimit);
Result<std::unique_ptr<GpuKernel>> createConvGemm(const LayerDesc& d, int variant, size_t workspaceLimit);

}  // namespace kiln::cuda::dnn
