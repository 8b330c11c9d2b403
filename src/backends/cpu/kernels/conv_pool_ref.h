// Reference ConvPool kernels shared within the CPU backend: registered as cpu_ref_<Op> tactics and
// called by the oneDNN tactics for the (rare) shapes a oneDNN primitive refuses at run time.
#pragma once

#include "backends/cpu/kernel.h"

namespace kiln::cpu {

Status refConv(const KernelContext& ctx);
Status refConvTranspose(const KernelContext& ctx);
Status refMaxPool(const KernelContext& ctx);
Status refAveragePool(const KernelContext& ctx);
Status refGlobalAveragePool(const KernelContext& ctx);

// Registers the pooling and MaxUnpool reference kernels (conv_pool_pooling.cc).
void RegisterConvPoolPoolingKernels(KernelRegistry& r);

}  // namespace kiln::cpu
