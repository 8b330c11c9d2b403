// cuDNN's fused attention (SDPA forward) as a tactic for Attention and kiln:PackedAttention
// (attention_cudnn.cc). Compiled only where the cuDNN frontend headers are present.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "backends/cuda/gpu_kernel.h"
#include "backends/cuda/kernels/attention_op.h"

namespace kiln::cuda {

#if KILN_HAVE_CUDNN_FRONTEND
bool attentionCudnnSupports(const LayerDesc& d);
bool packedAttentionCudnnSupports(const LayerDesc& d);
// Scratch the tactic declares (the most a geometry's cuDNN plan may use; more: own kernels).
constexpr size_t kCudnnAttentionWorkspace = size_t{64} << 20;
// Variants: the execution plans of cuDNN's heuristics, in its order (variant v runs plan v, clamped).
constexpr int kCudnnAttentionVariants = 4;
std::unique_ptr<GpuKernel> makeCudnnAttention(bool packed, size_t workspaceLimit, int variant);
// How many execution plans cuDNN offered for the geometry built last (tests print it).
int64_t cudnnAttentionLastPlanCount();
// Runs so far in this process that cuDNN executed, and that fell back to the own kernels (for
// tests: a fallback is correct but must not hide that cuDNN never runs).
uint64_t cudnnAttentionExecutions();
uint64_t cudnnAttentionFallbacks();
std::string cudnnAttentionLastFallbackReason();
#endif

}  // namespace kiln::cuda
