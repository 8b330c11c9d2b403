// The one place that lists every CPU kernel family.
#include "backends/cpu/kernels/families.h"

namespace kiln::cpu {

void RegisterAllCpuKernels(KernelRegistry& r) {
  RegisterElementwiseKernels(r);
  RegisterTensorKernels(r);
  RegisterShapeKernels(r);
  RegisterReductionKernels(r);
  RegisterNormalizationKernels(r);
  RegisterConvPoolKernels(r);
  RegisterMatMulKernels(r);
  RegisterIndexingKernels(r);
  RegisterLayoutKernels(r);
  RegisterQuantizationKernels(r);
  RegisterAttentionKernels(r);
  RegisterMiscKernels(r);
  RegisterFusedKernels(r);
  RegisterDnnlKernels(r);
}

}  // namespace kiln::cpu
