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
  registerLossKernels(r);
  registerVisionKernels(r);
  registerIntegerKernels(r);
  registerSignalKernels(r);
  registerLossKernels(r);
  registerVisionKernels(r);
  registerIntegerKernels(r);
  registerLossKernels(r);
  registerVisionKernels(r);
  registerLossKernels(r);
}

}  // namespace kiln::cuda
