// oneDNN-backed fast paths (to be filled in).
#include "backends/cpu/kernels/families.h"

namespace kiln::cpu {

void RegisterDnnlKernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cpu
