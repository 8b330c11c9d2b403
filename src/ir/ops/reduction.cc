// Reduction ops (to be filled in by the op family's author).
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

void RegisterReductionOps(OpRegistry& r) { (void)r; }

}  // namespace kiln::ir
