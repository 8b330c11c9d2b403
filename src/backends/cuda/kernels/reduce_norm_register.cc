// Registration of the reduce norm CUDA kernel family.
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/reduce_register.h"

namespace kiln::cuda {

void registerReduceNormKernels(GpuKernelRegistry& r) {
  registerSoftmaxOps(r);
  registerNormOps(r);
  registerReduceOps(r);
  registerPoolOps(r);
}

}  // namespace kiln::cuda
