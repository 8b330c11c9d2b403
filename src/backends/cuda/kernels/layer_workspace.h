// Helpers of the layers that run as two kernels inside one (kiln:MatMulLayerNorm and
// kiln:QkvAttention unfused): the first kernel's output lives at the start of the layer's
// workspace, the library call's scratch after it.
#pragma once

#include <cstddef>

#include "backends/cuda/gpu_kernel.h"

namespace kiln::cuda {

// Whether optional input i of the layer is there.
inline bool inputPresent(const LayerDesc& d, size_t i) {
  return i < d.inputTypes.size() && d.inputTypes[i] != DType::kUndefined;
}

// n bytes rounded up to the 256 bytes every workspace slice starts on.
inline size_t alignWorkspace(size_t n) {
  constexpr size_t kAlign = 256;
  return (n + kAlign - 1) / kAlign * kAlign;
}

// The scratch a library call may use once `intermediate` bytes of the layer's limit are taken.
inline size_t scratchAfter(size_t intermediate, size_t workspaceLimit) {
  return workspaceLimit > intermediate ? workspaceLimit - intermediate : 0;
}

}  // namespace kiln::cuda
