// Indexing ops (to be filled in by the op family's author).
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

void RegisterIndexingOps(OpRegistry& r) { (void)r; }

}  // namespace kiln::ir
