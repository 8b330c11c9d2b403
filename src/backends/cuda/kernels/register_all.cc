#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

void registerAllGpuKernels(GpuKernelRegistry& r) {
  registerCopyKernels(r);
  registerElementwiseKernels(r);
  registerDataMovementKernels(r);
  registerReduceNormKernels(r);
  registerBlasDnnKernels(r);
}

}  // namespace kiln::cuda
