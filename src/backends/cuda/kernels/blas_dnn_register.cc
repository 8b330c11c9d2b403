// Library-backed and attention kernels: each sub-family registers itself.
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

void registerBlasDnnKernels(GpuKernelRegistry& r) {
  registerBlasKernels(r);
  registerCutlassKernels(r);
  registerMatMulLayerNormKernels(r);
  registerAttentionKernels(r);
  registerDnnKernels(r);
}

}  // namespace kiln::cuda
