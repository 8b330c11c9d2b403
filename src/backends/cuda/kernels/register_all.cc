#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

void registerAllGpuKernels(GpuKernelRegistry& r) {
  registerCopyKernels(r);
  registerElementwiseKernels(r);
  registerDataMovementKernels(r);
  registerReduceNormKernels(r);
  registerBlasDnnKernels(r);
  registerLossKernels(r);
  registerVisionKernels(r);
  registerIntegerKernels(r);
  registerSignalKernels(r);
  registerLlmKernels(r);
  registerGridUnpoolKernels(r);
  registerSelectKernels(r);
}

}  // namespace kiln::cuda
