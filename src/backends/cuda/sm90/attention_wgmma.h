// Short-sequence attention on wgmma (attention_wgmma.cu, compiled for sm_90a only): the resident
// kernel's cases with D == Dv == 64. Callers check the device is compute capability 9.0 first.
#pragma once

#include "backends/cuda/kernels/attention_kernels.h"

namespace kiln::cuda {

bool attentionWgmmaHandles(const AttnParams& p, DType t);
cudaError_t launchAttentionWgmma(const AttnParams& p, DType t, cudaStream_t stream);

}  // namespace kiln::cuda
