// LayerNorm launched by layers that normalize a tensor of their own (kiln:MatMulLayerNorm's
// unfused tactic): the same kernels as LayerNormalization (norm_layer.cu), the packed-row one where
// it applies. ctx: inputs (x, scale, bias?), output y; attrs as LayerNormalization's (axis, epsilon).
#pragma once

#include "backends/cuda/gpu_kernel.h"

namespace kiln::cuda {

Status enqueueLayerNorm(const GpuKernelContext& ctx);

}  // namespace kiln::cuda
