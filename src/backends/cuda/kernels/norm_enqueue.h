// LayerNorm launched by layers that normalize a tensor of their own (kiln:MatMulLayerNorm's
// unfused tactic): the same kernels as LayerNormalization (norm_layer.cu), the packed-row one where
// it applies. ctx: inputs (x, scale, bias?), output y; attrs as LayerNormalization's (axis, epsilon).
// discardInput: x is the caller's private intermediate, dead once read; the kernel may drop it
// from L2 rather than have it written back to DRAM.
#pragma once

#include "backends/cuda/gpu_kernel.h"

namespace kiln::cuda {

Status enqueueLayerNorm(const GpuKernelContext& ctx, bool discardInput = false);

}  // namespace kiln::cuda
