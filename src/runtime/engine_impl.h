// Engine internals shared by engine.cc, execution_context.cc and stream.cc.
#pragma once

#include <memory>
#include <vector>

#include "backends/cpu/kernel.h"
#include "kiln/engine.h"
#include "runtime/cuda_engine.h"

namespace kiln {

struct Engine::Impl {
  // CPU kernels, one per plan layer: every layer of a CPU engine; the host layers (shape
  // arithmetic) of a CUDA engine, whose device layers have nullptr here.
  std::vector<std::unique_ptr<cpu::Kernel>> kernels;
  std::unique_ptr<runtime::CudaEngine> cuda;  // CUDA engines only
  bool isCuda() const { return cuda != nullptr; }
};

}  // namespace kiln
