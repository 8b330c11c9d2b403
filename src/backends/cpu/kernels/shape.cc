// CPU kernels for Shape ops (to be filled in by the op family's author).
#include "backends/cpu/kernels/families.h"

namespace kiln::cpu {

void RegisterShapeKernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cpu
