// CPU kernels for Quantization ops (to be filled in by the op family's author).
#include "backends/cpu/kernels/families.h"

namespace kiln::cpu {

void RegisterQuantizationKernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cpu
