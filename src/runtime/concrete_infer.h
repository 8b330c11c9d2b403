// Concrete shape inference at run time: evaluates an op's OpDef inference with the actual input
// tensors (all on the host), giving static output dims and dtypes.
#pragma once

#include <span>
#include <vector>

#include "core/attributes.h"
#include "ir/op_registry.h"

namespace kiln::runtime {

struct ConcreteOutput {
  DType dtype = DType::kUndefined;
  Dims dims;
};

// Fails if inference cannot produce static dims for every output.
Status inferConcrete(const ir::OpDef& def, const AttrMap& attrs, int opset,
                     std::span<const Tensor* const> inputs, int numOutputs,
                     std::vector<ConcreteOutput>* outputs);

}  // namespace kiln::runtime
