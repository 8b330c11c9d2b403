// Registration functions of the CPU kernel families (one per file in this folder).
#pragma once

#include "backends/cpu/kernel.h"

namespace kiln::cpu {

void RegisterElementwiseKernels(KernelRegistry& r);
void RegisterTensorKernels(KernelRegistry& r);
void RegisterShapeKernels(KernelRegistry& r);
void RegisterReductionKernels(KernelRegistry& r);
void RegisterNormalizationKernels(KernelRegistry& r);
void RegisterConvPoolKernels(KernelRegistry& r);
void RegisterMatMulKernels(KernelRegistry& r);
void RegisterIndexingKernels(KernelRegistry& r);
void RegisterQuantizationKernels(KernelRegistry& r);
void RegisterLayoutKernels(KernelRegistry& r);
void RegisterAttentionKernels(KernelRegistry& r);
void RegisterMiscKernels(KernelRegistry& r);
void RegisterFusedKernels(KernelRegistry& r);
void RegisterDnnlKernels(KernelRegistry& r);

}  // namespace kiln::cpu
