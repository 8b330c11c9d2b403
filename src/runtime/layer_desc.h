// The backend's view of a plan layer (op, attributes, types, symbolic shapes, constant inputs):
// what kernel factories and `supports` predicates see, at build and at load time alike.
#pragma once

#include "backends/cpu/kernel.h"
#include "plan/plan.h"

namespace kiln::runtime {

cpu::LayerDesc describeLayer(const plan::Plan& p, const plan::LayerInfo& l);

}  // namespace kiln::runtime
