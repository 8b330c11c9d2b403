// Engine internals shared by engine.cc and execution_context.cc.
#pragma once

#include <memory>
#include <vector>

#include "backends/cpu/kernel.h"
#include "kiln/engine.h"

namespace kiln {

struct Engine::Impl {
  std::vector<std::unique_ptr<cpu::Kernel>> kernels;  // one per plan layer
};

}  // namespace kiln
